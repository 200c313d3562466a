"""Recommendation: Pareto front of quality / cost / latency, constraints, and a reason for every model."""

from __future__ import annotations

import json

import pytest

from embedscope.results import Results
from embedscope.recommend import Candidate, candidates_from, dominates, pareto_front, recommend


def make(name, quality, cost, latency, dim=384, languages=("en",)):
    return Candidate(name, quality, cost, "CPU", latency, dim, list(languages))


def brute_front(cands):
    """Pareto front by the definition, checked on every pair."""
    front = []
    for c in cands:
        if not any(o.quality >= c.quality and o.cost_usd <= c.cost_usd and o.latency_ms <= c.latency_ms
                   and (o.quality, o.cost_usd, o.latency_ms) != (c.quality, c.cost_usd, c.latency_ms) for o in cands):
            front.append(c.name)
    return front


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_matches_definition(seed):
    import random

    rng = random.Random(seed)
    cands = [make(f"m{i}", round(rng.random(), 2), round(rng.random() * 10, 1), round(rng.random() * 50, 1)) for i in range(12)]
    assert [c.name for c in pareto_front(cands)] == brute_front(cands)


def test_constraints_and_reasons():
    cands = [make("big", 0.70, 5.0, 40.0, dim=1024), make("mid", 0.65, 1.0, 8.0), make("small", 0.55, 0.1, 1.0, dim=64),
             make("worse", 0.50, 2.0, 9.0), make("zh-only", 0.80, 0.5, 2.0, languages=("zh",))]
    advice = recommend(cands, max_latency_ms=20, max_dim=768, language="en")
    by = {m["name"]: m for m in advice["models"]}
    assert advice["chosen"] == "mid"
    assert by["big"]["status"] == "excluded" and any("latency 40.0 ms" in r for r in by["big"]["reasons"])
    assert any("dimension 1024" in r for r in by["big"]["reasons"])
    assert by["zh-only"]["status"] == "excluded" and "do not include en" in by["zh-only"]["reasons"][0]
    assert by["worse"]["status"] == "dominated" and "dominated by mid" in by["worse"]["reasons"][0]
    assert by["small"]["status"] == "pareto" and "cheaper" in by["small"]["reasons"][0]
    assert all(m["reasons"] for m in advice["models"])  # nobody left without a why


def test_missing_measurement_never_wins():
    a, b = make("measured", 0.6, 1.0, 5.0), Candidate("unmeasured", 0.6, None, None, None, 384)
    assert dominates(a, b) and not dominates(b, a)
    advice = recommend([a, b], max_latency_ms=100)
    assert advice["chosen"] == "measured"
    assert "latency not measured" in next(m for m in advice["models"] if m["name"] == "unmeasured")["reasons"][0]


def test_no_feasible_model():
    advice = recommend([make("a", 0.6, 1.0, 50.0)], max_latency_ms=10)
    assert advice["chosen"] is None


@pytest.fixture()
def run_dir(tmp_path):
    """A run directory as `embedscope run` + `embedscope bench --run-dir` leave it (the parts recommend reads)."""
    results = {"metrics": ["ndcg@10", "recall@100"], "dataset": {"name": "toy", "documents": 1000}, "models": [
        {"name": "minilm", "spec": "minilm", "info": {"dim": 384}, "run": {"kind": "dense"}, "metrics": {"ndcg@10": 0.64}},
        {"name": "static", "spec": "tokenlearn", "info": {"dim": 64}, "run": {"kind": "dense"},
         "metrics": {"ndcg@10": 0.50}},
        {"name": "bm25", "spec": "bm25", "info": {}, "run": {"kind": "bm25"}, "metrics": {"ndcg@10": 0.66}}]}
    row = lambda name, hw, tps: {"name": name, "kind": "self-hosted", "hardware": hw, "texts_per_second": tps,  # noqa: E731
                                 "usd_per_hour": 0.09, "usd_per_1k_texts": 0.09 / (3.6 * tps)}
    perf = {"dataset": {"documents": 1000}, "cost": {"min_billed_hours": 1.0, "rows": [
        row("minilm", "CPU", 40.0), row("static", "CPU", 5000.0)]}, "models": [
        {"name": "minilm", "speed": {"dim": 384, "query_latency_ms": {"p95": 9.0}}, "languages": ["en"]},
        {"name": "static", "speed": {"dim": 64, "query_latency_ms": {"p95": 0.3}}, "languages": None}]}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "perf.json").write_text(json.dumps(perf))
    return tmp_path


def test_cost_is_recomputed_at_scale(run_dir):
    results = Results.read(run_dir)
    perf = json.loads((run_dir / "perf.json").read_text())
    cands, metric, scale = candidates_from(results, perf, scale=1_000_000)
    minilm = next(c for c in cands if c.name == "minilm")
    assert metric == "ndcg@10" and scale == 1_000_000
    assert minilm.cost_usd == pytest.approx(1_000_000 / 40 / 3600 * 0.09)  # past the minimum hour
    assert next(c for c in cands if c.name == "static").cost_usd == pytest.approx(0.09)  # the minimum hour


