from __future__ import annotations

import time

import numpy as np

from embedscope import progress
from embedscope.cache import EmbeddingCache, text_key
from embedscope.cache.vectors import BadVectorError, describe, vector_faults
from embedscope.index import timed_build
from embedscope.index.streaming import DocumentKeys, cache_shards, streaming_index
from embedscope.runs.context import RetrievalContext
from embedscope.runs.run import Run


class DenseRetriever:
    """Embedder (or precomputed vectors) + cache + vector index = a Retriever. The one path every dense model
    takes to a Run; the retrieval context says which cache, index, similarity and chunking.

    With `chunk_tokens`, long documents are split into sentence-packed chunks (CJK-aware, see embedscope.text),
    each chunk is embedded, and a document scores as its best chunk (MaxP).

    With index `streaming` (exact) or `streaming:IVF1024,SQ8?nprobe=64`, document vectors are never held in
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
        streaming index, doc_vectors is None and stats["keys"] maps cached vectors to those rows.

        Every vector is checked (`screen`): stats["bad_documents"] and ["bad_queries"] are the rows to leave out
        under the cache's recorded bad-vector policy, stats["failures"] names them by id."""
        context = self._context(context)
        if hasattr(self.embedder, "vectors"):  # vectors computed elsewhere: nothing to encode or cache
            if context.chunk_tokens:
                raise ValueError(f"{self.name}: precomputed vectors cannot be chunked (chunk_tokens)")
            if context.streaming:
                raise ValueError(f"{self.name}: precomputed vectors are in memory already; "
                                 "use --index exact or faiss:... rather than streaming")
            docs, queries, stats = self.embedder.vectors(dataset)
        else:
            docs, queries, stats = self._encoded(dataset, context)
        stats["bad_documents"], stats["bad_queries"], stats["failures"] = self.screen(dataset, docs, queries, stats,
                                                                                     context)
        return docs, queries, stats

    def _fingerprint(self, dataset, context: RetrievalContext) -> str:
        prepare = getattr(self.embedder, "prepare", None)
        if prepare is not None:  # an embedder that adapts to the data (its runtime) sees it before its fingerprint
            prepare(dataset, fast=context.fast)
        return self.embedder.fingerprint()

    def _encoded(self, dataset, context: RetrievalContext):
        fp = self._fingerprint(dataset, context)
        meta = {"name": self.embedder.name, "class": type(self.embedder).__name__}
        texts, parents = self._units(dataset, context)
        all_ids = dataset.doc_ids  # a property that builds a list: taken once, not per chunk
        doc_ids = [all_ids[p] for p in parents]  # messages name the document of a bad chunk
        cache = context.cache
        # a runtime check (SentenceTransformerEmbedder) encoded a sample of these texts: saved, not encoded twice
        checked = self.embedder.take_checked() if hasattr(self.embedder, "take_checked") else {}
        with progress.task(f"{self.name}: documents", len(texts)) as advance:
            docs, doc_stats = cache.encode(fp, "document", texts, self.embedder.encode_documents,
                                           on_progress=advance, meta=meta, keep_vectors=not context.streaming,
                                           ids=doc_ids, known=checked.get("document"))
        with progress.task(f"{self.name}: queries", len(dataset.queries)) as advance:
            queries, query_stats = cache.encode(fp, "query", dataset.query_texts, self.embedder.encode_queries,
                                                on_progress=advance, meta=meta, ids=dataset.query_ids,
                                                known=checked.get("query"))
        stats = {"documents": doc_stats, "queries": query_stats, "fingerprint": fp}
        if context.chunk_tokens:
            stats["chunks"] = {"tokens": context.chunk_tokens, "count": len(texts), "documents": len(dataset.corpus)}
            stats["parents"] = parents
        if context.streaming:
            stats["keys"] = DocumentKeys.from_texts(texts)
        return docs, queries, stats

    def screen(self, dataset, docs, queries, stats, context: RetrievalContext) -> tuple[np.ndarray, np.ndarray, dict]:
        """Check every vector before it is searched: finite, one dimension for documents and queries, and a
        norm above zero under cosine. Returns (bad document rows, bad query rows, failures by role and text id);
        under the cache's "stop" policy (the default) a bad vector raises BadVectorError instead."""
        cosine = context.similarity == "cosine"
        if docs is not None and len(docs) and len(queries) and docs.shape[1] != queries.shape[1]:
            raise BadVectorError(f"model '{self.name}' gives {docs.shape[1]}-dimensional document vectors but "
                                 f"{queries.shape[1]}-dimensional query vectors: they cannot be compared")
        parents = stats.get("parents")
        all_ids = dataset.doc_ids
        doc_ids = all_ids if parents is None else [all_ids[p] for p in parents]
        # A fault found when the vector came back (kept by the cache) names the cause better than a NaN row.
        doc_faults = (vector_faults(docs, need_norm=cosine) if docs is not None else {}) \
            | (stats.get("documents") or {}).pop("faults", {})
        query_faults = vector_faults(queries, need_norm=cosine) | (stats.get("queries") or {}).pop("faults", {})
        failures = {"documents": {doc_ids[i]: f for i, f in sorted(doc_faults.items())},
                    "queries": {dataset.query_ids[i]: f for i, f in sorted(query_faults.items())}}
        if context.bad_vectors == "stop":
            for role, total in (("documents", len(doc_ids)), ("queries", len(queries))):
                if failures[role]:
                    raise BadVectorError(describe(self.name, role[:-1], failures[role], total))
        return (np.array(sorted(doc_faults), dtype=np.int64), np.array(sorted(query_faults), dtype=np.int64),
                {role: f for role, f in failures.items() if f})

    def missing(self, dataset, context: RetrievalContext | None = None) -> int | None:
        """How many of the dataset's texts (document units and queries) have no cached vector for this model;
        None when that cannot be known without asking the model's server (see `knows_fingerprint`) or the
        model has vectors of its own. 0 means the work needs nothing from the model itself."""
        if hasattr(self.embedder, "vectors") or not getattr(self.embedder, "knows_fingerprint", lambda: True)():
            return None
        context = self._context(context)
        fp = self._fingerprint(dataset, context)
        texts, _ = self._units(dataset, context)
        count = 0
        for role, wanted in (("document", texts), ("query", dataset.query_texts)):
            cached = context.cache.keys(fp, role)
            count += sum(text_key(t) not in cached for t in set(wanted))
        return count

    def retrieve(self, dataset, k: int, context: RetrievalContext | None = None) -> Run:
        context = self._context(context)
        if context.streaming and context.bad_vectors != "stop":
            raise ValueError("--bad-vectors record needs the document vectors in memory; with a streaming index "
                             "a bad vector always stops the run")
        docs, queries, stats = self.embed(dataset, context)
        bad_docs, bad_queries, failures = stats.pop("bad_documents"), stats.pop("bad_queries"), stats.pop("failures")
        parents, keys = stats.pop("parents", None), stats.pop("keys", None)
        rows = None  # index row -> document position, where documents with bad vectors were left out
        if len(bad_docs):
            keep = np.setdiff1d(np.arange(len(docs)), bad_docs)
            docs = docs[keep]
            if parents is None:
                rows = keep
            else:
                parents = parents[keep]
        if keys is None:
            index, timing = timed_build(context.index, context.similarity, docs)
        else:
            shards = cache_shards(context.cache, stats["fingerprint"])
            if context.similarity == "cosine":
                shards = _without_zero_vectors(shards, self.name)
            index, timing = timed_build(context.index, context.similarity, None, lambda: streaming_index(
                context.index, context.similarity, shards, keys))
        units = keys.count if keys is not None else len(docs)
        if len(bad_queries):
            queries = queries.copy()
            queries[bad_queries] = 0
        started = time.perf_counter()
        if parents is None:
            scores, idx = index.search(queries, min(k, units))
        else:
            scores, idx = self._search_chunks(index, queries, parents, k)
        if rows is not None:
            idx = np.where(idx >= 0, rows[np.maximum(idx, 0)], -1)
        idx[bad_queries] = -1  # a query with a bad vector retrieves nothing
        meta = {
            "kind": "precomputed" if hasattr(self.embedder, "vectors") else "dense",
            "dim": int(queries.shape[1]),
            "similarity": context.similarity,
            **timing,
            "search_seconds": time.perf_counter() - started,
            "embedding": stats,
        }
        if failures:
            meta["failures"] = failures
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


def _without_zero_vectors(shards, model: str):
    """Cached shards for a streaming cosine search, each checked for all-zero vectors as it is read."""
    def checked():
        for keys, vectors in shards():
            zero = np.flatnonzero(~np.any(vectors != 0, axis=1))
            if len(zero):
                raise BadVectorError(describe(model, "document", {f"text key {keys[zero[0]]}": "an all-zero vector "
                                              "(cosine similarity needs a norm above zero)"}, len(keys)))
            yield keys, vectors
    return checked


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
