"""The promotion guard: a tuned model replaces its base only if it is significantly better on held-out queries.

Both models are scored per query on the same held-out queries; the guard runs two paired two-sided tests on the
per-query differences (embedscope.stats): a paired t-test and a sign-flip randomization test (no normality
assumption; exact when there are few queries). It promotes only when the mean improves by at least `min_delta`
and both p-values are below `alpha`. Anything else is reported as not promoted, with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from embedscope.stats import paired_t_test, randomization_test


@dataclass
class GuardDecision:
    metric: str
    queries: int
    before: float
    after: float
    delta: float
    p_ttest: float
    p_permutation: float
    wins: int
    losses: int
    ties: int
    alpha: float
    min_delta: float
    promoted: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def paired_values(before: dict[str, float], after: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-query values on the queries both evaluations scored, in one order."""
    qids = [q for q in before if q in after]
    if len(qids) != len(before) or len(qids) != len(after):
        raise ValueError(f"before and after were scored on different queries ({len(before)} vs {len(after)}, "
                         f"{len(qids)} shared): evaluate both models on the same held-out split")
    return np.array([before[q] for q in qids], float), np.array([after[q] for q in qids], float)


def guard(before: dict[str, float], after: dict[str, float], metric: str = "ndcg@10", alpha: float = 0.05,
          min_delta: float = 0.0, resamples: int = 10000, seed: int = 0) -> GuardDecision:
    """Decide on promotion from per-query values of `metric` ({qid: value}) for the base and the tuned model."""
    a, b = paired_values(before, after)
    if len(a) == 0:
        raise ValueError("no held-out queries to compare on")
    diff = b - a
    p_t = paired_t_test(b, a)
    p_perm = randomization_test(b, a, permutations=resamples, seed=seed)
    delta = float(diff.mean())
    wins, losses = int((diff > 1e-12).sum()), int((diff < -1e-12).sum())
    if delta <= 0:
        promoted, reason = False, f"{metric} did not improve ({delta:+.4f})"
    elif delta < min_delta:
        promoted, reason = False, f"{metric} improved by {delta:+.4f}, below the required {min_delta:+.4f}"
    elif max(p_t, p_perm) >= alpha:
        promoted, reason = False, (f"{metric} improved by {delta:+.4f} but not significantly "
                                   f"(t-test p={p_t:.3g}, permutation p={p_perm:.3g}, alpha={alpha})")
    else:
        promoted, reason = True, (f"{metric} improved by {delta:+.4f} "
                                  f"(t-test p={p_t:.3g}, permutation p={p_perm:.3g} < alpha={alpha})")
    return GuardDecision(metric, len(a), float(a.mean()), float(b.mean()), delta, p_t, p_perm,
                         wins, losses, len(a) - wins - losses, alpha, min_delta, promoted, reason)


def guard_evaluations(before, after, metric: str = "ndcg@10", **options) -> GuardDecision:
    """guard() on two Evaluations (embedscope.metrics) of the same queries."""
    from embedscope.metrics import canonical

    metric = canonical(metric)
    return guard(before.per_query[metric], after.per_query[metric], metric=metric, **options)


def before_after(dataset, base: str, tuned: str, *, metric: str = "ndcg@10", k: int = 10, alpha: float = 0.05,
                 min_delta: float = 0.0, cache_dir=".embedscope-cache", log=None) -> dict:
    """Evaluate base and tuned model specs on the held-out dataset and apply the guard: a JSON-ready report."""
    from embedscope.compare import compare, metrics_for
    from embedscope.metrics import canonical

    if not dataset.has_qrels:
        raise ValueError(f"held-out dataset {dataset.name} has no qrels: the guard needs judged queries")
    metric = canonical(metric)
    metrics = list(dict.fromkeys([metric, *metrics_for(k)]))
    comparison = compare(dataset, [base, tuned], k=k, depth=max(100, k), metrics=metrics, cache_dir=cache_dir, log=log)
    before, after = comparison.results
    decision = guard_evaluations(before.evaluation, after.evaluation, metric, alpha=alpha, min_delta=min_delta)
    return {
        "dataset": dataset.summary(),
        "base": {"spec": base, "name": before.name, "metrics": before.evaluation.mean},
        "tuned": {"spec": tuned, "name": after.name, "metrics": after.evaluation.mean},
        "guard": decision.to_dict(),
        "promoted": decision.promoted,
        "reason": decision.reason,
    }
