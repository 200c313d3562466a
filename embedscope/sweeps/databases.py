"""db-bench: score any index spec (a vector database or a FAISS/exact index) the same way: quality through the database (nDCG@10), agreement with exact search
(recall@k vs `ExactIndex`), speed (queries per second, single client), and load time (insert + index build)."""

from __future__ import annotations

import time

import numpy as np

from embedscope.index import ExactIndex, build_index
from embedscope.index.db.base import Filter


def recall_vs_exact(positions: np.ndarray, exact_positions: np.ndarray) -> float:
    """Mean over queries of |found ∩ exact top-k| / |exact top-k| (the usual ANN recall@k)."""
    values = []
    for found, truth in zip(positions, exact_positions):
        truth = set(truth[truth >= 0].tolist())
        if truth:
            values.append(len(truth & set(found[found >= 0].tolist())) / len(truth))
    return float(np.mean(values)) if values else float("nan")


def evaluate_backend(dataset, doc_vecs: np.ndarray, query_vecs: np.ndarray, spec: str, similarity: str = "cosine",
                     k: int = 10, metadata: list[dict] | None = None, filter: Filter | None = None) -> dict:
    """Load `doc_vecs` into the index `spec`, search `query_vecs`, and report quality, speed and the index used.

    With `filter`, every search is filtered and recall is measured against exact search over the matching docs.
    """
    from embedscope.metrics import evaluate
    from embedscope.runs.run import Run

    k_search = max(k, 10)
    subset = np.arange(len(doc_vecs))
    if filter:
        subset = np.flatnonzero(filter.mask(metadata or [{} for _ in range(len(doc_vecs))]))
    index = build_index(spec, similarity)
    try:
        started = time.perf_counter()
        is_db = hasattr(index, "describe")  # a database: rows carry ids and metadata, searches filter
        if is_db:
            index.add(doc_vecs, ids=list(dataset.doc_ids), metadata=metadata)
        else:  # a plain index filters by holding only the matching docs
            index.add(doc_vecs[subset])
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if is_db and filter:
            scores, positions = index.search(query_vecs, k_search, filter=filter)
        else:
            scores, positions = index.search(query_vecs, k_search)
        search_seconds = time.perf_counter() - started
        if not is_db:
            positions = np.where(positions >= 0, subset[np.maximum(positions, 0)], -1)
        name = getattr(index, "name", spec)
        info = index.describe() if is_db else {"index_requested": spec, "index_used": name}
    finally:
        if hasattr(index, "close"):
            index.close()

    exact = ExactIndex(similarity)
    exact.add(doc_vecs[subset])
    _, exact_positions = exact.search(query_vecs, k)
    exact_positions = np.where(exact_positions >= 0, subset[np.maximum(exact_positions, 0)], -1)

    run = Run.from_topk(name, dataset.query_ids, dataset.doc_ids, scores, positions, meta={"index": info})
    quality = evaluate(dataset.qrels, run, ["ndcg@10"]).mean if dataset.has_qrels else {}
    return {
        "spec": spec,
        "name": name,
        "similarity": similarity,
        "k": k,
        "backend": info.get("backend", spec),
        "index_requested": info.get("index_requested", ""),
        "index_used": info.get("index_used", ""),
        "describe": info,
        "ndcg@10": float(quality.get("ndcg@10", float("nan"))),
        f"recall@{k}_vs_exact": recall_vs_exact(positions[:, :k], exact_positions),
        "qps": len(query_vecs) / search_seconds if search_seconds > 0 else float("inf"),
        "load_seconds": load_seconds,
        "search_seconds": search_seconds,
        "docs": int(len(doc_vecs)),
        "queries": int(len(query_vecs)),
        "dim": int(doc_vecs.shape[1]),
        "filter": {"tags": dict(filter.tags), "words": list(filter.words)} if filter else None,
        "run": run,
    }
