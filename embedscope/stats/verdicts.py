"""Every pair of models on every metric: paired tests, Holm correction, effect with its CI, and a verdict.

The verdict rests on the randomization test after Holm's correction across all pairs of the same metric;
the paired t-test is reported beside it as a second opinion. The effect is the mean per-query difference
(a - b) with a percentile-bootstrap interval drawn from the same resamples as the per-model intervals.
"""

from __future__ import annotations

import itertools

import numpy as np

from embedscope.stats.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_means
from embedscope.stats.holm import holm
from embedscope.stats.power import minimum_detectable_effect, queries_needed
from embedscope.stats.randomization import DEFAULT_PERMUTATIONS, randomization_tests
from embedscope.stats.ttest import paired_t_test

SMALL_QUERY_SET = 30


def verdict_text(a: str, b: str, difference: float, significant: bool) -> str:
    if not significant:
        return "no significant difference"
    return f"{a} better than {b}" if difference > 0 else f"{b} better than {a}"


def compare_pairs(
    names: list[str],
    scores: dict[str, np.ndarray],
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    permutations: int = DEFAULT_PERMUTATIONS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    resampled=None,
) -> list[dict]:
    """One entry per (metric, pair). scores[metric] is (n queries x len(names)), columns in `names` order.

    Pairs are (names[i], names[j]) with i < j, so with names ordered best first `a` is the leader.
    resampled: a `embedscope.stats.resampled.Resampled` already synced with these scores (its draws, no new ones).
    """
    pairs = list(itertools.combinations(range(len(names)), 2))
    if not pairs:
        return []
    metrics = list(scores)
    # One column per (metric, pair): all tests share sign flips, all intervals share resamples.
    diffs = np.column_stack([scores[m][:, i] - scores[m][:, j] for m in metrics for i, j in pairs])
    if resampled is not None:
        combos = [(resampled.column(m, names[i]), resampled.column(m, names[j])) for m in metrics for i, j in pairs]
        p_rand, boot = resampled.p_values(combos, diffs.mean(axis=0)), resampled.means(combos)
    else:
        p_rand = randomization_tests(diffs, permutations, seed)
        boot = bootstrap_means(diffs, resamples, seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    out = []
    for mi, metric in enumerate(metrics):
        cols = range(mi * len(pairs), (mi + 1) * len(pairs))
        p_t = [paired_t_test(scores[metric][:, i], scores[metric][:, j]) for i, j in pairs]
        rand_holm, t_holm = holm(p_rand[list(cols)]), holm(p_t)
        for k, (col, (i, j)) in enumerate(zip(cols, pairs)):
            d = diffs[:, col]
            difference = float(d.mean())
            significant = bool(rand_holm[k] < alpha)
            better = (names[i] if difference > 0 else names[j]) if significant else None
            out.append({
                "metric": metric,
                "a": names[i],
                "b": names[j],
                "mean_a": float(scores[metric][:, i].mean()),
                "mean_b": float(scores[metric][:, j].mean()),
                "difference": difference,
                "difference_low": float(low[col]),
                "difference_high": float(high[col]),
                "p_randomization": float(p_rand[col]),
                "p_randomization_holm": float(rand_holm[k]),
                "p_ttest": p_t[k],
                "p_ttest_holm": float(t_holm[k]),
                "significant": significant,
                "better": better,
                "verdict": verdict_text(names[i], names[j], difference, significant),
                "minimum_detectable_effect": minimum_detectable_effect(d, alpha),
                "queries_needed": queries_needed(d, alpha),
            })
    return out


def warnings_for(pairs: list[dict], metric: str, n_queries: int, alpha: float = 0.05) -> list[str]:
    """Plain warnings when the query set is too small to separate the models on `metric`.

    Three checks: fewer than 30 queries; a non-significant pair whose observed difference is below the
    minimum detectable effect (80% power at alpha, from the observed variance); no pair significant at all.
    """
    out = []
    if n_queries < SMALL_QUERY_SET:
        out.append(f"only {n_queries} judged quer{'y' if n_queries == 1 else 'ies'} (fewer than {SMALL_QUERY_SET}): "
                   "treat the intervals and p-values as rough")
    mine = [p for p in pairs if p["metric"] == metric]
    for p in mine:
        mde = p["minimum_detectable_effect"]
        if p["significant"] or mde is None or abs(p["difference"]) >= mde:
            continue
        needed = f"; about {p['queries_needed']:,} queries would be needed" if p["queries_needed"] else ""
        out.append(
            f"{p['a']} vs {p['b']}: the {metric} difference {p['difference']:+.4f} is below the smallest difference "
            f"{n_queries} queries can reliably detect (±{p['minimum_detectable_effect']:.4f} at 80% power, "
            f"alpha {alpha}){needed}"
        )
    if mine and not any(p["significant"] for p in mine):
        out.append(f"no pair of models differs significantly on {metric}: on these queries they cannot be told apart")
    return out
