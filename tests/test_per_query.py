"""Per-query analysis: relevance marks, win/tie/loss, disagreements, side-by-side view, reports and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedscope.data import Dataset, Document
from embedscope.runs import Run
from embedscope.stats import MARKS, disagreements, relevance_label, side_by_side, top_grade, win_tie_loss


@pytest.fixture(scope="module", params=["synthetic", pytest.param("nfcorpus", marks=pytest.mark.realdata)])
def nf_comparison(request, tmp_path_factory):
    """BM25 and a static model on graded (1-2) queries: synthetic ones, then NFCorpus's when registered."""
    from conftest import make_synthetic

    from embedscope.compare import compare

    dataset = (make_synthetic(n_docs=400, n_queries=40, seed=2) if request.param == "synthetic"
               else request.getfixturevalue("nfcorpus_small"))
    return compare(dataset, ["bm25", "tokenlearn"], cache_dir=tmp_path_factory.mktemp("cache"), log=lambda m: None)


def toy_dataset(grades: dict[str, int]) -> Dataset:
    corpus = {d: Document(d, f"text of {d}", f"title {d}") for d in ["a", "b", "c", "d", "e"]}
    return Dataset("toy", corpus, {"q1": "a question"}, {"q1": grades})


def test_labels_with_graded_qrels():
    ds = toy_dataset({"a": 2, "b": 1, "c": 0})
    run = Run("r", {"q1": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0}})
    view = side_by_side(ds, [run], "q1", k=3)
    assert [h["label"] for h in view["models"][0]["hits"]] == ["relevant", "partial", "not_relevant"]
    assert [h["mark"] for h in view["models"][0]["hits"]] == ["✅", "⚪", "❌"]
    view = side_by_side(ds, [run], "q1", k=10)
    assert view["models"][0]["hits"][3]["mark"] == "?" and view["models"][0]["relevant_found"] == 2
    assert view["missed"] == []


def test_labels_with_binary_qrels():
    ds = toy_dataset({"a": 1, "e": 1, "c": 0})
    assert top_grade(ds.qrels) == 1
    run = Run("r", {"q1": {"a": 1.0, "c": 0.5, "b": 0.1}})
    view = side_by_side(ds, {"mine": run}, "q1", k=10)
    assert "".join(h["mark"] for h in view["models"][0]["hits"]) == "✅❌?"
    assert [m["doc_id"] for m in view["missed"]] == ["e"] and view["relevant_total"] == 2
    assert relevance_label(None, 1) == "unjudged" and set(MARKS) == {"relevant", "partial", "not_relevant", "unjudged"}


def test_side_by_side_on_real_graded_runs(nf_comparison):
    ds = nf_comparison.dataset
    assert top_grade(ds.qrels) == 2  # grades 1-2 (and 0)
    qid = next(iter(ds.qrels))
    runs = {r.name: r.run for r in nf_comparison.results}
    view = side_by_side(ds, runs, qid, k=10)
    assert [m["name"] for m in view["models"]] == list(runs)
    for model in view["models"]:
        ranked = runs[model["name"]].ranked(qid, 10)
        assert [h["doc_id"] for h in model["hits"]] == [d for d, _ in ranked]
        for h in model["hits"]:
            grade = ds.qrels[qid].get(h["doc_id"])
            expected = "?" if grade is None else "❌" if grade <= 0 else "✅" if grade == 2 else "⚪"
            assert h["mark"] == expected and h["grade"] == grade
    shown = {h["doc_id"] for m in view["models"] for h in m["hits"]}
    relevant = {d for d, g in ds.qrels[qid].items() if g > 0}
    assert {m["doc_id"] for m in view["missed"]} == relevant - shown
    with pytest.raises(ValueError, match="not in dataset"):
        side_by_side(ds, runs, "no-such-query")


def test_win_tie_loss_and_disagreements():
    scores = np.array([[0.5, 0.5, 0.1], [1.0, 0.0, 0.5], [0.2, 0.3, 0.2], [0.7, 0.7, 0.7]])
    wtl = win_tie_loss(["x", "y", "z"], scores)
    assert wtl[0] == {"a": "x", "b": "y", "wins": 1, "ties": 2, "losses": 1}
    assert wtl[1] == {"a": "x", "b": "z", "wins": 2, "ties": 2, "losses": 0}
    top = disagreements(["x", "y", "z"], ["q0", "q1", "q2", "q3"], scores, top=10, queries={"q1": "text"})
    assert [d["query_id"] for d in top] == ["q1", "q0", "q2"]  # q3: all equal, no disagreement
    assert top[0]["spread"] == 1.0 and top[0]["best"] == "x" and top[0]["worst"] == "y" and top[0]["query"] == "text"


def test_win_tie_loss_on_real_runs_adds_up(nf_comparison):
    a, b = nf_comparison.results
    va, vb = a.evaluation.vector("ndcg@10"), b.evaluation.vector("ndcg@10")
    (row,) = win_tie_loss([a.name, b.name], np.column_stack([va, vb]))
    assert row["wins"] + row["ties"] + row["losses"] == len(va)
    assert row["wins"] == int((va > vb + 1e-9).sum()) and row["losses"] == int((vb > va + 1e-9).sum())


def test_outputs_carry_statistics(nf_comparison, tmp_path):
    from embedscope.report import write_outputs

    paths = write_outputs(nf_comparison, tmp_path)
    results = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert {"confidence_intervals", "significance", "per_query"} <= set(results)
    main = nf_comparison.main_metric
    assert results["significance"]["main_metric"] == main
    assert results["per_query"]["disagreements"][0]["marks"]
    for name, metrics in results["confidence_intervals"]["models"].items():
        assert metrics[main]["mean"] == pytest.approx(nf_comparison.result(name).evaluation.mean[main])
    summary = paths["summary"].read_text(encoding="utf-8")
    for heading in ("## Confidence intervals", f"## Significance ({main})", "## Per query"):
        assert heading in summary
    top = results["per_query"]["disagreements"][0]["query_id"]
    assert f"| {top} |" in summary


@pytest.mark.parametrize("data", ["synthetic_dir", pytest.param("scifact_dir", marks=pytest.mark.realdata)])
def test_run_then_show_end_to_end(data, tmp_path, request):
    from embedscope.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["run", "--data", str(request.getfixturevalue(data)), "--max-queries", "25", "--max-docs", "300",
                              "-m", "bm25", "-m", "tokenlearn", "-o", str(tmp_path / "runs"),
                              "--cache", str(tmp_path / "cache"), "-q"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "Holm" in out.output
    assert "better than" in out.output or "no significant difference" in out.output
    assert "fewer than 30" in out.output  # 24 or 25 queries: the small-sample warning shows
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))

    shown = runner.invoke(cli, ["show", str(run_dir), "-d", "2", "--hits", "5"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    for d in results["per_query"]["disagreements"][:2]:
        assert f"query {d['query_id']}:" in shown.output
    assert "✅" in shown.output

    qid = next(iter(results["per_query"]["disagreements"]))["query_id"]
    one = runner.invoke(cli, ["show", str(run_dir), "--query", qid, "--only", "bm25"], catch_exceptions=False)
    assert one.exit_code == 0 and f"query {qid}:" in one.output and "tokenlearn" not in one.output
    bad = runner.invoke(cli, ["show", str(run_dir), "--query", "no-such-query"])
    assert bad.exit_code != 0 and "no-such-query" in bad.output
