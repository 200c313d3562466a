from __future__ import annotations

import time

import numpy as np

from embedscope.runs import Run


class BM25Retriever:
    """Lexical baseline with bm25s. Defaults follow Anserini's BEIR runs (k1=0.9, b=0.4, Porter stemming,
    English stopwords), so scores are comparable to the published BM25 rows."""

    def __init__(self, name: str = "bm25", k1: float = 0.9, b: float = 0.4, method: str = "lucene",
                 stopwords: str | None = "en", stemmer: str | None = "english"):
        self.name = name
        self.k1, self.b, self.method = k1, b, method
        self.stopwords = stopwords
        self.stemmer_language = stemmer

    def _stemmer(self):
        if not self.stemmer_language:
            return None
        import Stemmer

        return Stemmer.Stemmer(self.stemmer_language)

    def retrieve(self, dataset, k: int) -> Run:
        import bm25s

        stemmer = self._stemmer()
        started = time.perf_counter()
        doc_tokens = bm25s.tokenize(dataset.doc_texts, stopwords=self.stopwords, stemmer=stemmer, show_progress=False)
        index = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        index.index(doc_tokens, show_progress=False)
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        query_tokens = bm25s.tokenize(dataset.query_texts, stopwords=self.stopwords, stemmer=stemmer, show_progress=False)
        k = min(k, len(dataset.corpus))
        idx, scores = index.retrieve(query_tokens, k=k, show_progress=False, n_threads=0)
        search_s = time.perf_counter() - started
        # bm25s pads queries with no matching term with score 0: drop those rows, they are not retrieved.
        idx = np.where(scores > 0, idx, -1)
        return Run.from_topk(self.name, dataset.query_ids, dataset.doc_ids, scores, idx,
                             meta={"kind": "lexical", "index_seconds": index_s, "search_seconds": search_s,
                                   "params": {"k1": self.k1, "b": self.b, "method": self.method}})
