from __future__ import annotations

import time

import numpy as np

from embedscope import progress
from embedscope.cache import EmbeddingCache
from embedscope.index import timed_build
from embedscope.index.streaming import DocumentKeys, cache_shards, streaming_index
from embedscope.runs.context import RetrievalContext
from embedscope.runs.run import Run


class DenseRetriever:
    """Embedder (or precomputed vectors) + cache + vector index = a Retriever. The one path every dense model
    takes to a Run; the retrieval context says which cache, index, similarity and chunking.

    With `chunk_tokens`, long documents are split into sentence-packed chunks (CJK-aware, see embedscope.text),
    each chunk is embedded, and a document scores as its best chunk (MaxP).

    With index `streaming` (exact) or `streaming:IVF1024,SQ8,nprobe=64`, document vectors are never held in
    memory together: they go to the cache shard by shard and are searched from there (embedscope.index.streaming),
    for corpora whose vectors do not fit in RAM.

    A model with vectors of its own (`vectors(dataset)`, e.g. embedscope.models.precomputed) skips the encoder
    and the cache and is searched with the context's index and similarity like any other.
    """

    def __init__(self, embedder, context: RetrievalContext | EmbeddingCache | str | None = None, **settings):
        """`context` is a RetrievalContext; an EmbeddingCache or a cache folder with settings as keywords
        (index=, similarity=, chunk_tokens=, chunk_overlap=) makes one."""
        self.embedder = embedder
        self.name = embedder.name
        self.context = RetrievalContext.of(context, **settings)

    def _context(self, context: RetrievalContext | None) -> RetrievalContext:
        """The call's context (or the one given at construction), with any search settings the model sets for
        itself (precomputed vectors may name their own index and similarity)."""
        context = context or self.context
        own = getattr(self.embedder, "search_settings", None)
        return context.with_(**own) if own else context

    def _units(self, dataset, context: RetrievalContext) -> tuple[list[str], np.ndarray]:
        """Texts to embed and, for each, the position of its document."""
        if not context.chunk_tokens:
            return dataset.doc_texts, np.arange(len(dataset.corpus))
        from embedscope.text import chunk

        texts, parents = [], []
        for i, text in enumerate(dataset.doc_texts):
            pieces = chunk(text, context.chunk_tokens, context.chunk_overlap) or [text]
            texts.extend(pieces)
            parents.extend([i] * len(pieces))
        return texts, np.asarray(parents)

    def embed(self, dataset, context: RetrievalContext | None = None):
        """(doc_vectors, query_vectors, stats); cached vectors are reused, missing ones encoded and saved.
        With chunking, doc_vectors has one row per chunk and stats["parents"] maps rows to documents. With a
        streaming index, doc_vectors is None and stats["keys"] maps cached vectors to those rows."""
        context = self._context(context)
        if hasattr(self.embedder, "vectors"):  # vectors computed elsewhere: nothing to encode or cache
            if context.chunk_tokens:
                raise ValueError(f"{self.name}: precomputed vectors cannot be chunked (chunk_tokens)")
            if context.streaming:
                raise ValueError(f"{self.name}: precomputed vectors are in memory already; "
                                 "use --index exact or faiss:... rather than streaming")
            return self.embedder.vectors(dataset)
        fp = self.embedder.fingerprint()
        meta = {"name": self.embedder.name, "class": type(self.embedder).__name__}
        texts, parents = self._units(dataset, context)
        cache = context.cache
        with progress.task(f"{self.name}: documents", len(texts)) as advance:
            docs, doc_stats = cache.encode(fp, "document", texts, self.embedder.encode_documents,
                                           on_progress=advance, meta=meta, keep_vectors=not context.streaming)
        with progress.task(f"{self.name}: queries", len(dataset.queries)) as advance:
            queries, query_stats = cache.encode(fp, "query", dataset.query_texts, self.embedder.encode_queries,
                                                on_progress=advance, meta=meta)
        stats = {"documents": doc_stats, "queries": query_stats, "fingerprint": fp}
        if context.chunk_tokens:
            stats["chunks"] = {"tokens": context.chunk_tokens, "count": len(texts), "documents": len(dataset.corpus)}
            stats["parents"] = parents
        if context.streaming:
            stats["keys"] = DocumentKeys.from_texts(texts)
        return docs, queries, stats

    def retrieve(self, dataset, k: int, context: RetrievalContext | None = None) -> Run:
        context = self._context(context)
        docs, queries, stats = self.embed(dataset, context)
        parents, keys = stats.pop("parents", None), stats.pop("keys", None)
        if keys is None:
            index, timing = timed_build(context.index, context.similarity, docs)
        else:
            index, timing = timed_build(context.index, context.similarity, None, lambda: streaming_index(
                context.index, context.similarity, cache_shards(context.cache, stats["fingerprint"]), keys))
        units = keys.count if keys is not None else len(docs)
        started = time.perf_counter()
        if parents is None:
            scores, idx = index.search(queries, min(k, units))
        else:
            scores, idx = self._search_chunks(index, queries, parents, k)
        meta = {
            "kind": "precomputed" if hasattr(self.embedder, "vectors") else "dense",
            "dim": int(queries.shape[1]),
            "similarity": context.similarity,
            **timing,
            "search_seconds": time.perf_counter() - started,
            "embedding": stats,
        }
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx, meta=meta)

    def searcher(self, dataset, k: int, context: RetrievalContext | None = None):
        """search(query_text) -> {doc_id: score}: documents embedded and indexed once, then one query at a time
        encoded (or looked up, for precomputed vectors) and searched."""
        context = self._context(context)
        if context.streaming or context.chunk_tokens:
            raise ValueError(f"{self.name}: single-query timing needs the document vectors in memory, "
                             "not a streaming index or chunked documents")
        docs, queries, _ = self.embed(dataset, context)
        index, _ = timed_build(context.index, context.similarity, docs)
        doc_ids = dataset.doc_ids
        if hasattr(self.embedder, "vectors"):
            known = dict(zip(dataset.query_texts, queries))

            def encode(text):
                return known[text][None, :]
        else:
            def encode(text):
                return self.embedder.encode_queries([text])

        def search(text: str) -> dict[str, float]:
            scores, positions = index.search(encode(text), min(k, len(doc_ids)))
            return {doc_ids[p]: float(s) for s, p in zip(scores[0], positions[0]) if p >= 0}

        return search

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


def has_vectors(model) -> bool:
    """A model whose documents and queries are vectors: an embedder, or vectors computed elsewhere."""
    return hasattr(model, "encode_documents") or hasattr(model, "vectors")


def dense_vectors(model, dataset, context: RetrievalContext | None = None):
    """(document vectors, query vectors, stats) of a model on a dataset, in the dataset's order: encoded
    through the cache, or aligned from precomputed files. The one way the commands that work on vectors
    (cluster, sweeps, db-bench, cluster-filter) get them."""
    if not has_vectors(model):
        raise ValueError(f"'{model.name}' has no vectors (it is a retriever such as BM25 or a pipeline): "
                         "name an embedding model or precomputed:FILE")
    return DenseRetriever(model, context).embed(dataset)
