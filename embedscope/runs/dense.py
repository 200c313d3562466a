from __future__ import annotations

import time

import numpy as np

from embedscope import progress
from embedscope.cache import EmbeddingCache
from embedscope.index import build_index
from embedscope.index.streaming import DocumentKeys, cache_shards, streaming_index
from embedscope.runs.run import Run


class DenseRetriever:
    """Embedder + cache + vector index = a Retriever. The one path every dense model takes to a Run.

    With `chunk_tokens`, long documents are split into sentence-packed chunks (CJK-aware, see embedscope.text),
    each chunk is embedded, and a document scores as its best chunk (MaxP).

    With index `streaming` (exact) or `streaming:IVF1024,SQ8,nprobe=64`, document vectors are never held in
    memory together: they go to the cache shard by shard and are searched from there (embedscope.index.streaming),
    for corpora whose vectors do not fit in RAM.
    """

    def __init__(self, embedder, cache: EmbeddingCache, index: str = "exact", metric: str = "cosine",
                 chunk_tokens: int | None = None, chunk_overlap: int = 1):
        self.embedder = embedder
        self.name = embedder.name
        self.cache = cache
        self.index_spec = index
        self.metric = metric
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap

    @property
    def streaming(self) -> bool:  # a property: hybrid and rerank pipelines set index_spec after construction
        return self.index_spec.partition(":")[0] == "streaming"

    def _units(self, dataset) -> tuple[list[str], np.ndarray]:
        """Texts to embed and, for each, the position of its document."""
        if not self.chunk_tokens:
            return dataset.doc_texts, np.arange(len(dataset.corpus))
        from embedscope.text import chunk

        texts, parents = [], []
        for i, text in enumerate(dataset.doc_texts):
            pieces = chunk(text, self.chunk_tokens, self.chunk_overlap) or [text]
            texts.extend(pieces)
            parents.extend([i] * len(pieces))
        return texts, np.asarray(parents)

    def embed(self, dataset):
        """(doc_vectors, query_vectors, stats); cached vectors are reused, missing ones encoded and saved.
        With chunking, doc_vectors has one row per chunk and stats["parents"] maps rows to documents. With a
        streaming index, doc_vectors is None and stats["keys"] maps cached vectors to those rows."""
        fp = self.embedder.fingerprint()
        meta = {"name": self.embedder.name, "class": type(self.embedder).__name__}
        texts, parents = self._units(dataset)
        with progress.task(f"{self.name}: documents", len(texts)) as advance:
            docs, doc_stats = self.cache.encode(fp, "document", texts, self.embedder.encode_documents,
                                                on_progress=advance, meta=meta, keep_vectors=not self.streaming)
        with progress.task(f"{self.name}: queries", len(dataset.queries)) as advance:
            queries, query_stats = self.cache.encode(fp, "query", dataset.query_texts, self.embedder.encode_queries,
                                                     on_progress=advance, meta=meta)
        stats = {"documents": doc_stats, "queries": query_stats, "fingerprint": fp}
        if self.chunk_tokens:
            stats["chunks"] = {"tokens": self.chunk_tokens, "count": len(texts), "documents": len(dataset.corpus)}
            stats["parents"] = parents
        if self.streaming:
            stats["keys"] = DocumentKeys.from_texts(texts)
        return docs, queries, stats

    def retrieve(self, dataset, k: int) -> Run:
        docs, queries, stats = self.embed(dataset)
        parents, keys = stats.pop("parents", None), stats.pop("keys", None)
        started = time.perf_counter()
        if keys is None:
            index = build_index(self.index_spec, self.metric)
            index.add(docs)
        else:
            index = streaming_index(self.index_spec, self.metric, cache_shards(self.cache, stats["fingerprint"]), keys)
        built = time.perf_counter()
        units = keys.count if keys is not None else len(docs)
        if parents is None:
            scores, idx = index.search(queries, min(k, units))
        else:
            scores, idx = self._search_chunks(index, queries, parents, k)
        searched = time.perf_counter()
        meta = {
            "kind": "dense",
            "dim": int(queries.shape[1]),
            "index": getattr(index, "name", self.index_spec),
            "similarity": self.metric,
            "index_seconds": built - started,
            "search_seconds": searched - built,
            "embedding": stats,
        }
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx, meta=meta)

    @staticmethod
    def _search_chunks(index, queries, parents: np.ndarray, k: int):
        """Top-k documents by their best chunk. The k best documents' best chunks all rank within the top
        k x (most chunks in one document), so searching that deep is exact."""
        depth = min(len(parents), k * int(np.bincount(parents).max()))
        c_scores, c_idx = index.search(queries, depth)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (s, i) in enumerate(zip(c_scores, c_idx)):
            best: dict[int, float] = {}
            for score, pos in zip(s, i):
                if pos < 0:
                    continue
                doc = int(parents[pos])
                if doc not in best:  # hits come best first, so the first chunk seen is the document's best
                    best[doc] = float(score)
                    if len(best) == k:
                        break
            out_i[row, : len(best)] = list(best)
            out_s[row, : len(best)] = list(best.values())
        return out_s, out_i
