"""Hybrid fusion checked against ranx on the same BM25 and dense runs of a SciFact subset."""

from __future__ import annotations

import math

import pytest

from embedscope.pipelines import fusion
from embedscope.runs.context import RetrievalContext
from embedscope.pipelines.hybrid import HybridRetriever, alpha_sweep
from embedscope.runs import Run

ranx = pytest.importorskip("ranx", reason="ranx is the reference for fusion (test extra)")


@pytest.fixture(scope="module")
def stage_runs(small_set, session_cache):
    stages = RetrievalContext.of(session_cache)
    bm25 = stages.retriever("bm25").retrieve(small_set, 50)
    dense = stages.retriever("tokenlearn").retrieve(small_set, 50)
    return bm25, dense


def to_ranx(run: Run):
    return ranx.Run({q: dict(s) for q, s in run.scores.items() if s}, name=run.name)


def assert_same_scores(ours: Run, theirs, qids):
    theirs = theirs.to_dict()
    for qid in qids:
        assert set(ours.scores[qid]) == set(theirs[qid])
        for did, score in ours.scores[qid].items():
            assert math.isclose(score, theirs[qid][did], rel_tol=0, abs_tol=1e-9), (qid, did)


def shared_queries(a: Run, b: Run):
    return [q for q in a.scores if a.scores[q] and b.scores.get(q)]


def restrict(run: Run, qids) -> Run:
    return Run(run.name, {q: run.scores[q] for q in qids})


def untie(run: Run) -> Run:
    return Run(run.name, {q: {d: float(1000 - i) for i, (d, _) in enumerate(run.ranked(q))} for q in run.scores})


def test_rrf_matches_ranx(stage_runs):
    bm25, dense = stage_runs
    qids = shared_queries(bm25, dense)
    # Tied scores are ordered trec_eval's way here and another way in ranx; rank-valued scores (our order)
    # give both the same ranks, so what is compared is the fusion arithmetic itself.
    runs = [untie(restrict(bm25, qids)), untie(restrict(dense, qids))]
    for k in (60, 10):
        ours = fusion.rrf(runs, k=k)
        theirs = ranx.fuse([to_ranx(r) for r in runs], norm=None, method="rrf", params={"k": k})
        assert_same_scores(ours, theirs, qids)


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.3, 0.7), (1.0, 0.0)])
def test_weighted_min_max_matches_ranx_wsum(stage_runs, weights):
    bm25, dense = stage_runs
    qids = shared_queries(bm25, dense)
    runs = [restrict(bm25, qids), restrict(dense, qids)]
    ours = fusion.weighted_sum(runs, weights=list(weights), norm="min-max")
    theirs = ranx.fuse([to_ranx(r) for r in runs], norm="min-max", method="wsum", params={"weights": list(weights)})
    assert_same_scores(ours, theirs, qids)


def test_z_score_fusion_puts_unretrieved_docs_at_the_list_minimum():
    a = Run("a", {"q": {"d1": 3.0, "d2": 1.0}})
    b = Run("b", {"q": {"d2": 10.0, "d3": 0.0}})
    fused = fusion.weighted_sum([a, b], [0.5, 0.5], norm="z-score").scores["q"]
    # Each list has two scores: z = +1 / -1. d1 is missing from b (gets b's minimum -1), d3 from a (-1).
    assert fused == pytest.approx({"d1": 0.0, "d2": 0.0, "d3": -1.0})


def test_hybrid_retriever_is_scored_like_any_model(small_set, session_cache, stage_runs, tmp_path):
    from embedscope.compare import compare
    from embedscope.metrics import evaluate

    hybrid = HybridRetriever(["bm25", "tokenlearn"], fusion="rrf", depth=50, context=RetrievalContext.of(session_cache))
    run = hybrid.retrieve(small_set, 10)
    assert all(len(s) <= 10 for s in run.scores.values())
    expected = fusion.rrf(list(stage_runs), k=60).cut(10)
    qid = next(iter(expected.scores))
    assert [d for d, _ in run.ranked(qid)] == [d for d, _ in expected.ranked(qid)]
    # Named as a model spec, through compare(), with the same metrics as every model.
    comparison = compare(small_set, ["hybrid:bm25+tokenlearn?fusion=min-max&alpha=0.6"], k=10, depth=20,
                         cache_dir=session_cache.root, log=lambda m: None)
    result = comparison.results[0]
    assert result.run.meta["kind"] == "hybrid" and result.run.meta["weights"] == pytest.approx([0.4, 0.6])
    assert result.evaluation.mean["ndcg@10"] == pytest.approx(evaluate(small_set.qrels, result.run, ["ndcg@10"]).mean["ndcg@10"])


def test_alpha_sweep_endpoints_are_the_single_stages(small_set, stage_runs):
    from embedscope.metrics import evaluate

    bm25, dense = stage_runs
    rows = alpha_sweep(small_set.qrels, [bm25, dense], [0.0, 0.5, 1.0], ["ndcg@10"], k=10)
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0]
    # alpha = 1 ranks by the dense scores alone (min-max keeps the order); docs only BM25 found score 0 and sit below.
    assert rows[-1]["ndcg@10"] == pytest.approx(evaluate(small_set.qrels, dense, ["ndcg@10"]).mean["ndcg@10"])
    assert rows[0]["ndcg@10"] == pytest.approx(evaluate(small_set.qrels, bm25, ["ndcg@10"]).mean["ndcg@10"], abs=0.02)


def test_bad_hybrid_specs_say_what_is_wrong():
    from embedscope.models import load_model

    with pytest.raises(ValueError, match="needs at least two stages joined by"):
        load_model("hybrid:bm25")
    with pytest.raises(ValueError, match="fusion must be one of"):
        load_model("hybrid:bm25+tokenlearn?fusion=max")
    with pytest.raises(ValueError, match="2 weights given for 3|3 weights given for 2"):
        fusion.weighted_sum([Run("a", {}), Run("b", {})], [0.1, 0.2, 0.7])
