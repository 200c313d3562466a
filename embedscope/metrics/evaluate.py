from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedscope.metrics.average_precision import average_precision
from embedscope.metrics.hit import hit
from embedscope.metrics.mrr import mrr
from embedscope.metrics.ndcg import ndcg
from embedscope.metrics.precision import precision
from embedscope.metrics.recall import recall
from embedscope.runs import Run

METRICS = {"ndcg": ndcg, "recall": recall, "precision": precision, "mrr": mrr, "map": average_precision, "hit": hit}
ALIASES = {"p": "precision", "r": "recall", "ap": "map", "success": "hit", "hit_rate": "hit", "recip_rank": "mrr"}
DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "precision@10", "mrr@10", "map@100", "hit@10")


def parse_metric(name: str) -> tuple[str, int]:
    base, _, cut = name.lower().partition("@")
    base = ALIASES.get(base, base)
    if base not in METRICS:
        raise ValueError(f"unknown metric '{name}'; known: {', '.join(sorted(METRICS))} (as name@k)")
    if not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"metric '{name}' needs a cutoff, e.g. {base}@10")
    return base, int(cut)


def canonical(name: str) -> str:
    base, k = parse_metric(name)
    return f"{base}@{k}"


@dataclass
class Evaluation:
    """Mean and per-query values of each metric for one run."""

    run_name: str
    per_query: dict[str, dict[str, float]]  # metric -> qid -> value

    @property
    def mean(self) -> dict[str, float]:
        return {m: float(np.mean(list(v.values()))) if v else 0.0 for m, v in self.per_query.items()}

    @property
    def query_ids(self) -> list[str]:
        first = next(iter(self.per_query.values()), {})
        return list(first)

    def vector(self, metric: str) -> np.ndarray:
        return np.array(list(self.per_query[canonical(metric)].values()), dtype=float)


def evaluated_queries(qrels: dict[str, dict[str, int]]) -> list[str]:
    """Queries with at least one relevant judgment: the others have no defined nDCG/recall and are left out."""
    return [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]


def evaluate(qrels: dict[str, dict[str, int]], run: Run, metrics=DEFAULT_METRICS) -> Evaluation:
    """Score a run against graded qrels. A judged query the run has no results for scores 0 on every metric."""
    parsed = {canonical(m): parse_metric(m) for m in metrics}
    if not parsed:
        raise ValueError("no metrics to compute: name at least one, e.g. ndcg@10")
    qids = evaluated_queries(qrels)
    depth = max(k for _, k in parsed.values())
    per_query: dict[str, dict[str, float]] = {m: {} for m in parsed}
    for qid in qids:
        ranked = [d for d, _ in run.ranked(qid, depth)]
        for m, (base, k) in parsed.items():
            per_query[m][qid] = METRICS[base](ranked, qrels[qid], k)
    return Evaluation(run.name, per_query)
