from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

SIMILARITIES = ("cosine", "dot", "l2")


@runtime_checkable
class VectorIndex(Protocol):
    """Top-k search over document vectors. Returns (scores, positions); higher score is better and
    position -1 pads rows with fewer than k hits."""

    name: str

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def check_similarity(similarity: str) -> str:
    """The one check of a vector similarity name, with the one message every index and command gives."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got '{similarity}'")
    return similarity


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Vectors (along the last axis) scaled to unit length (zero vectors stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def prepare(vectors: np.ndarray, similarity: str) -> np.ndarray:
    """Vectors as every index stores and queries them: contiguous float32, unit length for cosine (so that
    cosine is an inner product). The one place that decides it."""
    check_similarity(similarity)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(normalize(vectors)) if similarity == "cosine" else vectors


def similarity_scores(queries: np.ndarray, docs: np.ndarray, similarity: str) -> np.ndarray:
    """Scores of prepared queries (rows) against prepared documents (rows), higher is better: the inner
    product for cosine and dot, the negated squared distance for l2. Float32, accumulated in float64.

    Why float64: float32 BLAS changes the last bits of a score with the matrix around it (how many queries are
    searched at once, which rows share a block, a shard of 183 rows or of 2,048), so two exact searches of the
    same vectors could swap near-tied documents. The product of two float32 numbers is exact in float64 and the
    sum's rounding (about 1e-16) is far below float32's (about 6e-8), so after rounding to float32 a score
    depends only on its two vectors: in memory, blocked or streamed from the cache, the ranking is the same."""
    q = np.asarray(queries, dtype=np.float64)
    d = np.asarray(docs, dtype=np.float64)
    scores = q @ d.T
    if similarity == "l2":
        scores = 2 * scores - np.einsum("ij,ij->i", d, d)[None, :] - np.einsum("ij,ij->i", q, q)[:, None]
    return scores.astype(np.float32)


def top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row's candidates, best first: (scores, ids). Among equal scores the lower id (the
    earlier document) comes first, also at the cut, so the result never depends on the order candidates
    arrive in (blocks, shards, a parallel merge). `ids` has the shape of `scores`, or one row for all."""
    ids = np.broadcast_to(ids, scores.shape)
    if scores.shape[1] > k:
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kept = np.take_along_axis(scores, keep, axis=1)
        kth = kept.min(axis=1, keepdims=True)
        # argpartition splits a run of equal scores at the cut arbitrarily: redo those (rare) rows in full
        for row in np.flatnonzero((scores == kth).sum(axis=1) > (kept == kth).sum(axis=1)):
            keep[row] = np.lexsort((ids[row], -scores[row]))[:k]
        scores, ids = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(ids, keep, axis=1)
    order = np.lexsort((ids, -scores), axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
