"""Trustworthy comparisons: confidence intervals, paired significance tests, per-query analysis.

`analyse(comparison)` returns the dict that `write_outputs` merges into results.json. Its keys:

confidence_intervals
    method ("percentile bootstrap over queries"), confidence (0.95), resamples, seed, queries (n),
    models: {model: {metric: {mean, low, high}}}
significance
    main_metric, alpha, test, second_opinion (descriptions), permutations, seed, queries,
    order: model names best first by the main metric,
    pairs: one entry per (metric, model pair) with
        metric, a, b                 the pair, a ranked above b on the main metric
        mean_a, mean_b, difference   difference = mean over queries of (a - b): the effect
        difference_low/high          its percentile-bootstrap interval
        p_randomization(_holm)       paired two-sided randomization test, raw and Holm-adjusted
        p_ttest(_holm)               paired two-sided t-test, raw and Holm-adjusted
        significant                  p_randomization_holm < alpha
        better                       name of the better model, or null when not significant
        verdict                      "A better than B" or "no significant difference"
        minimum_detectable_effect    difference detectable with 80% power at alpha, from the observed variance
        queries_needed               queries needed to detect the observed difference (null when it is 0)
    warnings: plain sentences when the query set is too small to separate the models
per_query
    metric (the main metric), k,
    win_tie_loss: [{a, b, wins, ties, losses}]  queries where a scores above / equal to / below b,
    disagreements: [{query_id, query, spread, scores: {model: value}, best, worst, marks: {model: "✅❌?⚪"}}]
        the queries with the largest best-minus-worst spread, largest first; marks are the top-k hits.

Holm's correction runs over the model pairs of one metric at a time. `side_by_side(dataset, runs, qid, k)`
gives the full top-k of each model for one query as data (see per_query.py).
"""

from embedscope.stats.analysis import analyse
from embedscope.stats.bootstrap import bootstrap_means, percentile_ci
from embedscope.stats.holm import holm
from embedscope.stats.per_query import MARKS, disagreements, relevance_label, side_by_side, top_grade, win_tie_loss
from embedscope.stats.power import minimum_detectable_effect, queries_needed
from embedscope.stats.randomization import randomization_test, randomization_tests
from embedscope.stats.ttest import paired_t_test
from embedscope.stats.verdicts import compare_pairs, warnings_for

__all__ = [
    "MARKS", "analyse", "bootstrap_means", "compare_pairs", "disagreements", "holm", "minimum_detectable_effect",
    "paired_t_test", "percentile_ci", "queries_needed", "randomization_test", "randomization_tests",
    "relevance_label", "side_by_side", "top_grade", "warnings_for", "win_tie_loss",
]
