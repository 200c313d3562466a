def mrr(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant doc within the top k (0 if none)."""
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0
