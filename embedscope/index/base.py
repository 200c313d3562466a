from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

METRICS = ("cosine", "dot", "l2")


@runtime_checkable
class VectorIndex(Protocol):
    """Top-k search over document vectors. Returns (scores, positions); higher score is better and
    position -1 pads rows with fewer than k hits."""

    name: str

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
