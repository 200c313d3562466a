"""2-D maps of an embedding space: PCA or UMAP fitted on the documents, queries placed with the same fit."""

from __future__ import annotations

import numpy as np

from embedscope.index import normalize

METHODS = ("pca", "umap")


def project(documents: np.ndarray, queries: np.ndarray | None = None, method: str = "pca", seed: int = 0,
            n_neighbors: int = 15) -> tuple[np.ndarray, np.ndarray | None]:
    """(document xy, query xy). Queries are transformed, not fitted, so they land in the documents' map."""
    docs = normalize(documents)
    if method == "pca":
        from sklearn.decomposition import PCA

        model = PCA(n_components=2, random_state=seed).fit(docs)
    elif method == "umap":
        import umap

        model = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(docs) - 1), metric="cosine",
                          random_state=seed).fit(docs)
    else:
        raise ValueError(f"projection must be one of {METHODS}, got '{method}'")
    doc_xy = model.transform(docs) if method == "pca" else model.embedding_
    query_xy = model.transform(normalize(queries)) if queries is not None and len(queries) else None
    return np.asarray(doc_xy, dtype=float), None if query_xy is None else np.asarray(query_xy, dtype=float)
