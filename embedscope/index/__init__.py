"""Index: top-k search over vectors, behind one small Protocol (exact here; ANN and vector DBs beside it)."""

from embedscope.index.base import METRICS, VectorIndex, normalize
from embedscope.index.exact import ExactIndex


def build_index(spec: str = "exact", metric: str = "cosine") -> VectorIndex:
    """An index from a spec string: 'exact' (others register in their own modules)."""
    if spec in ("exact", "flat", "Flat"):
        return ExactIndex(metric=metric)
    if spec.partition(":")[0] == "streaming":
        raise ValueError(f"index '{spec}' searches a dense model's vectors straight from the embedding cache "
                         "(embedscope run); here the vectors are already in memory: use exact or faiss:...")
    from embedscope.index import registry

    return registry.build(spec, metric)


__all__ = ["METRICS", "ExactIndex", "VectorIndex", "build_index", "normalize"]
