"""results.json: one versioned schema, written and read through the same typed records."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from embedscope.results import SCHEMA_VERSION, Results, ResultsError

WORDS = ["protein", "vaccine", "cell", "gene", "virus", "tumor", "brain", "heart", "lung", "bone"]


def write_beir(folder, n_docs=40, n_queries=8):
    """A small BEIR folder: each query names two topic words; its relevant documents contain them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(n_docs):
            a, b = WORDS[i % 10], WORDS[(i // 10 + i) % 10]
            f.write(json.dumps({"_id": f"d{i}", "title": f"{a} study", "text": f"{a} {b} results number {i}"}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for q in range(n_queries):
            f.write(json.dumps({"_id": f"q{q}", "text": f"{WORDS[q % 10]} {WORDS[(q + 3) % 10]}"}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in range(n_queries):
            for i in range(n_docs):
                if WORDS[i % 10] == WORDS[q % 10]:
                    f.write(f"q{q}\td{i}\t{1 + (i % 2)}\n")
    return folder


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from embedscope.cli import cli

    root = tmp_path_factory.mktemp("schema")
    data = write_beir(root / "data")
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "-m", "bm25", "-m", "tokenlearn",
                                      "--cache", str(root / "cache"), "--output", str(root / "out")],
                                standalone_mode=False)
    assert result.exception is None, result.output
    return next((root / "out").iterdir())


def test_written_file_is_the_current_schema_and_reads_back(small_run):
    raw = json.loads((small_run / "results.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and raw["task"] == "retrieval"
    results = Results.read(small_run)
    assert results.to_dict() == raw  # the writer and the readers share one record: nothing lost or added
    assert [m.status for m in results.models] == ["ok", "ok"]
    assert {m.run.similarity for m in results.models if m.run.kind == "dense"} == {"cosine"}
    main = results.main_metric
    assert results.significance.main_metric == main and results.significance.main_pairs()
    for m in results.models:
        low, high = results.interval(m.name, main)
        assert low <= m.metrics[main] <= high


def test_a_version_1_file_is_upgraded(small_run, tmp_path):
    """Files written before the version field: similarity was "metric" in run metadata, no model status."""
    from embedscope.rundir import read_runs

    raw = json.loads((small_run / "results.json").read_text())
    del raw["schema_version"], raw["task"]
    for m in raw["models"]:
        del m["status"], m["reason"]
        if "similarity" in m["run"]:
            m["run"]["metric"] = m["run"].pop("similarity")
    (tmp_path / "results.json").write_text(json.dumps(raw))
    (tmp_path / "runs").symlink_to(small_run / "runs")
    results = Results.read(tmp_path)
    assert results.schema_version == SCHEMA_VERSION
    dense = next(m for m in results.models if m.run.kind == "dense")
    assert dense.run.similarity == "cosine" and "metric" not in (dense.run.model_extra or {})
    assert set(read_runs(tmp_path, results)) == {m["name"] for m in raw["models"]}


def test_a_newer_version_fails_in_one_line_naming_it(small_run, tmp_path, monkeypatch, capsys):
    from embedscope.cli import cli
    from embedscope.cli.errors import run_cli

    raw = json.loads((small_run / "results.json").read_text()) | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "results.json").write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match=f"version {SCHEMA_VERSION + 1}.*newer embedscope"):
        Results.read(tmp_path)
    for command in (["show", str(tmp_path)], ["recommend", str(tmp_path)], ["report", str(tmp_path)]):
        monkeypatch.setattr("sys.argv", ["embedscope", *command])
        assert run_cli(cli) == 2, command
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and f"schema version {SCHEMA_VERSION + 1}" in line and "Traceback" not in line


def test_a_file_off_the_schema_names_the_field(small_run, tmp_path):
    raw = json.loads((small_run / "results.json").read_text())
    raw["models"][0]["metrics"] = {"ndcg@10": "high"}
    raw["confidence_level"] = 0.9  # no such field
    with pytest.raises(ResultsError, match=r"models\.0\.metrics\.ndcg@10"):
        Results.from_dict(raw)
    raw["models"][0]["metrics"] = {"ndcg@10": 0.5}
    with pytest.raises(ResultsError, match="confidence_level"):
        Results.from_dict(raw)


def test_a_failed_model_is_recorded_and_the_others_stay_readable(small_run, tmp_path):
    import shutil

    from embedscope.rundir import read_runs

    run_dir = tmp_path / "run"
    shutil.copytree(small_run, run_dir)
    raw = json.loads((run_dir / "results.json").read_text())
    raw["models"].append({"name": "cohere", "spec": "cohere:embed-v4.0", "status": "failed",
                          "reason": "COHERE_API_KEY is not set"})
    (run_dir / "results.json").write_text(json.dumps(raw))
    results = Results.read(run_dir)
    assert [m.name for m in results.failed_models] == ["cohere"]
    assert results.ranked()[-1].name == "cohere"  # unscored models last
    assert "cohere failed: COHERE_API_KEY is not set" in results.warnings()
    assert set(read_runs(run_dir, results)) == {m.name for m in results.ok_models}


def test_a_comparison_with_a_failed_model_writes_the_others(synthetic, tmp_path):
    """The writer side: a Result marked failed is recorded with its reason, without a run file; the others'
    results, statistics and runs are written as usual."""
    from embedscope.compare import Result, compare
    from embedscope.report import write_outputs
    from embedscope.rundir import read_runs

    comparison = compare(synthetic, ["bm25", "tokenlearn"], cache_dir=tmp_path / "cache")
    comparison.results.append(Result.failed("cohere", "cohere:embed-v4.0", "COHERE_API_KEY is not set"))
    write_outputs(comparison, tmp_path / "run")
    results = Results.read(tmp_path / "run")
    failed = results.model("cohere")
    assert (failed.status, failed.reason, failed.run_file, failed.metrics) == ("failed", "COHERE_API_KEY is not set",
                                                                               None, None)
    assert {m.name for m in results.ok_models} == {"bm25", "tokenlearn-static-64d"}
    assert set(results.significance.order) == {"bm25", "tokenlearn-static-64d"}
    assert set(read_runs(tmp_path / "run", results)) == {"bm25", "tokenlearn-static-64d"}
