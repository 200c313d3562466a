from __future__ import annotations

import time

import numpy as np

from embedscope.runs.run import Run
from embedscope.text import detect_language, segment_chinese


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
        """Top-k by BM25; the retrieval context (cache, index, similarity) does not apply to a lexical index."""
        started = time.perf_counter()
        index, language = self._index(dataset)
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        queries = self._query_tokens(index, dataset.query_texts, language)
        k = min(k, len(dataset.corpus))
        idx, scores = index.retrieve(queries, k=k, show_progress=False, n_threads=0)
        search_s = time.perf_counter() - started
        # bm25s pads queries with no matching term with score 0: drop those rows, they are not retrieved.
        idx = np.where(scores > 0, idx, -1)
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx,
                             meta={"kind": "lexical", "language": language, "index_seconds": index_s,
                                   "search_seconds": search_s,
                                   "params": {"k1": self.k1, "b": self.b, "method": self.method}})
