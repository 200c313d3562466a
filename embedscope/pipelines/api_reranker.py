"""Hosted rerankers (Cohere, Voyage, Jina): one class, three wire formats.

All three take {model, query, documents, top_n|top_k} and answer with (index, relevance_score) pairs:
Cohere and Jina under "results", Voyage under "data". The URL can point at any server speaking the format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from embedscope.remote import HttpClient, RetryPolicy


@dataclass(frozen=True)
class WireFormat:
    provider: str
    url: str
    key_env: str
    default_model: str
    top_field: str  # how the request names "return this many"
    results_field: str  # where the response lists (index, relevance_score)


FORMATS = {
    "cohere": WireFormat("cohere", "https://api.cohere.com/v1/rerank", "COHERE_API_KEY", "rerank-english-v3.0",
                         "top_n", "results"),
    "voyage": WireFormat("voyage", "https://api.voyageai.com/v1/rerank", "VOYAGE_API_KEY", "rerank-2",
                         "top_k", "data"),
    "jina": WireFormat("jina", "https://api.jina.ai/v1/rerank", "JINA_API_KEY", "jina-reranker-v2-base-multilingual",
                       "top_n", "results"),
}


class APIReranker:
    def __init__(self, wire: WireFormat, url: str | None = None, model: str | None = None, name: str | None = None,
                 api_key: str | None = None, key_env: str | None = None, max_documents: int = 1000,
                 timeout: float = 60.0, retries: int = 5, backoff: float = 1.0):
        self.wire = wire
        self.model = model or wire.default_model
        self.name = name or f"{wire.provider}-{self.model}"
        self.max_documents = max_documents
        url = url or wire.url
        # the provider's own endpoint needs its key before anything is sent; a local server may take none
        self.client = HttpClient(f"{wire.provider} reranker {self.model}", url, key_env=key_env or wire.key_env,
                                 api_key=api_key, key_required=url == wire.url, timeout=timeout,
                                 policy=RetryPolicy(retries=retries, base_delay=backoff))
        self.calls = 0

    def payload(self, query: str, documents: Sequence[str]) -> dict:
        body = {"model": self.model, "query": query, "documents": list(documents),
                self.wire.top_field: len(documents), "return_documents": False}
        if self.wire.provider == "voyage":
            body["truncation"] = True
        return body

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(documents), self.max_documents):
            batch = documents[start : start + self.max_documents]
            scores.extend(self._score_batch(query, batch))
        return scores

    def preflight(self) -> list[str]:
        """Problems found by one tiny request (key, endpoint, model name), one line each; [] when ready."""
        from embedscope.remote import probe_problems

        return probe_problems(lambda: self._score_batch("embedscope pre-flight check", ["a document"]))

    def _score_batch(self, query: str, documents: Sequence[str]) -> list[float]:
        what = f"1 query, {len(documents)} documents"
        answer = self.client.post(payload=self.payload(query, documents), what=what)
        self.calls += 1

        def bad(reason: str):
            return self.client.error(self.client.describe("POST", what=what), f"unexpected answer: {reason}")

        results = answer.get(self.wire.results_field) if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise bad(f"no '{self.wire.results_field}' list in {str(answer)[:120]!r}")
        scores: list[float | None] = [None] * len(documents)
        for item in results:
            try:
                index, value = int(item["index"]), float(item["relevance_score"])
            except (KeyError, TypeError, ValueError):
                raise bad(f"result {str(item)[:80]!r} lacks index/relevance_score") from None
            if not 0 <= index < len(documents):
                raise bad(f"result index {index} outside 0..{len(documents) - 1}")
            scores[index] = value
        # A server that returns fewer than asked leaves the rest unscored: they go below every scored one.
        # They keep their given order among themselves.
        floor = min((s for s in scores if s is not None), default=0.0)
        missing = iter(range(1, len(documents) + 1))
        return [floor - next(missing) if s is None else s for s in scores]


def cohere(url: str | None = None, **options) -> APIReranker:
    return APIReranker(FORMATS["cohere"], url, **options)


def voyage(url: str | None = None, **options) -> APIReranker:
    return APIReranker(FORMATS["voyage"], url, **options)


def jina(url: str | None = None, **options) -> APIReranker:
    return APIReranker(FORMATS["jina"], url, **options)
