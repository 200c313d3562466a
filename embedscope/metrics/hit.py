def hit(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """1 if any relevant doc is in the top k (trec_eval's success_k)."""
    return float(any(rels.get(d, 0) > 0 for d in ranked[:k]))
