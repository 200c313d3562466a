"""A pipeline against its baseline, query by query: mean delta, wins/losses and paired significance tests."""

from __future__ import annotations

import numpy as np

from embedscope.stats.randomization import randomization_tests
from embedscope.stats.ttest import paired_t_test


def paired_delta(pipeline, baseline, metric: str) -> dict:
    """pipeline - baseline on one metric over the queries both were scored on (Evaluations)."""
    a, b = pipeline.per_query[metric], baseline.per_query[metric]
    qids = [q for q in a if q in b]
    if not qids:
        raise ValueError("the two evaluations share no queries")
    x, y = np.array([a[q] for q in qids]), np.array([b[q] for q in qids])
    diff = x - y
    return {"metric": metric, "pipeline": pipeline.run_name, "baseline": baseline.run_name, "queries": len(qids),
            "pipeline_mean": float(x.mean()), "baseline_mean": float(y.mean()), "delta": float(diff.mean()),
            "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum()), "ties": int((diff == 0).sum()),
            "p_ttest": paired_t_test(x, y), "p_randomization": float(randomization_tests(diff)[0])}


def verdict(row: dict, alpha: float = 0.05) -> str:
    if min(row["p_ttest"], row["p_randomization"]) >= alpha:
        return "no significant difference"
    return "helps" if row["delta"] > 0 else "hurts"
