"""Cluster-filtered search against plain exact search: same metrics, paired tests, recall vs exact."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.metrics import evaluate
from embedscope.pipelines.cluster_filter import ClusterFilterRetriever
from embedscope.runs.context import RetrievalContext
from embedscope.pipelines.versus import paired_delta, verdict

METRICS = ["ndcg@10", "recall@10"]


@pytest.fixture(scope="module")
def plain(small_set, session_cache):
    run = RetrievalContext.of(session_cache).retriever("tokenlearn").retrieve(small_set, 10)
    return run, evaluate(small_set.qrels, run, METRICS)


def test_probing_every_cluster_is_exact_search(small_set, session_cache, plain):
    run = ClusterFilterRetriever("tokenlearn", clusters=5, probe=5, context=RetrievalContext.of(session_cache)).retrieve(small_set, 10)
    assert run.meta["recall_vs_exact@10"] == 1.0 and run.meta["searched_fraction"] == pytest.approx(1.0)
    for qid in small_set.query_ids:
        assert [d for d, _ in run.ranked(qid)] == [d for d, _ in plain[0].ranked(qid)]
        assert [s for _, s in run.ranked(qid)] == pytest.approx([s for _, s in plain[0].ranked(qid)], abs=1e-5)


def test_one_probe_searches_less_and_the_loss_is_measured(small_set, session_cache, plain):
    run = ClusterFilterRetriever("tokenlearn", clusters=20, probe=1, context=RetrievalContext.of(session_cache)).retrieve(small_set, 10)
    meta = run.meta
    assert meta["searched_fraction"] < 0.25
    # recall vs exact recomputed here from the two runs
    overlap = np.mean([len(set(run.scores[q]) & set(plain[0].scores[q])) / 10 for q in small_set.query_ids])
    assert meta["recall_vs_exact@10"] == pytest.approx(overlap)
    assert overlap < 1.0  # one cluster of twenty misses some exact neighbours on this corpus
    ours = evaluate(small_set.qrels, run, METRICS)
    row = paired_delta(ours, plain[1], "ndcg@10")
    assert row["delta"] == pytest.approx(ours.mean["ndcg@10"] - plain[1].mean["ndcg@10"])
    assert row["wins"] + row["losses"] + row["ties"] == row["queries"] == len(plain[1].per_query["ndcg@10"])
    from scipy import stats

    a = [ours.per_query["ndcg@10"][q] for q in plain[1].per_query["ndcg@10"]]
    b = list(plain[1].per_query["ndcg@10"].values())
    expected = stats.ttest_rel(a, b).pvalue
    assert row["p_ttest"] == pytest.approx(1.0 if np.isnan(expected) else expected)
    assert verdict(row) in ("helps", "hurts", "no significant difference")
    assert set(meta["query_clusters"]) == set(small_set.query_ids)


def test_spec_and_clear_errors(small_set, session_cache):
    from embedscope.models import load_model

    model = load_model("cluster-filter:tokenlearn?k=7&probe=2")
    assert (model.clusters, model.probe) == (7, 2)
    with pytest.raises(ValueError, match="needs an embedding model"):
        load_model("cluster-filter")
    with pytest.raises(ValueError, match="not an embedding model"):
        load_model("cluster-filter:bm25")


def test_pipeline_command_reports_deltas_and_sweep(scifact_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from embedscope.cli import cli

    result = CliRunner().invoke(cli, ["pipeline", "--data", str(scifact_dir), "--max-queries", "20", "--max-docs", "300",
                                      "-b", "tokenlearn", "-m", "cluster-filter:tokenlearn?clusters=8",
                                      "-m", "hybrid:bm25+tokenlearn", "--alpha-sweep", "bm25+tokenlearn",
                                      "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").iterdir())
    report = json.loads((run_dir / "pipelines.json").read_text())
    assert [r["baseline"] for r in report["pipelines"]] == ["tokenlearn-static-64d"] * 2
    assert "recall_vs_exact@100" in report["pipelines"][0]
    assert [r["alpha"] for r in report["alpha_sweep"]] == pytest.approx([i / 10 for i in range(11)])
    results = json.loads((run_dir / "results.json").read_text())
    assert report["alpha_sweep"][-1]["ndcg@10"] == pytest.approx(results["models"][0]["metrics"]["ndcg@10"])


def test_pipelines_run_in_the_context_they_are_given(synthetic, tmp_path, monkeypatch):
    """One retrieval context, passed explicitly: a hybrid's dense stage embeds into the context's cache and
    searches with its similarity; no environment variable is read; cluster-filter scores with the context's
    similarity, so probing every cluster is exact search with that similarity."""
    from embedscope.models import load_model
    from embedscope.pipelines import ClusterFilterRetriever

    monkeypatch.setenv("EMBEDSCOPE_CACHE", str(tmp_path / "not-this-one"))
    context = RetrievalContext(tmp_path / "cache", similarity="dot")
    hybrid = load_model("hybrid:bm25+tokenlearn").retrieve(synthetic, 10, context)
    stage = hybrid.meta["stage_meta"]["tokenlearn-static-64d"]
    assert stage["similarity"] == "dot" and stage["index"] == "exact-dot"
    assert any((tmp_path / "cache").iterdir()) and not (tmp_path / "not-this-one").exists()

    exact = context.retriever("tokenlearn").retrieve(synthetic, 10, context)
    full = ClusterFilterRetriever("tokenlearn", clusters=4, probe=4).retrieve(synthetic, 10, context)
    assert full.meta["similarity"] == "dot" and full.meta["recall_vs_exact@10"] == 1.0
    for qid in synthetic.query_ids:  # the same top-10 scores (the order of exact ties may differ in the last bit)
        assert np.allclose([s for _, s in full.ranked(qid)], [s for _, s in exact.ranked(qid)], atol=1e-5)
