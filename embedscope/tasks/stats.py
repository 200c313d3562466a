"""Confidence intervals and paired tests for task scores, over the task's own unit (rows, pairs or queries).

Task metrics are often not means over units (Spearman over pairs, macro-F1, V-measure, AP over pairs), so the
bootstrap here redraws units and recomputes each metric, with the same draws for every model: differences stay
paired. When the task gives a unit, draws are made within each class (stratified: per-class resamples).

Tests, per metric, for every pair of models, Holm-corrected across the pairs of that metric:
- a metric that is a mean over units (classification accuracy, reranking AP and MRR per query) takes the paired
  randomization test on the per-unit differences, as retrieval metrics do;
- any other takes the paired bootstrap test: p = 2 x the share of resampled differences on the far side of 0
  (capped at 1).
"""

from __future__ import annotations

import itertools

import numpy as np

from embedscope.stats.holm import holm
from embedscope.stats.randomization import randomization_tests

RESAMPLES = 1_000
SEED = 0


def draws(n: int, strata: np.ndarray | None, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) unit indices drawn with replacement; within each stratum when strata are given."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(resamples, n))
    out = np.empty((resamples, n), dtype=np.int64)
    start = 0
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        out[:, start : start + len(members)] = members[rng.integers(0, len(members), size=(resamples, len(members)))]
        start += len(members)
    return out


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided paired bootstrap p-value for "no difference": twice the smaller tail beyond 0."""
    below, above = float(np.mean(differences <= 0)), float(np.mean(differences >= 0))
    return min(1.0, 2 * min(below, above))


def analyse_task(data, outcomes: dict, metrics: list[str], *, resamples: int = RESAMPLES, seed: int = SEED,
                 alpha: float = 0.05, confidence: float = 0.95, permutations: int = 10_000, unit: str = "") -> dict:
    """CIs for every model and metric, and the verdict of every pair; {} with no scored model."""
    if not outcomes:
        return {}
    main = metrics[0]
    names = sorted(outcomes, key=lambda name: -outcomes[name].scores.get(main, -np.inf))
    n = len(data.units)
    idx = draws(n, data.strata, resamples, seed)
    boot = {name: {m: np.empty(resamples) for m in metrics} for name in names}
    for name in names:
        for r in range(resamples):
            values = outcomes[name].resample(idx[r])
            for m in metrics:
                boot[name][m][r] = values.get(m, np.nan)
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for name in names:
        intervals[name] = {}
        for m in metrics:
            if m not in outcomes[name].scores:
                continue
            low, high = np.nanpercentile(boot[name][m], [tail, 100 - tail])
            intervals[name][m] = {"mean": float(outcomes[name].scores[m]), "low": float(low), "high": float(high)}
    pairs = []
    for m in metrics:
        rows = []
        for a, b in itertools.combinations(names, 2):
            if m not in outcomes[a].scores or m not in outcomes[b].scores:
                continue
            d = boot[a][m] - boot[b][m]
            low, high = np.nanpercentile(d, [tail, 100 - tail])
            ua, ub = outcomes[a].per_unit.get(m), outcomes[b].per_unit.get(m)
            if ua is not None and ub is not None:
                p, test = float(randomization_tests(ua - ub, permutations, seed)[0]), "randomization"
            else:
                p, test = bootstrap_p(d[~np.isnan(d)]), "bootstrap"
            rows.append({"metric": m, "a": a, "b": b, "mean_a": outcomes[a].scores[m], "mean_b": outcomes[b].scores[m],
                         "difference": outcomes[a].scores[m] - outcomes[b].scores[m],
                         "difference_low": float(low), "difference_high": float(high), "test": test, "p": p})
        for row, adjusted in zip(rows, holm([r["p"] for r in rows])):
            row["p_holm"] = float(adjusted)
            row["significant"] = bool(adjusted < alpha)
            row["better"] = (row["a"] if row["difference"] > 0 else row["b"]) if row["significant"] else None
            row["verdict"] = f"{row['better']} better" if row["better"] else "no significant difference"
        pairs += rows
    warnings = []
    if n < 30:
        warnings.append(f"only {n} units: intervals are wide and small differences cannot be detected")
    main_pairs = [p for p in pairs if p["metric"] == main]
    if main_pairs and not any(p["significant"] for p in main_pairs):
        warnings.append(f"no pair of models differs significantly on {main} with these {n} units")
    return {
        "confidence_intervals": {
            "method": "percentile bootstrap, metric recomputed on each resample"
                      + (", drawn within each class" if data.strata is not None else ""),
            "unit": unit, "units": n, "confidence": confidence, "resamples": resamples, "seed": seed,
            "models": intervals,
        },
        "significance": {
            "main_metric": main, "alpha": alpha, "order": names, "units": n,
            "test": "paired randomization test for metrics that are means over units, paired bootstrap test for "
                    "the others; Holm-corrected across the pairs of each metric",
            "permutations": permutations, "resamples": resamples, "seed": seed,
            "pairs": pairs, "warnings": warnings,
        },
    }
