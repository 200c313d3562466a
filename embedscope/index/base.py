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
    product for cosine and dot, the negated squared distance for l2."""
    scores = queries @ docs.T
    if similarity == "l2":
        scores = 2 * scores - np.einsum("ij,ij->i", docs, docs)[None, :] - np.einsum("ij,ij->i", queries, queries)[:, None]
    return scores
