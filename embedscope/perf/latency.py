"""Single-query retrieval latency of any retriever: dense models, precomputed vectors, BM25 and pipelines.

The corpus side is built once (documents embedded or read from the cache, the index built, BM25 indexed);
then each query is timed alone, from its text to its top-k: encoding the query (a lookup for precomputed
vectors) and searching, or tokenizing and scoring for BM25, every stage and the fusion for a hybrid, the
first stage and the reranker for a rerank pipeline. A retriever that cannot answer one query on its own says
why, and the caller reports it instead of a number.
"""

from __future__ import annotations

import time

from embedscope.perf.speed import percentiles


def query_latency(model, dataset, context, *, queries: int = 50, k: int = 10, warmup: int = 3) -> dict:
    """Latency percentiles (ms) of single-query retrieval over the first `queries` queries, and the queries
    per second that one client gets from them."""
    search = context.searcher(model, dataset, k)  # ValueError, saying why, for a retriever with no such path
    texts = dataset.query_texts[:queries]
    if not texts:
        raise ValueError("the dataset has no queries to time")
    for text in texts[:warmup]:
        search(text)
    samples = []
    for text in texts:
        started = time.perf_counter()
        search(text)
        samples.append((time.perf_counter() - started) * 1000)
    stats = percentiles(samples)
    return {"query_latency_ms": stats, "queries_per_second": 1000 / stats["mean"] if stats["mean"] > 0 else None,
            "k": k, "method": f"one query at a time from text to top-{k}, after {warmup} warm-up queries; "
                                "the corpus side (embedding, index) built once before"}
