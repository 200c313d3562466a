"""Two-stage retrieval: any first stage, then a reranker over its top candidates.

    rerank:minilm>cross-encoder:/models/ms-marco-MiniLM-L6?top=100
    rerank:bm25>cohere?model=rerank-english-v3.0&top=50            (COHERE_API_KEY)
    rerank:bm25>voyage:http://127.0.0.1:8000/v1/rerank?model=rerank-2
    rerank:hybrid:bm25+minilm>llm-listwise:http://127.0.0.1:8000/v1?model=qwen2.5&window=20&step=10&top=30
    rerank:minilm>llm-pairwise:http://127.0.0.1:8000/v1?model=qwen2.5&top=10

Options `top` (candidates reranked, default 100) and `keep_rest` (default true: candidates below `top` stay
in the run, after the reranked ones, in first-stage order) belong to the pipeline; the others go to the reranker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from embedscope import progress
from embedscope.models import register
from embedscope.pipelines.components import context_from, load_stage, split_stages
from embedscope.runs import Run
from embedscope.runs.context import RetrievalContext


@runtime_checkable
class Reranker(Protocol):
    """Scores a query's candidate documents; higher is better. Listwise rerankers return rank-derived scores."""

    name: str

    def score(self, query: str, documents: Sequence[str]) -> list[float]: ...


class RerankRetriever:
    """First stage -> top `top` candidates -> reranker scores -> one Run, scored like any model."""

    def __init__(self, first_stage, reranker: Reranker, top: int = 100, keep_rest: bool = True,
                 name: str | None = None, context: RetrievalContext | None = None):
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        self.context = context or RetrievalContext()
        self.first = load_stage(first_stage)
        self.reranker = reranker
        self.top = top
        self.keep_rest = keep_rest
        self.name = name or f"{self.first.name}>{reranker.name}"

    def rerank(self, dataset, first: Run, k: int | None = None) -> Run:
        texts = dict(zip(dataset.doc_ids, dataset.doc_texts))
        scores: dict[str, dict[str, float]] = {}
        started = time.perf_counter()
        with progress.task(f"{self.name}: reranking", len(first.scores)) as advance:
            for qid, query in dataset.queries.items():
                ranked = first.ranked(qid)
                candidates = [d for d, _ in ranked[: self.top]]
                if not candidates:
                    scores[qid] = {}
                    advance(1)
                    continue
                new = [float(s) for s in self.reranker.score(query, [texts[d] for d in candidates])]
                if len(new) != len(candidates):
                    raise RuntimeError(f"{self.reranker.name} returned {len(new)} scores for {len(candidates)} documents")
                scores[qid] = dict(zip(candidates, new))
                if self.keep_rest:
                    # The rest keep their first-stage order, strictly below every reranked document.
                    floor = min(new)
                    for i, (did, _) in enumerate(ranked[self.top:], start=1):
                        scores[qid][did] = floor - i
                advance(1)
        run = Run(self.name, scores, {"kind": "rerank", "first_stage": first.name, "reranker": self.reranker.name,
                                      "top": self.top, "keep_rest": self.keep_rest,
                                      "rerank_seconds": time.perf_counter() - started, "first_stage_meta": first.meta})
        return run.cut(k) if k else run

    def searcher(self, dataset, k: int, context: RetrievalContext | None = None):
        """search(query_text) -> {doc_id: score}: the first stage's single-query search, its top `top`
        reranked."""
        context = context or self.context
        first = context.searcher(self.first, dataset, max(k, self.top))
        texts = dict(zip(dataset.doc_ids, dataset.doc_texts))

        def search(text: str) -> dict[str, float]:
            candidates = [d for d, _ in Run("first", {"q": first(text)}).ranked("q", self.top)]
            if not candidates:
                return {}
            scores = self.reranker.score(text, [texts[d] for d in candidates])
            return dict(Run("reranked", {"q": dict(zip(candidates, map(float, scores)))}).ranked("q", k))

        return search

    def retrieve(self, dataset, k: int, context: RetrievalContext | None = None) -> Run:
        context = context or self.context
        context.log(f"[{self.name}] first stage {self.first.name}: top-{max(k, self.top)}, then {self.reranker.name}")
        first = context.retriever(self.first).retrieve(dataset, max(k, self.top), context)
        return self.rerank(dataset, first, k)


RERANKERS = {
    "cross-encoder": ("cross_encoder", "CrossEncoderReranker"),
    "cohere": ("api_reranker", "cohere"),
    "voyage": ("api_reranker", "voyage"),
    "jina": ("api_reranker", "jina"),
    "llm-listwise": ("llm_reranker", "ListwiseLLMReranker"),
    "llm-pairwise": ("llm_reranker", "PairwiseLLMReranker"),
}
_ALIASES = {"ce": "cross-encoder", "crossencoder": "cross-encoder", "rankgpt": "llm-listwise", "prp": "llm-pairwise"}


def load_reranker(spec: str, **options) -> Reranker:
    """'cross-encoder:PATH', 'cohere[:URL]', 'voyage[:URL]', 'jina[:URL]', 'llm-listwise:URL', 'llm-pairwise:URL'."""
    import importlib

    kind, _, target = spec.partition(":")
    kind = _ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if kind not in RERANKERS:
        raise ValueError(f"unknown reranker '{kind}' in '{spec}'; known: {', '.join(RERANKERS)}")
    module, attr = RERANKERS[kind]
    builder = getattr(importlib.import_module(f"embedscope.pipelines.{module}"), attr)
    return builder(target or None, **options)


_PIPELINE_OPTIONS = ("top", "keep_rest", "name")


@register("rerank")
def _rerank(target: str | None = None, first=None, reranker=None, **options):
    if first is None or reranker is None:
        if not target or target.count(">") != 1:
            raise ValueError(f"'rerank' needs exactly one '>' between first stage and reranker, got '{target}' "
                             "(e.g. rerank:minilm>cross-encoder:PATH?top=100)")
        first, reranker = split_stages(target, ">", "rerank", "rerank:minilm>cross-encoder:PATH?top=100")
    pipeline = {k: options.pop(k) for k in _PIPELINE_OPTIONS if k in options}
    pipeline["context"] = context_from(options)
    if isinstance(reranker, dict):  # YAML: reranker: {type: cohere, path: URL, model: ...}
        reranker = dict(reranker)
        kind, path = reranker.pop("type"), reranker.pop("path", None)
        options = reranker | options
        reranker = f"{kind}:{path}" if path else kind
    return RerankRetriever(first, load_reranker(reranker, **options), **pipeline)
