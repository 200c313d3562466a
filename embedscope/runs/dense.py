from __future__ import annotations

import time

from embedscope import progress
from embedscope.cache import EmbeddingCache
from embedscope.index import build_index
from embedscope.runs.run import Run


class DenseRetriever:
    """Embedder + cache + vector index = a Retriever. The one path every dense model takes to a Run."""

    def __init__(self, embedder, cache: EmbeddingCache, index: str = "exact", metric: str = "cosine"):
        self.embedder = embedder
        self.name = embedder.name
        self.cache = cache
        self.index_spec = index
        self.metric = metric

    def embed(self, dataset):
        """(doc_vectors, query_vectors, stats); cached vectors are reused, missing ones encoded and saved."""
        fp = self.embedder.fingerprint()
        meta = {"name": self.embedder.name, "class": type(self.embedder).__name__}
        with progress.task(f"{self.name}: documents", len(dataset.corpus)) as advance:
            docs, doc_stats = self.cache.encode(fp, "document", dataset.doc_texts, self.embedder.encode_documents,
                                                on_progress=advance, meta=meta)
        with progress.task(f"{self.name}: queries", len(dataset.queries)) as advance:
            queries, query_stats = self.cache.encode(fp, "query", dataset.query_texts, self.embedder.encode_queries,
                                                     on_progress=advance, meta=meta)
        return docs, queries, {"documents": doc_stats, "queries": query_stats, "fingerprint": fp}

    def retrieve(self, dataset, k: int) -> Run:
        docs, queries, stats = self.embed(dataset)
        started = time.perf_counter()
        index = build_index(self.index_spec, self.metric)
        index.add(docs)
        built = time.perf_counter()
        scores, idx = index.search(queries, min(k, len(docs)))
        searched = time.perf_counter()
        meta = {
            "kind": "dense",
            "dim": int(docs.shape[1]),
            "index": getattr(index, "name", self.index_spec),
            "metric": self.metric,
            "index_seconds": built - started,
            "search_seconds": searched - built,
            "embedding": stats,
        }
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx, meta=meta)
