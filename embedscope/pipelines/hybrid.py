"""Hybrid retrieval: several first stages (typically BM25 + a dense model) fused into one ranking.

    hybrid:bm25+minilm                         RRF, k=60
    hybrid:bm25+minilm?fusion=rrf&rrf_k=20
    hybrid:bm25+minilm?fusion=min-max&alpha=0.7   0.3 x BM25 + 0.7 x dense, min-max normalised
    hybrid:bm25+minilm+wordllama?fusion=z-score&weights=0.5,0.3,0.2
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from embedscope.models import register
from embedscope.pipelines import fusion as fusers
from embedscope.pipelines.components import context_from, load_stage, parse_floats, split_stages
from embedscope.runs import Run
from embedscope.runs.context import RetrievalContext

FUSIONS = ("rrf", "min-max", "z-score")
_ALIASES = {"minmax": "min-max", "wsum": "min-max", "weighted": "min-max", "zscore": "z-score", "zmuv": "z-score"}


class HybridRetriever:
    """Retrieves `depth` hits from each stage, fuses them per query, keeps the top k."""

    def __init__(self, stages: Sequence, fusion: str = "rrf", rrf_k: int = 60, weights: Sequence[float] | None = None,
                 alpha: float | None = None, depth: int | None = None, name: str | None = None,
                 context: RetrievalContext | None = None):
        self.fusion = _ALIASES.get(fusion, fusion)
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got '{fusion}'")
        if alpha is not None:
            if len(stages) != 2:
                raise ValueError("alpha weighs exactly two stages (first x (1 - alpha) + second x alpha); use weights=")
            if not 0 <= alpha <= 1:
                raise ValueError(f"alpha must be in [0, 1], got {alpha}")
            weights = [1 - alpha, alpha]
        self.weights = list(weights) if weights is not None else None
        self.rrf_k = rrf_k
        self.depth = depth
        self.context = context or RetrievalContext()
        self.stages = [load_stage(s) for s in stages]
        parts = "+".join(s.name for s in self.stages)
        self.name = name or f"hybrid-{self.fusion}({parts})"

    def stage_runs(self, dataset, k: int, context: RetrievalContext | None = None) -> list[Run]:
        """Each stage's top `depth` (at least k), every stage in the same retrieval context."""
        context = context or self.context
        depth = max(self.depth or k, k)
        runs = []
        for stage in self.stages:
            context.log(f"[{self.name}] stage {stage.name}: top-{depth}")
            runs.append(context.retriever(stage).retrieve(dataset, depth, context))
        return runs

    def searcher(self, dataset, k: int, context: RetrievalContext | None = None):
        """search(query_text) -> {doc_id: score}: every stage's single-query search, fused."""
        context = context or self.context
        depth = max(self.depth or k, k)
        stages = [(s.name, context.searcher(s, dataset, depth)) for s in self.stages]

        def search(text: str) -> dict[str, float]:
            runs = [Run(name, {"q": find(text)}) for name, find in stages]
            return self.fuse(runs, k).scores.get("q", {})

        return search

    def fuse(self, runs: Sequence[Run], k: int | None = None, weights: Sequence[float] | None = None) -> Run:
        weights = weights if weights is not None else self.weights
        if self.fusion == "rrf":
            fused = fusers.rrf(runs, k=self.rrf_k, weights=weights, name=self.name)
        else:
            fused = fusers.weighted_sum(runs, weights=weights, norm=self.fusion, name=self.name)
        return fused.cut(k) if k else fused

    def retrieve(self, dataset, k: int, context: RetrievalContext | None = None) -> Run:
        started = time.perf_counter()
        runs = self.stage_runs(dataset, k, context)
        fused = self.fuse(runs, k)
        fused.meta.update({"kind": "hybrid", "stages": [r.name for r in runs], "depth": max(self.depth or k, k),
                           "stage_meta": {r.name: r.meta for r in runs}, "seconds": time.perf_counter() - started})
        return fused


def alpha_sweep(qrels, runs: Sequence[Run], alphas: Sequence[float], metrics: Sequence[str],
                norm: str = "min-max", k: int | None = None) -> list[dict]:
    """Mean metrics of (1 - alpha) x first + alpha x second for each alpha; alpha 0 and 1 are the stages alone
    (up to ties), so the table shows whether fusing helps at all and how sensitive it is to the weight."""
    from embedscope.metrics import evaluate

    if len(runs) != 2:
        raise ValueError(f"an alpha sweep weighs two runs, got {len(runs)}")
    rows = []
    for alpha in alphas:
        fused = fusers.weighted_sum(runs, [1 - alpha, alpha], norm=norm, name=f"alpha={alpha:g}")
        fused = fused.cut(k) if k else fused
        rows.append({"alpha": float(alpha), **evaluate(qrels, fused, metrics).mean})
    return rows


@register("hybrid")
def _hybrid(target: str | None = None, stages=None, weights=None, **options):
    if stages is None:
        stages = split_stages(target, "+", "hybrid", "hybrid:bm25+minilm?fusion=rrf")
    if weights is not None:
        weights = parse_floats(weights, "weights")
    context = context_from(options)
    return HybridRetriever(stages, weights=weights, context=context, **options)
