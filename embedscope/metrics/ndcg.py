import math


def ndcg(ranked: list[str], rels: dict[str, int], k: int) -> float:
    """nDCG@k with linear gains (gain = grade), as trec_eval's ndcg_cut and MTEB/BEIR compute it."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0
