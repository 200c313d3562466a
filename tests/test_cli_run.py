"""`embedscope run` end to end: a comparison on synthetic data built here and on a SciFact subset (when registered),
its outputs, the YAML form, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from embedscope.metrics import evaluate
from embedscope.runs import Run


def embedscope(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module", params=["synthetic", pytest.param("scifact", marks=pytest.mark.realdata)])
def source(request, tmp_path_factory):
    """(BEIR folder, its dataset): 480 synthetic documents and 48 queries, or SciFact."""
    from conftest import make_synthetic, write_beir_folder

    from embedscope.data import load_beir

    if request.param == "synthetic":
        folder = write_beir_folder(make_synthetic(n_docs=480, n_queries=48, seed=5),
                                   tmp_path_factory.mktemp("synthetic") / "synthetic")
    else:
        folder = request.getfixturevalue("scifact_dir")
    return folder, load_beir(folder)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, source):
    out = tmp_path_factory.mktemp("runs")
    args = ["run", "--data", str(source[0]), "-m", "minilm", "-m", "tokenlearn", "-m", "bm25",
            "--max-queries", "40", "--max-docs", "400", "-o", str(out), "--cache", str(out / "cache"), "-q"]
    first = embedscope(*args)
    assert first.returncode == 0, first.stderr
    second = embedscope(*args)  # same texts again: everything comes from the cache
    assert second.returncode == 0, second.stderr
    dirs = sorted(p for p in out.iterdir() if p.name != "cache")
    assert len(dirs) == 2
    return dirs


def test_outputs_written(run_dir):
    d = run_dir[0]
    results = json.loads((d / "results.json").read_text())
    names = [m["name"] for m in results["models"]]
    assert names == ["all-MiniLM-L6-v2", "tokenlearn-static-64d", "bm25"]
    assert results["dataset"]["queries"] == 40
    for m in results["models"]:
        assert (d / m["run_file"]).exists()
        assert 0 <= m["metrics"]["ndcg@10"] <= 1
    assert "## Leaderboard" in (d / "summary.md").read_text()
    rows = list(csv.DictReader(open(d / "per_query.csv")))
    assert len(rows) == 3 * 40 and "ndcg@10" in rows[0]


def test_trec_files_re_evaluate_to_the_reported_numbers(run_dir, source):
    d, dataset = run_dir[0], source[1]
    results = json.loads((d / "results.json").read_text())
    for m in results["models"]:
        run = Run.from_trec(d / m["run_file"])
        qrels = {q: dataset.qrels[q] for q in run.scores if q in dataset.qrels}
        assert len(qrels) == 40
        again = evaluate(qrels, run, ["ndcg@10", "recall@100"]).mean
        assert again["ndcg@10"] == pytest.approx(m["metrics"]["ndcg@10"], abs=1e-6)


def test_second_run_reuses_cache_and_matches(run_dir):
    first, second = (json.loads((d / "results.json").read_text()) for d in run_dir)
    documents = first["dataset"]["documents"]  # 400, or more when the kept queries judge more documents
    assert documents >= 400
    for a, b in zip(first["models"], second["models"]):
        assert a["metrics"] == pytest.approx(b["metrics"])
        if a["run"].get("kind") == "dense":
            assert a["run"]["embedding"]["documents"]["encoded"] == documents
            assert b["run"]["embedding"]["documents"]["encoded"] == 0
            assert b["run"]["embedding"]["documents"]["cached"] == documents


def test_minilm_beats_tiny_static_model(run_dir, source):
    """A sanity check on real data: a 6-layer transformer outranks a 64-dim 10k-vocab static model on SciFact."""
    if source[1].name != "scifact":
        pytest.skip("a claim about SciFact")
    res = {m["name"]: m["metrics"]["ndcg@10"] for m in json.loads((run_dir[0] / "results.json").read_text())["models"]}
    assert res["all-MiniLM-L6-v2"] > res["tokenlearn-static-64d"] + 0.1


def test_yaml_config(tmp_path, synthetic_dir):
    config = tmp_path / "compare.yaml"
    config.write_text(
        f"data: {synthetic_dir}\nmodels:\n  - bm25\n  - type: tokenlearn\n    name: static-small\n"
        f"k: 5\nmax_queries: 30\noutput: {tmp_path / 'out'}\ncache: {tmp_path / 'cache'}\n"
    )
    result = embedscope("run", "--config", str(config), "-q")
    assert result.returncode == 0, result.stderr
    (d,) = list((tmp_path / "out").iterdir())
    results = json.loads((d / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == ["bm25", "static-small"]
    assert "ndcg@5" in results["metrics"] and results["dataset"]["queries"] == 24  # all 24: fewer than 30


def test_bad_input_is_one_clear_line(tmp_path, synthetic_dir):
    bad = tmp_path / "bad"
    (bad / "qrels").mkdir(parents=True)
    (bad / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n')
    (bad / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (bad / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    result = embedscope("run", "--data", str(bad), "-m", "bm25", "-o", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "corpus.jsonl:2: malformed JSON" in result.stderr and "Traceback" not in result.stderr
    result = embedscope("run", "--data", str(synthetic_dir), "-m", "nosuchkind:x", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "unknown model kind 'nosuchkind'" in result.stderr
    config = tmp_path / "c.yaml"
    config.write_text("models: [bm25]\nmodles: oops\n")
    result = embedscope("run", "--config", str(config))
    assert result.returncode == 2 and "c.yaml:2: unknown setting 'modles'" in result.stderr


def test_run_with_streaming_index_scores_as_exact(run_dir, source):
    """--index streaming searches the cached shards and gives the exact search's numbers; BM25 is unaffected."""
    out = run_dir[0].parent
    result = embedscope("run", "--data", str(source[0]), "-m", "tokenlearn", "-m", "bm25", "--max-queries", "40",
                        "--max-docs", "400", "-o", str(out / "streamed"), "--cache", str(out / "cache"),
                        "--index", "streaming", "-q")
    assert result.returncode == 0, result.stderr
    streamed = json.loads(next((out / "streamed").glob("*/results.json")).read_text())
    exact = json.loads((run_dir[0] / "results.json").read_text())
    by_name = {m["name"]: m for m in exact["models"]}
    for m in streamed["models"]:
        assert m["metrics"]["ndcg@10"] == pytest.approx(by_name[m["name"]]["metrics"]["ndcg@10"], abs=1e-9)
    assert streamed["models"][0]["run"]["index"] == "streaming-exact-cosine"
