"""Index: top-k search over vectors, behind one small Protocol (exact here; ANN and vector DBs beside it)."""

from __future__ import annotations

import time

from embedscope.index.base import (SIMILARITIES, VectorIndex, check_similarity, normalize, prepare,
                                   similarity_scores, top_k)
from embedscope.index.exact import ExactIndex


def build_index(spec: str = "exact", similarity: str = "cosine", *, metric: str | None = None) -> VectorIndex:
    """An index from a spec string: 'exact' (others register in their own modules). `metric=` is the old name
    of `similarity=`."""
    similarity = check_similarity(metric or similarity)
    if spec in ("exact", "flat", "Flat"):
        return ExactIndex(similarity)
    if spec.partition(":")[0] == "streaming":
        raise ValueError(f"index '{spec}' searches a dense model's vectors straight from the embedding cache "
                         "(embedscope run); here the vectors are already in memory: use exact or faiss:...")
    from embedscope.index import registry

    return registry.build(spec, similarity)


def timed_build(spec: str, similarity: str, vectors=None, build=None) -> tuple[VectorIndex, dict]:
    """The index for `spec` with `vectors` added (or what `build()` returns), and the record every run keeps
    of it: the index really built (its name) and the seconds it took."""
    started = time.perf_counter()
    if build is not None:
        index = build()
    else:
        index = build_index(spec, similarity)
        index.add(vectors)
    return index, {"index": getattr(index, "name", spec), "index_seconds": time.perf_counter() - started}


__all__ = ["SIMILARITIES", "ExactIndex", "VectorIndex", "build_index", "check_similarity", "normalize", "prepare",
           "similarity_scores", "timed_build", "top_k"]
