"""Our metrics must agree with trec_eval (pytrec_eval) to 1e-6, per query, on real runs."""

from __future__ import annotations

import random

import numpy as np
import pytest

from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.runs import Run
from embedscope.runs.dense import DenseRetriever

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is needed to cross-check metrics")

K = (1, 5, 10, 100)


def trec_measures(qrels, run: Run) -> dict[str, dict[str, float]]:
    """trec_eval's values, named as ours. MRR@k and hit@k come from the run cut at k (trec_eval has no cutoff
    for recip_rank)."""
    scores = {q: dict(d) for q, d in run.scores.items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.1,5,10,100", "P.1,5,10,100", "recall.1,5,10,100", "map_cut.1,5,10,100"})
    raw = ev.evaluate(scores)
    out: dict[str, dict[str, float]] = {}
    for q, m in raw.items():
        for k in K:
            out.setdefault(f"ndcg@{k}", {})[q] = m[f"ndcg_cut_{k}"]
            out.setdefault(f"precision@{k}", {})[q] = m[f"P_{k}"]
            out.setdefault(f"recall@{k}", {})[q] = m[f"recall_{k}"]
            out.setdefault(f"map@{k}", {})[q] = m[f"map_cut_{k}"]
    for k in K:
        cut = run.cut(k)
        # hit@k: any relevant doc retrieved in the run cut at k, i.e. num_rel_ret > 0.
        for q, m in pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "num_rel_ret"}).evaluate(cut.scores).items():
            out.setdefault(f"mrr@{k}", {})[q] = m["recip_rank"]
            out.setdefault(f"hit@{k}", {})[q] = float(m["num_rel_ret"] > 0)
    return out


def assert_agrees(qrels, run: Run):
    metrics = [f"{m}@{k}" for m in ("ndcg", "precision", "recall", "map", "mrr", "hit") for k in K]
    ours = evaluate(qrels, run, metrics).per_query
    theirs = trec_measures(qrels, run)
    for metric in metrics:
        common = set(theirs[metric])
        assert common, metric
        assert set(ours[metric]) >= common
        diffs = [abs(ours[metric][q] - theirs[metric][q]) for q in common]
        assert max(diffs) < 1e-6, f"{metric}: max diff {max(diffs)}"


@pytest.fixture(scope="module")
def bm25():
    return load_model("bm25")


def test_agrees_with_trec_eval_on_synthetic_runs(synthetic, synthetic_runs):
    """Graded qrels with explicit zeros, tied scores, a query missing from a run: built here, no data needed."""
    for run in synthetic_runs.values():
        assert_agrees(synthetic.qrels, run)


def test_agrees_with_trec_eval_on_synthetic_bm25_and_dense(synthetic, bm25, static_model, tmp_path):
    from embedscope.runs.context import RetrievalContext

    assert_agrees(synthetic.qrels, bm25.retrieve(synthetic, 100))
    context = RetrievalContext.of(tmp_path / "cache")
    assert_agrees(synthetic.qrels, context.retriever(static_model).retrieve(synthetic, 100, context))


def test_agrees_with_trec_eval_on_scifact_bm25(scifact, bm25):
    assert_agrees(scifact.qrels, bm25.retrieve(scifact, 100))


def test_agrees_with_trec_eval_on_nfcorpus_graded(nfcorpus, bm25):
    run = bm25.retrieve(nfcorpus, 100)
    assert {g for r in nfcorpus.qrels.values() for g in r.values()} == {1, 2}
    assert_agrees(nfcorpus.qrels, run)


def test_agrees_with_trec_eval_on_dense_run(scifact, static_model, session_cache):
    run = DenseRetriever(static_model, session_cache).retrieve(scifact, 100)
    assert_agrees(scifact.qrels, run)


def test_agrees_with_trec_eval_with_ties_and_missing_queries(nfcorpus):
    """Tied scores are ordered as trec_eval orders them; a judged query without results scores 0."""
    rng = random.Random(3)
    qids = list(nfcorpus.qrels)[:80]
    docs = list(nfcorpus.corpus)
    scores = {}
    for q in qids[:70]:  # 10 judged queries get no results at all
        picks = rng.sample(docs, 50) + rng.sample(list(nfcorpus.qrels[q]), min(5, len(nfcorpus.qrels[q])))
        scores[q] = {d: float(rng.choice([0.1, 0.2, 0.3])) for d in picks}  # heavy ties
    run = Run("ties", scores)
    qrels = {q: nfcorpus.qrels[q] for q in qids}
    assert_agrees(qrels, run)
    ours = evaluate(qrels, run, ["ndcg@10"]).per_query["ndcg@10"]
    assert all(ours[q] == 0 for q in qids[70:])


def test_agrees_with_ranx_means(scifact, bm25):
    ranx = pytest.importorskip("ranx", reason="ranx is needed for this cross-check")
    run = bm25.retrieve(scifact, 100)
    ours = evaluate(scifact.qrels, run, ["ndcg@10", "recall@100", "precision@10", "mrr@10", "hit@10"]).mean
    theirs = ranx.evaluate(ranx.Qrels(scifact.qrels), ranx.Run(run.scores),
                           ["ndcg@10", "recall@100", "precision@10", "mrr@10", "hit_rate@10"])
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg@10"], abs=1e-6)
    assert ours["recall@100"] == pytest.approx(theirs["recall@100"], abs=1e-6)
    assert ours["precision@10"] == pytest.approx(theirs["precision@10"], abs=1e-6)
    assert ours["mrr@10"] == pytest.approx(theirs["mrr@10"], abs=1e-6)
    assert ours["hit@10"] == pytest.approx(theirs["hit_rate@10"], abs=1e-6)


def test_known_values_by_hand():
    qrels = {"q": {"a": 2, "b": 1, "c": 0}}
    run = Run("r", {"q": {"x": 3.0, "a": 2.0, "b": 1.0, "c": 0.5}})
    m = evaluate(qrels, run, ["ndcg@3", "precision@2", "recall@2", "mrr@3", "map@3", "hit@1"]).mean
    dcg = 2 / np.log2(3) + 1 / np.log2(4)
    idcg = 2 / np.log2(2) + 1 / np.log2(3)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["mrr@3"] == pytest.approx(0.5)
    assert m["map@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["hit@1"] == 0.0


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate({"q": {"a": 1}}, Run("r", {}), ["ndgc@10"])
    with pytest.raises(ValueError, match="cutoff"):
        evaluate({"q": {"a": 1}}, Run("r", {}), ["ndcg"])
