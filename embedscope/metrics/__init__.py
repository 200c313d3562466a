"""Metrics: one per file, graded, per query; agreement with trec_eval is tested."""

from embedscope.metrics.evaluate import DEFAULT_METRICS, METRICS, Evaluation, canonical, evaluate, parse_metric

__all__ = ["DEFAULT_METRICS", "METRICS", "Evaluation", "canonical", "evaluate", "parse_metric"]
