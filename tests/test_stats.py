"""Confidence intervals, paired tests and Holm's correction, checked against ranx, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedscope.runs import Run
from embedscope.stats import (
    analyse,
    bootstrap_means,
    compare_pairs,
    holm,
    minimum_detectable_effect,
    paired_t_test,
    percentile_ci,
    queries_needed,
    randomization_test,
    randomization_tests,
    warnings_for,
)

MODELS = ["bm25", "wordllama", "tokenlearn"]


@pytest.fixture(scope="module", params=["synthetic", pytest.param("nfcorpus", marks=pytest.mark.realdata)])
def nf_comparison(request, tmp_path_factory):
    """BM25 and two static models on graded queries (60 synthetic ones built here, then 50 of NFCorpus when it is
    registered), plus BM25 with noise added to its scores: pairs range from clearly different to not separable,
    so p-values fall all over (0, 1)."""
    from conftest import make_synthetic

    from embedscope.compare import Result, compare
    from embedscope.metrics import evaluate

    if request.param == "synthetic":
        dataset = make_synthetic(n_docs=320, n_queries=60, seed=3)
    else:
        dataset = request.getfixturevalue("nfcorpus_small")
    nfcorpus_small = dataset
    comparison = compare(nfcorpus_small, MODELS, cache_dir=tmp_path_factory.mktemp("cache"), log=lambda m: None)
    bm25 = comparison.results[0].run
    rng = np.random.default_rng(7)
    noisy = Run("bm25-noisy", {q: {d: s + rng.normal(0, 1.0) for d, s in hits.items()}
                               for q, hits in bm25.scores.items()})
    comparison.results.append(Result("bm25-noisy", "bm25+noise", noisy, evaluate(nfcorpus_small.qrels, noisy,
                                                                                   comparison.metrics)))
    return comparison


def ranx_objects(comparison, depth: int = 100):
    """Our qrels and runs as ranx objects. Scores become depth - rank so ranx ranks exactly as we do
    (ties in raw scores could otherwise be broken differently and change the metrics, not the tests)."""
    ranx = pytest.importorskip("ranx")
    from embedscope.metrics.evaluate import evaluated_queries

    qids = evaluated_queries(comparison.dataset.qrels)
    judged = comparison.dataset.qrels
    qrels = ranx.Qrels.from_dict({q: {d: int(g) for d, g in judged[q].items() if g > 0} for q in qids})
    runs = []
    for r in comparison.results:
        ranked = {q: {d: float(depth - i) for i, (d, _) in enumerate(r.run.ranked(q, depth))} for q in qids}
        run = ranx.Run.from_dict({q: hits for q, hits in ranked.items() if hits})
        run.name = r.name
        runs.append(run)
    return ranx, qrels, runs


def test_metric_values_match_ranx(nf_comparison):
    # The p-value checks below are only meaningful if both sides test the same per-query numbers.
    ranx, qrels, runs = ranx_objects(nf_comparison)
    for r, run in zip(nf_comparison.results, runs):
        theirs = ranx.evaluate(qrels, run, "ndcg@10", make_comparable=True)
        assert r.evaluation.mean["ndcg@10"] == pytest.approx(theirs, abs=1e-9)


def test_ttest_p_values_match_ranx_student(nf_comparison):
    ranx, qrels, runs = ranx_objects(nf_comparison)
    report = ranx.compare(qrels, runs, ["ndcg@10", "recall@100"], stat_test="student", make_comparable=True,
                          max_p=0.05)
    results = nf_comparison.results
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            for metric in ("ndcg@10", "recall@100"):
                ours = paired_t_test(a.evaluation.vector(metric), b.evaluation.vector(metric))
                theirs = report.comparisons[a.name, b.name][metric]["p_value"]
                if math.isnan(theirs):  # identical per-query values: we answer p = 1
                    assert ours == 1.0
                else:
                    assert ours == pytest.approx(theirs, abs=1e-9, rel=1e-9)


def test_randomization_p_values_match_ranx_fisher(nf_comparison):
    permutations = 20_000
    ranx, qrels, runs = ranx_objects(nf_comparison)
    report = ranx.compare(qrels, runs, ["ndcg@10"], stat_test="fisher", n_permutations=permutations,
                          random_seed=42, make_comparable=True, max_p=0.05)
    results = nf_comparison.results
    moderate = 0
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            ours = randomization_test(a.evaluation.vector("ndcg@10"), b.evaluation.vector("ndcg@10"), permutations)
            theirs = report.comparisons[a.name, b.name]["ndcg@10"]["p_value"]
            # Two independent Monte-Carlo estimates of the same p: their difference has standard deviation
            # sqrt(2 p (1 - p) / N). Allow 5 of those, plus one permutation's worth.
            p = (ours + theirs) / 2
            assert abs(ours - theirs) <= 5 * math.sqrt(2 * p * (1 - p) / permutations) + 1 / permutations
            moderate += 0.01 < p < 0.9
    assert moderate >= 1, "the fixture should give at least one pair with a p-value away from 0 and 1"


def test_randomization_is_exact_with_few_queries():
    # 5 queries, all better by the same amount: only the all-plus and all-minus flips are as extreme: p = 2/32.
    a = np.array([0.5, 0.6, 0.7, 0.2, 0.9])
    assert randomization_test(a + 0.1, a) == pytest.approx(2 / 32)
    # Enumeration by hand for differences (1, 2, 3): |mean| >= 2 only for +++ and ---.
    assert randomization_test(np.array([1.0, 2.0, 3.0]), np.zeros(3)) == pytest.approx(2 / 8)


def test_identical_runs_are_not_different():
    rng = np.random.default_rng(3)
    a = rng.random(80)
    assert randomization_test(a, a.copy()) == 1.0
    assert paired_t_test(a, a.copy()) == 1.0
    pairs = compare_pairs(["x", "y"], {"ndcg@10": np.column_stack([a, a])})
    assert pairs[0]["verdict"] == "no significant difference" and pairs[0]["better"] is None
    assert pairs[0]["difference_low"] == pairs[0]["difference_high"] == 0.0


def test_better_on_every_query_is_significant():
    rng = np.random.default_rng(4)
    b = rng.random(40) * 0.8
    a = b + 0.05 + rng.random(40) * 0.1
    pairs = compare_pairs(["worse", "better"], {"ndcg@10": np.column_stack([b, a])})
    (pair,) = pairs
    assert pair["significant"] and pair["better"] == "better"
    assert pair["verdict"] == "better better than worse"
    assert pair["p_randomization"] < 1e-3 and pair["p_ttest"] < 1e-3
    assert pair["difference_high"] < 0 and pair["difference"] == pytest.approx(np.mean(b - a))


def test_randomization_tests_columns_are_independent_of_each_other():
    rng = np.random.default_rng(5)
    d = rng.normal(0.02, 0.2, (70, 3))
    together = randomization_tests(d, 5000, seed=1)
    alone = [randomization_tests(d[:, [j]], 5000, seed=1)[0] for j in range(3)]
    assert together == pytest.approx(alone)


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(6)
    for size in (1, 2, 5, 12):
        p = rng.random(size) ** 3
        p[rng.integers(size)] = p[0]  # ties too
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)


def test_holm_by_hand():
    # Sorted 0.01, 0.02, 0.03, 0.5 times 4, 3, 2, 1 -> 0.04, 0.06, 0.06 (running max), 0.5; back in input order.
    np.testing.assert_allclose(holm([0.03, 0.5, 0.01, 0.02]), [0.06, 0.5, 0.04, 0.06])
    assert holm([0.9, 0.8]).max() <= 1.0


def test_bootstrap_interval_contains_mean_and_is_reproducible(nf_comparison):
    values = nf_comparison.results[0].evaluation.vector("ndcg@10")
    low, high = percentile_ci(values, resamples=4000, seed=11)
    assert low < values.mean() < high
    assert (low, high) == percentile_ci(values, resamples=4000, seed=11)
    assert (low, high) != percentile_ci(values, resamples=4000, seed=12)


def test_t_test_matches_scipy_on_many_samples():
    """The t tail is computed here (no scipy.stats import in a run); it must equal scipy's ttest_rel."""
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 400))
        a = rng.random(n)
        b = a + rng.normal(rng.normal(0, 0.05), 0.1, n)
        assert paired_t_test(a, b) == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue, abs=1e-12)


