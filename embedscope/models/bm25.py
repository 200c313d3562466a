from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from embedscope.runs.run import Run
from embedscope.text import detect_language, segment_chinese

log = logging.getLogger(__name__)


class BM25Retriever:
    """Lexical baseline with bm25s.

    English defaults follow Anserini's BEIR runs (k1=0.9, b=0.4, Porter stemming, English stopwords), so
    scores are comparable to the published BM25 rows. Chinese text is segmented into words with jieba first:
    without it a whole sentence would be one token. `language="auto"` (default) picks by script.
    """

    def __init__(self, name: str = "bm25", k1: float = 0.9, b: float = 0.4, method: str = "lucene",
                 language: str = "auto", stopwords: str | None = "en", stemmer: str | None = "english"):
        if language not in ("auto", "en", "zh"):
            raise ValueError("bm25 language must be auto, en or zh")
        if not all(isinstance(v, (int, float)) and v >= 0 for v in (k1, b)):
            raise ValueError(f"bm25 k1 and b must be non-negative numbers, got k1={k1!r}, b={b!r}")
        self.name = name
        self.k1, self.b, self.method = k1, b, method
        self.language = language
        self.stopwords = stopwords
        self.stemmer_language = stemmer

    def _tokenize(self, texts: list[str], language: str):
        import bm25s

        if language == "zh":
            return [segment_chinese(t) for t in texts]
        stemmer = None
        if self.stemmer_language:
            import Stemmer

            stemmer = Stemmer.Stemmer(self.stemmer_language)
        return bm25s.tokenize(texts, stopwords=self.stopwords, stemmer=stemmer, show_progress=False)

    def _index(self, dataset):
        import bm25s

        from embedscope import progress

        with progress.task(f"{self.name}: indexing {len(dataset.corpus):,} documents", None):
            language = detect_language(dataset.doc_texts) if self.language == "auto" else self.language
            index = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
            index.index(self._tokenize(dataset.doc_texts, language), show_progress=False)
        return index, language

    def _query_tokens(self, index, texts: list[str], language: str):
        queries = self._tokenize(texts, language)
        if language == "zh":  # bm25s rejects words it never indexed; they cannot match anyway
            vocab = index.vocab_dict
            queries = [[t for t in q if t in vocab] for q in queries]
        return queries

    def searcher(self, dataset, k: int, context=None):
        """search(query_text) -> {doc_id: score}: the corpus indexed once, then one query at a time."""
        index, language = self._index(dataset)
        doc_ids, k = dataset.doc_ids, min(k, len(dataset.corpus))

        def search(text: str) -> dict[str, float]:
            idx, scores = index.retrieve(self._query_tokens(index, [text], language), k=k, show_progress=False,
                                         n_threads=0)
            return {doc_ids[i]: float(s) for i, s in zip(idx[0], scores[0]) if s > 0}

        return search

    def retrieve(self, dataset, k: int, context=None) -> Run:
        """Top-k by BM25; the retrieval context's similarity and index do not apply to a lexical index. With a
        context, the result is kept in its cache folder, keyed by everything that decides it (texts, ids,
        parameters, k, the bm25s and stemmer versions), so an unchanged re-run does not index again."""
        k = min(k, len(dataset.corpus))
        stored = self._stored(dataset, k, context)
        if stored is not None and stored.exists():
            try:
                with np.load(stored) as saved:
                    idx, scores = saved["idx"], saved["scores"]
                    language, index_s, search_s = str(saved["language"]), float(saved["index_s"]), float(saved["search_s"])
                if idx.shape == (len(dataset.queries), k):
                    return self._run(dataset, idx, scores, language, index_s, search_s, cached=True)
            except (OSError, ValueError, KeyError, EOFError):
                log.warning("%s: unreadable BM25 result, computed again", stored)
        started = time.perf_counter()
        index, language = self._index(dataset)
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        queries = self._query_tokens(index, dataset.query_texts, language)
        idx, scores = index.retrieve(queries, k=k, show_progress=False, n_threads=0)
        search_s = time.perf_counter() - started
        # bm25s pads queries with no matching term with score 0: drop those rows, they are not retrieved.
        idx = np.where(scores > 0, idx, -1)
        if stored is not None:
            _save(stored, idx=idx.astype(np.int64), scores=scores.astype(np.float32), language=language,
                  index_s=index_s, search_s=search_s)
        return self._run(dataset, idx, scores, language, index_s, search_s, cached=False)

    def _run(self, dataset, idx, scores, language, index_s, search_s, cached: bool) -> Run:
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx,
                             meta={"kind": "lexical", "language": language, "index_seconds": index_s,
                                   "search_seconds": search_s, "cached": cached,
                                   "params": {"k1": self.k1, "b": self.b, "method": self.method}})

    def _stored(self, dataset, k: int, context) -> Path | None:
        """Where this retrieval's result is kept: <cache>/bm25/<key>.npz (None without a context)."""
        if context is None or getattr(context, "cache_dir", None) is None:
            return None
        from importlib.metadata import PackageNotFoundError, version

        def installed(package: str) -> str:
            try:
                return version(package)
            except PackageNotFoundError:
                return "-"

        h = hashlib.blake2b(digest_size=16)
        settings = (self.k1, self.b, self.method, self.language, self.stopwords, self.stemmer_language, k,
                    installed("bm25s"), installed("PyStemmer"), installed("jieba"))
        h.update(repr(settings).encode())
        for ids, texts in ((dataset.doc_ids, dataset.doc_texts), (dataset.query_ids, dataset.query_texts)):
            h.update(b"\x00".join(i.encode() for i in ids))
            h.update(b"\x01")
            h.update(b"\x00".join(t.encode("utf-8", "surrogatepass") for t in texts))
            h.update(b"\x02")
        return Path(context.cache_dir) / "bm25" / f"{h.hexdigest()}.npz"


def _save(path: Path, **arrays) -> None:
    """Write atomically (a temp file renamed): readers see the whole result or none."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as e:  # a read-only cache still gives the result, only not kept
        log.warning("BM25 result not kept in %s (%s)", path.parent, e.strerror or e)
