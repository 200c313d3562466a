def recall(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """Share of all relevant docs found in the top k."""
    n_rel = sum(1 for g in rels.values() if g > 0)
    return sum(1 for d in ranked[:k] if rels.get(d, 0) > 0) / n_rel if n_rel else 0.0