def test_bootstrap_matches_scipy_percentile_interval():
    scipy_stats = pytest.importorskip("scipy.stats")
    values = np.random.default_rng(8).beta(0.7, 1.3, 200)
    low, high = percentile_ci(values, resamples=20_000)
    theirs = scipy_stats.bootstrap((values,), np.mean, method="percentile", n_resamples=20_000,
                                   random_state=np.random.default_rng(1)).confidence_interval
    # Two Monte-Carlo estimates of the same quantiles: within a small share of the interval's width.
    width = high - low
    assert abs(low - theirs.low) < 0.03 * width and abs(high - theirs.high) < 0.03 * width


def test_bootstrap_narrows_with_more_queries(scifact):
    from embedscope.metrics import evaluate
    from embedscope.models import load_model

    bm25 = load_model("bm25")
    small = scifact.subset(n_queries=300, n_docs=2000, seed=2)
    values = evaluate(small.qrels, bm25.retrieve(small, 10), ["ndcg@10"]).vector("ndcg@10")
    widths = [np.subtract(*percentile_ci(values[:n], resamples=3000)[::-1]) for n in (30, 120, len(values))]
    assert widths[0] > widths[1] > widths[2]
    # The width shrinks like 1/sqrt(n): 30 -> 120 queries roughly halves it.
    assert 1.4 < widths[0] / widths[1] < 2.8


def test_bootstrap_means_shape_and_errors():
    assert bootstrap_means(np.ones((10, 3)), resamples=7).shape == (7, 3)
    with pytest.raises(ValueError):
        bootstrap_means(np.ones((0, 2)))
    with pytest.raises(ValueError):
        percentile_ci(np.ones(5), confidence=1.5)


