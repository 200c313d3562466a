"""Before any work every model is checked and all problems are reported at once; during the work a model that
fails is recorded as failed, the others' results are written, and the exit code says "partial" (3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_providers import FakeProvider, FakeServer  # noqa: E402
from test_remote_failures import FAST, KEY, run_cli, tiny_beir  # noqa: E402,F401  (fixture)

from embedscope.servers import free_port  # noqa: E402


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("EMBEDSCOPE_TRACEBACK", raising=False)


def test_preflight_reports_every_problem_at_once_before_any_work(tiny_beir, tmp_path, capsys, monkeypatch):
    refused = f"http://127.0.0.1:{free_port()}"
    with FakeServer(FakeProvider("openai", api_key=KEY, dim=16, models=("text-embedding-3-small",))) as server:
        models = [
            "tokenlearn",  # fine
            "cohere:embed-english-v3.0",  # no COHERE_API_KEY
            f"openai-compatible:e5?base_url={refused}/v1&server_prompts=false&{FAST}",  # nothing listens
            f"openai:text-embedding-3-small?base_url={server.url}/v1&dim=32&{FAST.replace('&dim=16', '')}",  # 16 != 32
            f"openai:text-embedding-4-huge?base_url={server.url}/v1&{FAST}",  # no such model there
            f"st:{tmp_path / 'no-such-model-folder'}",  # not there
            "nonsense-kind:x",
        ]
        args = ["run", "--data", str(tiny_beir), "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q"]
        code, output = run_cli([*args, *[a for m in models for a in ("-m", m)]], capsys, monkeypatch)
        probes = [entry.body["input"] for entry in server.fake.log]
    assert code == 2 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 7 and "6 of 7 models cannot run; nothing was run" in errors[-1], output
    problems = errors[:-1]  # one line each, all at once
    assert any("HTTP 404" in p and "text-embedding-4-huge" in p and "does not exist" in p for p in problems)
    assert any("COHERE_API_KEY" in p for p in problems)
    assert any("cannot connect" in p and refused in p for p in problems)
    assert any("returns 16-dim vectors" in p and "32" in p for p in problems)
    assert any("no-such-model-folder" in p for p in problems)
    assert any("nonsense-kind" in p for p in problems)
    # nothing was embedded: one pre-flight text went to the API, no model started, no run directory is left
    assert probes == [["embedscope pre-flight check"]] * 2
    assert "retrieving" not in output
    assert not any((tmp_path / "cache").rglob("*.parquet")) and not any((tmp_path / "runs").rglob("*.json"))


def test_a_model_failing_during_the_work_is_recorded_and_the_others_are_written(tiny_beir, tmp_path, capsys,
                                                                                monkeypatch):
    # the server answers the pre-flight check, then fails every request (HTTP 500) until the retries give up
    fake = FakeProvider("openai", api_key=KEY, dim=16, fail_after=1)
    with FakeServer(fake) as server:
        spec = f"openai:text-embedding-3-small?base_url={server.url}/v1&name=flaky-api&{FAST}"
        code, output = run_cli(["run", "--data", str(tiny_beir), "-m", "bm25", "-m", spec, "-m", "tokenlearn",
                                "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")], capsys, monkeypatch)
    assert code == 3, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "flaky-api failed" in errors[0] and "HTTP 500" in errors[0], output
    assert "partial: 1 of 3 models failed" in output and "exit code 3" in output
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    models = {m["name"]: m for m in results["models"]}
    assert models["flaky-api"]["status"] == "failed" and "HTTP 500" in models["flaky-api"]["reason"]
    assert models["flaky-api"]["metrics"] is None
    for name in ("bm25", "tokenlearn-static-64d"):
        assert models[name]["status"] == "ok" and models[name]["metrics"]["ndcg@10"] >= 0
    assert sorted(p.name for p in (run_dir / "runs").iterdir()) == ["bm25.trec", "tokenlearn-static-64d.trec"]
    summary = (run_dir / "summary.md").read_text()
    assert "1 of 3 models failed" in summary and "**flaky-api**" in summary and "HTTP 500" in summary
    assert "flaky-api failed" in output  # the console leaderboard says it too
    # the typed results reader and the HTML report take the failed model too
    from embedscope.results import Results

    assert [m.name for m in Results.read(run_dir).failed_models] == ["flaky-api"]
    code, output = run_cli(["report", str(run_dir)], capsys, monkeypatch)
    assert code == 0, output
    html = next(run_dir.glob("*.html")).read_text()
    assert "flaky-api" in html and "failed" in html


def test_all_models_failing_is_exit_2_with_no_run_directory(tiny_beir, tmp_path, capsys, monkeypatch):
    fake = FakeProvider("openai", api_key=KEY, dim=16, fail_after=1)
    with FakeServer(fake) as server:
        spec = f"openai:text-embedding-3-small?base_url={server.url}/v1&{FAST}"
        code, output = run_cli(["run", "--data", str(tiny_beir), "-m", spec, "-o", str(tmp_path / "runs"),
                                "--cache", str(tmp_path / "cache"), "-q"], capsys, monkeypatch)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "HTTP 500" in errors[0], output
    assert not any((tmp_path / "runs").rglob("*.json"))
