def average_precision(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """AP@k over all relevant docs (trec_eval's map_cut_k): missing relevant docs count as zero precision."""
    n_rel = sum(1 for g in rels.values() if g > 0)
    if not n_rel:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            hits += 1
            total += hits / (i + 1)
    return total / n_rel
