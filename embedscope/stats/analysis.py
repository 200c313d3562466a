"""From a Comparison to the statistics every report shows (see the package docstring for the keys)."""

from __future__ import annotations

import numpy as np

from embedscope.stats.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_means
from embedscope.stats.per_query import disagreements, marks_line, top_grade, win_tie_loss
from embedscope.stats.randomization import DEFAULT_PERMUTATIONS
from embedscope.stats.verdicts import compare_pairs, warnings_for


def score_matrix(evaluations, metric: str, query_ids: list[str]) -> np.ndarray:
    """Per-query values of `metric`, n queries x models, in query_ids order (a query a model lacks scores 0)."""
    return np.array([[e.per_query[metric].get(q, 0.0) for e in evaluations] for q in query_ids], dtype=float)


def analyse(
    comparison,
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    top_disagreements: int = 10,
    draws=None,
) -> dict:
    """Confidence intervals, pairwise significance and per-query analysis; {} when there are no judgments.

    comparison.settings["stats"], when present, overrides these options (same names). draws (a
    `embedscope.stats.resampled.KeptDraws`) keeps the resamples and sign flips between analyses of the same
    queries, so the next analysis adds in only the queries whose scores changed (same numbers, far less work).
    """
    results = [r for r in comparison.results if r.evaluation is not None]
    if not results:
        return {}
    opts = {"alpha": alpha, "confidence": confidence, "resamples": resamples, "permutations": permutations,
            "seed": seed, "top_disagreements": top_disagreements} | dict(comparison.settings.get("stats") or {})
    main = comparison.main_metric
    # Only metrics every model was scored on (pipelines may add their own evaluations).
    metrics = [m for m in comparison.metrics if all(m in r.evaluation.per_query for r in results)]
    if main not in metrics:
        return {}
    # Best first by the main metric, as the leaderboard shows them: pair (a, b) then reads "leader vs follower".
    results = sorted(results, key=lambda r: -r.evaluation.mean[main])
    names = [r.name for r in results]
    query_ids = results[0].evaluation.query_ids
    n = len(query_ids)
    if n == 0:
        return {}
    scores = {m: score_matrix([r.evaluation for r in results], m, query_ids) for m in metrics}

    kept = draws.get(n, opts["resamples"], opts["permutations"], opts["seed"]) if draws is not None else None
    if kept is not None:  # columns in a fixed order (the ranking may change between analyses)
        columns = tuple((m, name) for m in metrics for name in sorted(names))
        kept.sync(columns, np.column_stack([scores[m][:, names.index(name)] for m, name in columns]))
        boot = kept.means([(kept.column(m, name), None) for m in metrics for name in names])
    else:
        boot = bootstrap_means(np.column_stack(list(scores.values())), opts["resamples"], opts["seed"])
    tail = (1 - opts["confidence"]) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    intervals: dict[str, dict] = {name: {} for name in names}
    for mi, metric in enumerate(scores):
        for j, name in enumerate(names):
            col = mi * len(names) + j
            intervals[name][metric] = {"mean": float(scores[metric][:, j].mean()),
                                       "low": float(low[col]), "high": float(high[col])}

    pairs = compare_pairs(names, scores, alpha=opts["alpha"], confidence=opts["confidence"],
                          permutations=opts["permutations"], resamples=opts["resamples"], seed=opts["seed"],
                          resampled=kept)
    worst = disagreements(names, query_ids, scores[main], opts["top_disagreements"], comparison.dataset.queries)
    k, top = comparison.k, top_grade(comparison.dataset.qrels)
    for row in worst:
        row["marks"] = {r.name: marks_line(comparison.dataset, r.run, row["query_id"], k, top) for r in results}
    return {
        "confidence_intervals": {
            "method": "percentile bootstrap over queries",
            "confidence": opts["confidence"], "resamples": opts["resamples"], "seed": opts["seed"], "queries": n,
            "models": intervals,
        },
        "significance": {
            "main_metric": main,
            "alpha": opts["alpha"],
            "test": "paired two-sided randomization test (sign flips), Holm-corrected across pairs per metric",
            "second_opinion": "paired two-sided t-test (scipy.stats.ttest_rel), Holm-corrected the same way",
            "permutations": opts["permutations"], "seed": opts["seed"], "queries": n,
            "order": names,
            "pairs": pairs,
            "warnings": warnings_for(pairs, main, n, opts["alpha"]),
        },
        "per_query": {
            "metric": main,
            "k": k,
            "win_tie_loss": win_tie_loss(names, scores[main]),
            "disagreements": worst,
        },
    }