def test_recommend_cli(run_dir):
    from click.testing import CliRunner

    from embedscope.cli import cli

    result = CliRunner().invoke(cli, ["recommend", str(run_dir), "--max-latency-ms", "5", "--max-dim", "128", "--json"])
    assert result.exit_code == 0, result.output
    advice = json.loads(result.output)
    assert advice["chosen"] == "static"
    reasons = {m["name"]: m["reasons"] for m in advice["models"]}
    assert any("latency 9.0 ms" in r for r in reasons["minilm"])
    assert any("latency not measured" in r for r in reasons["bm25"])  # no dim limit for a non-vector retriever
    assert not any("dimension" in r for r in reasons["bm25"])
    table = CliRunner().invoke(cli, ["recommend", str(run_dir)])
    assert table.exit_code == 0 and "recommended: bm25" in table.output


def test_recommend_needs_perf_for_cost(tmp_path):
    from click.testing import CliRunner

    from embedscope.cli import cli

    (tmp_path / "results.json").write_text(json.dumps({"metrics": ["ndcg@10"], "dataset": {"name": "toy"}, "models": []}))
    result = CliRunner().invoke(cli, ["recommend", str(tmp_path), "--max-cost", "5"])
    assert result.exit_code != 0 and "embedscope bench --run-dir" in result.output


def test_recommend_measures_latency_of_every_kind_itself(synthetic_dir, tmp_path):
    """BM25 and pipelines have a latency too: recommend times one query at a time for every model without one,
    and a retriever with no single-query path gets that reason, never a command that cannot help."""
    from click.testing import CliRunner

    from embedscope.cli import cli

    models = ["bm25", "tokenlearn", "hybrid:bm25+tokenlearn", "cluster-filter:tokenlearn?clusters=4"]
    args = ["run", "--data", str(synthetic_dir), "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "out"), "-q"]
    result = CliRunner().invoke(cli, args + [a for m in models for a in ("-m", m)])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").iterdir())
    result = CliRunner().invoke(cli, ["recommend", str(run_dir), "--max-latency-ms", "60000", "--json",
                                      "--latency-queries", "5"])
    assert result.exit_code == 0, result.output
    advice = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    for name in ("bm25", "tokenlearn-static-64d", "hybrid-rrf(bm25+tokenlearn-static-64d)"):
        assert advice[name]["latency_ms"] is not None and advice[name]["latency_ms"] > 0, advice[name]
    assert advice["bm25"]["cost_usd"] == 0.0 and advice["bm25"]["status"] != "excluded"
    filtered = advice["tokenlearn-static-64d-clusters4-probe1"]
    assert filtered["latency_ms"] is None and any("all queries at once" in r for r in filtered["reasons"])
    reasons = [r for m in advice.values() for r in m["reasons"] + m["notes"]]
    assert not any("embedscope bench" in r for r in reasons if "latency" in r)
    timed = json.loads((run_dir / "latency.json").read_text())
    assert timed["bm25"]["query_latency_ms"]["n"] == 5  # kept for the next call


def test_recommend_on_a_task_run_weighs_the_tasks_metric_and_encoding_latency(tmp_path, capsys, monkeypatch):
    """A run of another task (here STS) has nothing to search: recommend weighs the task's main metric against the
    latency of embedding one text (measured here and kept), and says a model that cannot do the task failed."""
    import sys

    from embedscope.cli import cli
    from embedscope.cli.errors import run_cli

    rows = [{"sentence1": f"a cat sat {i}", "sentence2": f"a cat sits {i}", "score": float(i % 5)} for i in range(12)]
    (tmp_path / "sts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def embedscope(*args):
        monkeypatch.setattr(sys, "argv", ["embedscope", *args])
        code = run_cli(cli)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, err = embedscope("run", "--task", "sts", "--data", str(tmp_path / "sts.jsonl"), "-m", "tokenlearn",
                                "-m", "bm25", "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q")
    assert code == 0, out + err
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    main = results["metrics"][0]  # the task's main metric comes first
    code, out, err = embedscope("recommend", str(run_dir), "--json", "--latency-queries", "5")
    assert code == 0 and "Traceback" not in err, out + err
    advice = json.loads(out)
    assert advice["metric"] == main
    (tokenlearn,) = [m for m in results["models"] if m["name"] != "bm25"]
    assert advice["chosen"] == tokenlearn["name"]
    by_name = {m["name"]: m for m in advice["models"]}
    assert by_name[tokenlearn["name"]]["quality"] == tokenlearn["metrics"][main]
    assert by_name[tokenlearn["name"]]["latency_ms"] > 0
    assert "failed" in by_name["bm25"]["unknown"]["quality"]  # BM25 cannot score sentence pairs
    timed = json.loads((run_dir / "latency.json").read_text())
    assert timed[tokenlearn["name"]]["query_latency_ms"]["n"] == 5  # one text at a time, kept for the next call
    assert "no search" in timed[tokenlearn["name"]]["method"]

