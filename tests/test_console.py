"""A quiet, honest console: our messages and one bar per long step on a terminal; no library DEBUG lines or
weight-loading bars; nothing but results with -q; libraries' logs and errors' tracebacks with -v."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path


def embedscope(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


def on_a_terminal(*args: str) -> str:
    """Everything `embedscope ARGS` writes to stderr when stderr is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "embedscope", *args], stdout=subprocess.DEVNULL,
                               stderr=follower, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=900)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def run_args(data: Path, tmp: Path, *models: str) -> list[str]:
    out = ["run", "--data", str(data), "-o", str(tmp / "runs"), "--cache", str(tmp / "cache")]
    for model in models:
        out += ["-m", model]
    return out


def test_a_normal_run_shows_our_messages_only(synthetic_dir, tmp_path):
    result = embedscope(*run_args(synthetic_dir, tmp_path, "minilm", "bm25"))
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "dataset synthetic: 160 docs, 24 queries" in err
    assert "DEBUG" not in err and "Loading weights" not in err and "bm25s" not in err, err
    assert "\r" not in err and "━" not in err  # no bars into a pipe
    assert "all-MiniLM-L6-v2" in result.stdout


def test_quiet_leaves_results_only(synthetic_dir, tmp_path):
    for args in (["-q", *run_args(synthetic_dir, tmp_path, "tokenlearn", "bm25")],
                 [*run_args(synthetic_dir, tmp_path, "tokenlearn", "bm25"), "-q"]):
        result = embedscope(*args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "" and "tokenlearn-static-64d" in result.stdout


def test_verbose_shows_library_logs_and_tracebacks(synthetic_dir, tmp_path):
    result = embedscope("-vv", *run_args(synthetic_dir, tmp_path, "bm25"))
    assert result.returncode == 0, result.stderr
    assert "bm25s: " in result.stderr  # bm25s logs at DEBUG
    plain = embedscope("run", "--data", str(tmp_path / "nowhere"), "-m", "bm25", "-o", str(tmp_path / "o"))
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"error: {tmp_path / 'nowhere'}: dataset folder not found"]
    for flag in (["-v", "run"], ["run", "-v"]):
        verbose = embedscope(*flag, "--data", str(tmp_path / "nowhere"), "-m", "bm25", "-o", str(tmp_path / "o"))
        assert verbose.returncode == 2 and "Traceback" in verbose.stderr
        assert verbose.stderr.strip().endswith("dataset folder not found")


def test_one_bar_per_long_step_on_a_terminal_none_with_quiet(synthetic_dir, tmp_path):
    shown = on_a_terminal(*run_args(synthetic_dir, tmp_path / "a", "tokenlearn"))
    assert "tokenlearn-static-64d: documents" in shown  # the encoding bar, drawn on the terminal
    assert "DEBUG" not in shown
    quiet = on_a_terminal("-q", *run_args(synthetic_dir, tmp_path / "b", "tokenlearn"))
    assert "documents" not in quiet and quiet.strip() == ""


def test_the_agreement_note_and_warning_are_printed_under_the_references():
    """The note that says why differing orders made no warning reaches the console; model names in the
    warning are text, not markup."""
    from rich.console import Console

    from embedscope.report.console import print_references

    section = {"metric": "ndcg@10", "task": "SciFact", "split": "test", "reference_only": [],
               "models": [{"model": "a", "reference": 0.6, "own": 0.5, "source": "mteb"},
                          {"model": "b", "reference": 0.5, "own": 0.6, "source": "mteb"}],
               "agreement": {"kendall_tau": -1.0, "rows": [{}, {}], "warning": None,
                             "note": "the orders differ, but 2 models are too few to tell (at least 3)"}}
    console = Console(record=True, width=200)
    print_references(section, console)
    out = console.export_text()
    assert "Kendall's tau -1.00" in out
    assert "note: the orders differ, but 2 models are too few to tell (at least 3)" in out
    from embedscope.report.markdown import references_markdown

    assert "Note: the orders differ, but 2 models are too few to tell (at least 3)" in references_markdown(section)
    section["agreement"] |= {"note": None, "warning": "[bold]m[/bold] ranks first here"}
    console = Console(record=True, width=200)
    print_references(section, console)
    assert "[bold]m[/bold] ranks first here" in console.export_text()
