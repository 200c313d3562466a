"""Clustering corpus embeddings: KMeans (a given k, or a k sweep chosen by silhouette) and HDBSCAN.

Vectors are L2-normalised first, so Euclidean KMeans groups by cosine similarity, the similarity search uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from embedscope.index import normalize


@dataclass
class Clustering:
    method: str
    labels: np.ndarray  # one per document; -1 = noise (HDBSCAN)
    centroids: np.ndarray  # one row per cluster, in label order
    silhouette: float | None = None
    sweep: list[dict] = field(default_factory=list)  # k -> silhouette, for a k sweep

    @property
    def n_clusters(self) -> int:
        return int(len(self.centroids))

    def assign(self, vectors: np.ndarray, probe: int = 1) -> np.ndarray:
        """The `probe` nearest centroids of each vector (rows), nearest first."""
        v = normalize(vectors)
        d = (self.centroids**2).sum(1)[None, :] - 2 * v @ self.centroids.T  # squared distance minus |v|^2
        probe = min(probe, self.n_clusters)
        return np.argsort(d, axis=1, kind="stable")[:, :probe]


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int, sample: int = 5000) -> float | None:
    from sklearn.metrics import silhouette_score

    keep = labels >= 0
    if len(set(labels[keep].tolist())) < 2:
        return None
    # Silhouette is O(n^2): on large corpora a fixed-seed sample of documents estimates it.
    return float(silhouette_score(x[keep], labels[keep], sample_size=min(sample, int(keep.sum())), random_state=seed))


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> Clustering:
    from sklearn.cluster import KMeans

    x = normalize(vectors)
    if not 2 <= k <= len(x):
        raise ValueError(f"k must be between 2 and the number of documents ({len(x)}), got {k}")
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    labels = model.labels_.astype(int)
    return Clustering("kmeans", labels, model.cluster_centers_.astype(np.float32), _silhouette(x, labels, seed))


def kmeans_sweep(vectors: np.ndarray, ks: Sequence[int], seed: int = 0) -> Clustering:
    """KMeans for every k; keeps the k with the highest silhouette (ties to the smaller k)."""
    results = [kmeans(vectors, k, seed) for k in sorted(set(ks))]
    if not results:
        raise ValueError("a k sweep needs at least one k")
    best = max(results, key=lambda c: (c.silhouette if c.silhouette is not None else -2, -c.n_clusters))
    best.sweep = [{"k": c.n_clusters, "silhouette": c.silhouette} for c in results]
    return best


def hdbscan(vectors: np.ndarray, min_cluster_size: int = 10, min_samples: int | None = None, seed: int = 0) -> Clustering:
    from sklearn.cluster import HDBSCAN

    x = normalize(vectors)
    labels = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit(x).labels_.astype(int)
    ids = sorted(set(labels.tolist()) - {-1})
    centroids = np.stack([x[labels == c].mean(0) for c in ids]) if ids else np.zeros((0, x.shape[1]), np.float32)
    return Clustering("hdbscan", labels, centroids.astype(np.float32), _silhouette(x, labels, seed))


def parse_ks(text: str) -> list[int]:
    """'8' -> [8]; '2..12' -> 2..12; '4,8,16' -> [4, 8, 16] (embedscope.specs: the one range syntax)."""
    from embedscope.specs import parse_counts

    return parse_counts(text, "clusters")