def test_power_numbers():
    rng = np.random.default_rng(9)
    d = rng.normal(0.01, 0.2, 100)
    mde = minimum_detectable_effect(d)
    assert mde == pytest.approx(2.8016 * np.std(d, ddof=1) / 10, rel=1e-3)  # z .975 + z .8 = 1.95996 + 0.84162
    needed = queries_needed(d)
    assert needed > 100  # observed difference is below the detectable one
    # At the queries needed, the observed difference is exactly detectable.
    assert minimum_detectable_effect(d) * math.sqrt(100 / needed) <= abs(d.mean()) * 1.01
    assert queries_needed(np.zeros(10)) is None and minimum_detectable_effect(np.ones(1)) is None


def test_warnings_for_small_or_inseparable_query_sets():
    rng = np.random.default_rng(10)
    a = rng.random(20)
    b = a + rng.normal(0, 0.2, 20)
    pairs = compare_pairs(["a", "b"], {"ndcg@10": np.column_stack([a, b])})
    warnings = warnings_for(pairs, "ndcg@10", 20)
    assert any("fewer than 30" in w for w in warnings)
    assert any("cannot be told apart" in w for w in warnings)
    clear = compare_pairs(["a", "b"], {"ndcg@10": np.column_stack([a + 0.5, a])})
    assert warnings_for(clear, "ndcg@10", 200) == []


def test_analyse_comparison(nf_comparison):
    result = analyse(nf_comparison, resamples=2000, permutations=2000)
    names = result["significance"]["order"]
    main = nf_comparison.main_metric
    means = [nf_comparison.result(n).evaluation.mean[main] for n in names]
    assert means == sorted(means, reverse=True) and len(names) == 4
    pairs = [p for p in result["significance"]["pairs"] if p["metric"] == main]
    assert len(pairs) == 6 and len(result["significance"]["pairs"]) == 6 * len(nf_comparison.metrics)
    # Holm across the six pairs of one metric, as statsmodels does it.
    np.testing.assert_allclose([p["p_randomization_holm"] for p in pairs], holm([p["p_randomization"] for p in pairs]))
    for p in pairs:
        assert p["significant"] == (p["p_randomization_holm"] < 0.05)
        assert p["difference"] == pytest.approx(p["mean_a"] - p["mean_b"])
        assert p["difference_low"] <= p["difference"] <= p["difference_high"]
    for name in names:
        ci = result["confidence_intervals"]["models"][name][main]
        assert ci["low"] <= ci["mean"] <= ci["high"]
    assert result == analyse(nf_comparison, resamples=2000, permutations=2000)  # seeded: same numbers again


def test_analyse_without_qrels_or_with_one_model(nf_comparison):
    from embedscope.compare import Comparison, Result

    unjudged = Comparison(nf_comparison.dataset, nf_comparison.metrics,
                          [Result(r.name, r.spec, r.run, None) for r in nf_comparison.results], 10)
    assert analyse(unjudged) == {}
    single = Comparison(nf_comparison.dataset, nf_comparison.metrics, nf_comparison.results[:1], 10)
    result = analyse(single, resamples=500)
    assert result["significance"]["pairs"] == [] and result["per_query"]["disagreements"] == []
    assert list(result["confidence_intervals"]["models"]) == [nf_comparison.results[0].name]


def test_kept_draws_give_the_fresh_statistics_after_a_few_queries_change():
    """Resampled keeps the draws and their means: after some rows change, the same numbers as drawing afresh."""
    from embedscope.stats import bootstrap_means, randomization_tests
    from embedscope.stats.resampled import KeptDraws

    rng = np.random.default_rng(4)
    n, columns = 60, (("ndcg@10", "a"), ("ndcg@10", "b"), ("ndcg@10", "c"))
    values = rng.random((n, 3))
    values[:, 2] = values[:, 1]  # c identical to b: p = 1 whatever the draws
    kept = KeptDraws()
    draws = kept.get(n, 500, 400, 0)
    draws.sync(columns, values)
    for rows in ([3], [7, 41], [0, 59]):  # a few queries change their scores, one sync after another
        values[rows, :2] = rng.random((len(rows), 2))
        values[:, 2] = values[:, 1]
        assert kept.get(n, 500, 400, 0) is draws  # the same draws, kept
        draws.sync(columns, values)
        diffs = np.column_stack([values[:, 0] - values[:, 1], values[:, 1] - values[:, 2]])
        assert draws.means([(0, None), (1, None), (2, None)]) == pytest.approx(bootstrap_means(values, 500, 0), abs=1e-12)
        assert draws.means([(0, 1), (1, 2)]) == pytest.approx(bootstrap_means(diffs, 500, 0), abs=1e-12)
        p = draws.p_values([(0, 1), (1, 2)], diffs.mean(axis=0))
        assert p.tolist() == randomization_tests(diffs, 400, 0).tolist() and p[1] == 1.0
    assert kept.get(n + 1, 500, 400, 0) is not draws  # another number of queries draws afresh
    assert kept.get(10**6, 10_000, 10_000, 0) is None  # too large to keep: the caller draws afresh each time
