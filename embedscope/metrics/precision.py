def precision(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """Relevant docs in the top k over k (not over the number retrieved), as trec_eval's P_k."""
    return sum(1 for d in ranked[:k] if rels.get(d, 0) > 0) / k
