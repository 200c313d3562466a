"""MTEB result import and the agreement between leaderboard order and own-data order."""

from __future__ import annotations

import csv
import json

import pytest

from embedscope.data import DataError
from embedscope.references import agreement, read_mteb_result, read_references, task_for


def write_result(folder, model, task, ndcg, fmt="new"):
    d = folder / model.replace("/", "__") / "rev1"
    d.mkdir(parents=True, exist_ok=True)
    if fmt == "new":
        data = {"task_name": task, "mteb_version": "1.12.75", "dataset_revision": "x",
                "scores": {"test": [{"hf_subset": "default", "languages": ["eng-Latn"], "ndcg_at_10": ndcg,
                                     "recall_at_100": 0.9, "main_score": ndcg}]}}
        (d / "model_meta.json").write_text(json.dumps({"name": model, "revision": "rev1"}))
    else:
        data = {"mteb_dataset_name": task, "test": {"ndcg_at_10": ndcg, "map_at_10": 0.5}}
    (d / f"{task}.json").write_text(json.dumps(data))
    return d / f"{task}.json"


def test_reads_both_formats(tmp_path):
    new = read_mteb_result(write_result(tmp_path, "org/model-a", "SciFact", 0.70))
    assert new[0].model == "org/model-a" and new[0].task == "SciFact" and new[0].metrics["ndcg@10"] == 0.70
    assert new[0].metrics["recall@100"] == 0.9
    old = read_mteb_result(write_result(tmp_path, "org/model-b", "SciFact", 0.60, fmt="old"))
    assert old[0].model == "org/model-b" and old[0].metrics == {"ndcg@10": 0.60, "map@10": 0.5}


def test_folder_import_filters_task(tmp_path):
    write_result(tmp_path, "org/a", "SciFact", 0.7)
    write_result(tmp_path, "org/a", "NFCorpus", 0.3)
    write_result(tmp_path, "org/b", "SciFact", 0.6)
    refs = read_references([tmp_path], task="scifact")
    assert sorted(r.model for r in refs) == ["org/a", "org/b"]
    assert task_for("scifact-sub50q500d") == "SciFact" and task_for("nfcorpus") == "NFCorpus"


def test_bad_result_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="malformed JSON"):
        read_mteb_result(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(DataError, match="not an MTEB result"):
        read_mteb_result(tmp_path / "y.json")


def test_agreement_against_scipy_and_published_reference(scifact_small):
    """Published SciFact scores vs own-data scores measured here: tau/rho agree with scipy, flips are listed."""
    from scipy.stats import kendalltau, spearmanr

    own = {"a": 0.50, "b": 0.60, "c": 0.70, "d": 0.40}
    ref = {"a": 0.65, "b": 0.55, "c": 0.75, "d": 0.30}
    ag = agreement(own, ref, "SciFact")
    assert ag.kendall_tau == pytest.approx(kendalltau([0.65, 0.55, 0.75, 0.30], [0.5, 0.6, 0.7, 0.4]).statistic)
    assert ag.spearman_rho == pytest.approx(spearmanr([0.65, 0.55, 0.75, 0.30], [0.5, 0.6, 0.7, 0.4]).statistic)
    assert ag.inversions == [("a", "b")]
    assert ag.warning is None  # same best model, tau 0.67

    flipped = agreement({"a": 0.7, "b": 0.6, "c": 0.5}, {"a": 0.5, "b": 0.6, "c": 0.7}, "SciFact")
    assert flipped.kendall_tau == pytest.approx(-1.0)
    assert "not the best on your data" in flipped.warning and "Kendall's tau is -1.00" in flipped.warning


def test_real_reference_table_lines_up_with_own_scores(scifact, tmp_path):
    """The shared reference table's MiniLM and BM25 SciFact rows against BM25 and MiniLM measured here."""
    from conftest import SHARED

    table = SHARED / "reference" / "mteb_ndcg10.tsv"
    if not table.exists():
        pytest.skip(f"{table} not found")
    rows = list(csv.DictReader(open(table, encoding="utf-8"), delimiter="\t"))
    ref = {r["model"]: float(r["ndcg_at_10"]) for r in rows if r["task"] == "SciFact"}
    assert ref["BM25 (Anserini flat)"] > ref["sentence-transformers/all-MiniLM-L6-v2"]
    from embedscope.metrics import evaluate
    from embedscope.models import load_model

    own_bm25 = evaluate(scifact.qrels, load_model("bm25").retrieve(scifact, 10), ["ndcg@10"]).mean["ndcg@10"]
    assert abs(own_bm25 - ref["BM25 (Anserini flat)"]) < 0.01  # bm25s with Anserini's settings


def test_run_shows_published_scores_and_imported_models(tmp_path, scifact_dir):
    """`embedscope run --reference DIR`: card scores beside own scores, an imported model as a reference row."""
    import subprocess
    import sys

    write_result(tmp_path / "mteb", "org/model-we-cannot-run", "SciFact", 0.7512)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "embedscope", "run", "--data", str(scifact_dir), "-m", "minilm", "-m", "bm25",
         "-m", "tokenlearn", "--max-queries", "40", "--max-docs", "400", "--reference", str(tmp_path / "mteb"),
         "-o", str(out), "--cache", str(tmp_path / "cache"), "-q"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (run_dir,) = list(out.iterdir())
    refs = json.loads((run_dir / "results.json").read_text())["references"]
    assert refs["task"] == "SciFact" and refs["metric"] == "ndcg@10"
    by_model = {r["model"]: r for r in refs["models"]}
    assert by_model["all-MiniLM-L6-v2"]["reference"] == 0.6451
    assert by_model["bm25"]["reference"] == 0.6789
    assert by_model["tokenlearn-static-64d"]["reference"] is None
    assert refs["reference_only"][0]["model"] == "org/model-we-cannot-run"
    assert refs["reference_only"][0]["metrics"]["ndcg@10"] == 0.7512
    assert len(refs["agreement"]["rows"]) == 2
    summary = (run_dir / "summary.md").read_text()
    assert "Published scores vs your data" in summary and "org/model-we-cannot-run (reference only)" in summary
