"""Before any work every model is checked and all problems are reported at once; during the work a model that
fails is recorded as failed, the others' results are written, and the exit code says "partial" (3)."""

from __future__ import annotations

import json
import shutil
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


def test_a_fully_cached_api_model_is_not_preflighted_and_reruns_offline(tiny_beir, tmp_path, capsys, monkeypatch):
    """The second run finds every vector of the API model in the cache: no request (pre-flight included), so
    it works with the server gone, and -v says why the check was skipped. A dataset with a text the cache lacks
    is checked again, and the dead server is one line before any work."""
    with FakeServer(FakeProvider("openai", api_key=KEY, dim=16)) as server:
        url = server.url
        spec = f"openai:text-embedding-3-small?base_url={url}/v1&name=api&{FAST}"
        args = ["run", "--data", str(tiny_beir), "-m", spec, "--cache", str(tmp_path / "cache")]
        code, output = run_cli([*args, "-o", str(tmp_path / "first"), "-q"], capsys, monkeypatch)
        assert code == 0 and server.fake.log, output
    code, output = run_cli(["-v", *args, "-o", str(tmp_path / "again")], capsys, monkeypatch)
    assert code == 0 and "Traceback" not in output, output
    assert "[api] pre-flight check skipped: all vectors of its 6 documents and 2 queries are cached" in output
    (first,), (again,) = (tmp_path / "first").iterdir(), (tmp_path / "again").iterdir()
    assert (again / "runs" / "api.trec").read_text() == (first / "runs" / "api.trec").read_text()

    more = tmp_path / "more"
    shutil.copytree(tiny_beir, more)
    with open(more / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d6", "text": "a document never embedded"}) + "\n")
    code, output = run_cli(["run", "--data", str(more), "-m", spec, "--cache", str(tmp_path / "cache"),
                            "-o", str(tmp_path / "more-runs"), "-q"], capsys, monkeypatch)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "cannot connect" in errors[0] and url in errors[0], output
    assert "retrieving" not in output and not any((tmp_path / "more-runs").glob("*/results.json"))


@pytest.fixture
def pooled_run(tiny_beir, tmp_path, capsys, monkeypatch) -> Path:
    code, output = run_cli(["run", "--data", str(tiny_beir), "-m", "bm25", "-o", str(tmp_path / "runs"),
                            "--cache", str(tmp_path / "cache"), "-q"], capsys, monkeypatch)
    assert code == 0, output
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir


@pytest.mark.parametrize("fault", ["refused", "401", "no such model"])
def test_the_llm_judge_is_checked_before_any_judgment(pooled_run, tmp_path, capsys, monkeypatch, fault):
    fake = FakeProvider("openai", api_key="another-key" if fault == "401" else KEY, models=("judge-1",))
    with FakeServer(fake) as server:
        url = f"http://127.0.0.1:{free_port()}" if fault == "refused" else server.url
        model = "judge-2" if fault == "no such model" else "judge-1"
        code, output = run_cli(["pool", "--run-dir", str(pooled_run), "--depth", "3", "--judge-url", f"{url}/v1",
                                "--judge-model", model, "--cache", str(tmp_path / "cache"), "-q"], capsys, monkeypatch)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in output, output
    assert errors[0].startswith("error: LLM judge: ") and url in errors[0], errors[0]
    assert {"refused": "cannot connect", "401": "HTTP 401", "no such model": "HTTP 404"}[fault] in errors[0]
    assert KEY not in output
    assert len(fake.log) <= 1  # the one pre-flight request, never one per pooled pair
    assert not (pooled_run / "judgments" / "llm-qrels.tsv").exists()


def test_a_fully_cached_judge_is_not_checked_and_a_generator_is(pooled_run, tmp_path, capsys, monkeypatch, tiny_beir):
    with FakeServer(FakeProvider("openai", api_key=KEY)) as server:
        url = server.url
        args = ["pool", "--run-dir", str(pooled_run), "--depth", "3", "--judge-url", f"{url}/v1",
                "--judge-model", "judge-1", "--cache", str(tmp_path / "cache")]
        code, output = run_cli([*args, "-q"], capsys, monkeypatch)
        assert code == 0, output
        pairs = [e for e in server.fake.log if e.body["messages"][0]["role"] == "system"]
        assert len(server.fake.log) == len(pairs) + 1  # one pre-flight request, then one per pair
    code, output = run_cli(["-v", *args], capsys, monkeypatch)  # the server is gone: every judgment is cached
    assert code == 0 and "pre-flight check skipped: all" in output and "judgments are cached" in output, output

    code, output = run_cli(["generate-queries", "--data", str(tiny_beir), "--llm-url", f"{url}/v1", "--llm-model",
                            "gen", "-o", str(tmp_path / "gen"), "--filter-model", "none", "-q"], capsys, monkeypatch)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("error: query generator: "), output
    assert "cannot connect" in errors[0] and not (tmp_path / "gen").exists()
