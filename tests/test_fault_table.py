"""Every expected failure is one line and exit code 2, and leaves no partial output behind.

One row per fault (data, config, cache, API, server, disk), each run through the command line exactly as
`embedscope` runs it (embedscope.cli.errors.run_cli). A row asserts the exit code, that stderr holds exactly one
`error:` line matching the row's pattern and no traceback, and that the output folder holds no run directory (not
even a hidden partial one) and the cache no half-written shard. Rows whose correct outcome is success (a corrupt
shard is repaired, two models keep their own run files) assert exit code 0 and their own check.

A row marked `xfail(strict=True)` names the work it waits for; once that work lands the row passes, the strict
mark turns that into a failure, and the mark must be removed.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fake_providers  # noqa: E402
from fake_providers import FakeProvider, FakeServer, Fault  # noqa: E402

KEY = "sk-test-SECRET1-0123456789abcdef"
FAST = "retry_base_delay=0.01&retry_max_delay=0.02&timeout=0.5&max_retries=1&dim=16"


# --- small data written by the rows ----------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def beir(tmp: Path, docs: list[dict] | None = None, queries: list[dict] | None = None,
         qrels: str | None = None, folder: str = "data") -> Path:
    """A small BEIR folder; each part replaceable by a faulty one."""
    root = tmp / folder
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "corpus.jsonl", docs or [{"_id": f"d{i}", "text": f"text about topic {i % 3} number {i}"}
                                                 for i in range(12)])
    write_jsonl(root / "queries.jsonl", queries or [{"_id": f"q{i}", "text": f"topic {i}"} for i in range(3)])
    (root / "qrels" / "test.tsv").write_text(qrels if qrels is not None else
                                             "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3)),
                                             encoding="utf-8")
    return root


def tables(tmp: Path, corpus_name: str, corpus_bytes: bytes | None = None, corpus_frame=None) -> list[str]:
    """--corpus/--queries/--qrels arguments with a corpus table of the given content."""
    queries = write_jsonl(tmp / "queries.jsonl", [{"_id": f"q{i}", "text": f"topic {i}"} for i in range(3)])
    qrels = tmp / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3)))
    corpus = tmp / corpus_name
    if corpus_frame is not None:
        corpus_frame.to_parquet(corpus)
    else:
        corpus.write_bytes(corpus_bytes)
    return ["--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]


def data_args(tmp: Path, **parts) -> list[str]:
    return ["--data", str(beir(tmp, **parts))]


# --- servers the API rows talk to -------------------------------------------------------------------------------

class Env:
    def __init__(self, tmp: Path, api: FakeServer, other_api: FakeServer, monkeypatch):
        self.tmp, self.api, self.other_api, self.monkeypatch = tmp, api, other_api, monkeypatch

    def spec(self, url: str | None = None, extra: str = "") -> str:
        return f"openai:text-embedding-3-small?base_url={url or self.api.url}/v1&{FAST}{extra}"


class Garbage(http.server.BaseHTTPRequestHandler):
    """Answers every request 200 with a body that is not JSON."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html>upstream proxy error</html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def garbage_server(env: Env) -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env.monkeypatch.setattr(env, "garbage", server, raising=False)
    return f"http://127.0.0.1:{server.server_address[1]}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leaky_error(env: Env) -> str:
    """A server whose 401 body echoes the key near the 300-character mark, where a message is cut."""
    fake = env.api.fake
    fake.api_key = "the-right-key"
    env.monkeypatch.setattr(fake, "error", lambda message: {"error": {"message": "x" * 245 + f" key={KEY} end"}})
    return env.spec()


def poison(env: Env, marker: str, vector) -> None:
    real = fake_providers.fake_vector
    env.monkeypatch.setattr(fake_providers, "fake_vector",
                            lambda text, kind, dim: vector(dim) if marker in text else real(text, kind, dim))


# --- the table ---------------------------------------------------------------------------------------------------

@dataclass
class Row:
    id: str
    area: str
    make: Callable[[Env], list[str]]  # writes what the fault needs, returns the command line
    line: str  # pattern the one `error:` line must match (exit 2), or a pattern stderr must hold (exit 0)
    code: int = 2
    check: Callable[[Env, str], None] | None = None
    needs: str | None = None  # unlanded work this row waits for

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=f"needs {self.needs}")] if self.needs else []
        return pytest.param(self, id=f"{self.area}-{self.id}", marks=marks)


def run_args(env: Env, *args: str) -> list[str]:
    return ["run", *args, "-o", str(env.tmp / "runs"), "--cache", str(env.tmp / "cache"), "-q"]


def _corrupt_shard(env: Env) -> list[str]:
    args = run_args(env, *data_args(env.tmp), "-m", "tokenlearn")
    assert cli_run(args)[0] == 0
    shard = next((env.tmp / "cache").glob("*/document/shard-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x04
    shard.write_bytes(bytes(data))
    for run in (env.tmp / "runs").iterdir():  # this row checks the second run's outputs only
        shutil.rmtree(run)
    return args


def _two_endpoints(env: Env) -> list[str]:
    args = run_args(env, *data_args(env.tmp), "-m", env.spec())
    assert cli_run(args)[0] == 0
    for run in (env.tmp / "runs").iterdir():
        shutil.rmtree(run)
    return run_args(env, *data_args(env.tmp), "-m", env.spec(env.other_api.url))


def _other_endpoint_was_asked(env: Env, err: str) -> None:
    assert any(e.status == 200 for e in env.other_api.fake.log), "vectors of one endpoint reused for another"


def _one_run_dir(env: Env) -> Path:
    (run_dir,) = [p for p in (env.tmp / "runs").iterdir() if not p.name.startswith(".")]
    return run_dir


def _own_run_files(env: Env, err: str) -> None:
    from embedscope.rundir import read_results

    results = read_results(_one_run_dir(env))
    assert len({m.run_file for m in results.models}) == 2


def _escaped_summary(env: Env, err: str) -> None:
    summary = (_one_run_dir(env) / "summary.md").read_text(encoding="utf-8")
    assert "<script>" not in summary and "&lt;script&gt;" in summary


def _no_key_fragment(env: Env, err: str) -> None:
    secret = KEY.removeprefix("sk-test-")
    assert not any(secret[:n] in err for n in range(4, len(secret) + 1)), err


def _no_bom_in_ids(env: Env, err: str) -> None:
    from embedscope.rundir import read_results

    assert read_results(_one_run_dir(env)).dataset.queries == 3


def _note_on_zero_only(env: Env, err: str) -> None:
    assert re.search(r"q2.*(only|0)|judged", err), err


def _disk_full(env: Env) -> list[str]:
    import errno

    args = run_args(env, *data_args(env.tmp), "-m", "bm25")
    real = os.fsync

    def full(fd):  # the disk fills as the run directory's files are flushed
        if ".partial-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    env.monkeypatch.setattr(os, "fsync", full)
    return args


def _cache_full(env: Env) -> list[str]:
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    env.monkeypatch.setattr(os, "fsync", full)
    return run_args(env, *data_args(env.tmp), "-m", "tokenlearn")


def _damaged_run(env: Env) -> list[str]:
    assert cli_run(run_args(env, *data_args(env.tmp), "-m", "bm25"))[0] == 0
    run_dir = _one_run_dir(env)
    trec = next((run_dir / "runs").glob("*.trec"))
    trec.write_bytes(trec.read_bytes()[:100])
    env.keep = run_dir.name
    return ["show", str(run_dir)]


def _busy_port(env: Env) -> list[str]:
    assert cli_run(run_args(env, *data_args(env.tmp), "-m", "bm25"))[0] == 0
    env.keep = _one_run_dir(env).name
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    env.monkeypatch.setattr(env, "blocker", blocker, raising=False)
    return ["serve", str(_one_run_dir(env)), "--port", str(blocker.getsockname()[1])]


def _symlink_loop(env: Env) -> list[str]:
    root = beir(env.tmp)
    (root / "corpus.jsonl").unlink()
    (root / "corpus.jsonl").symlink_to(root / "corpus.jsonl")
    return run_args(env, "--data", str(root), "-m", "bm25")


def _parquet_frame(kind: str):
    import pandas as pd

    text = {"list": [["a", "list"]] * 4, "binary": [b"bytes"] * 4, "struct": [{"a": 1}] * 4}[kind]
    return pd.DataFrame({"_id": [f"d{i}" for i in range(4)], "text": text})


def _config(env: Env, text: str) -> list[str]:
    beir(env.tmp)
    path = env.tmp / "config.yaml"
    path.write_text(f"data: data\nmodels: [bm25]\n{text}\n")
    return run_args(env, "--config", str(path))


ROWS = [
    # --- data ---------------------------------------------------------------------------------------------------
    Row("parquet-list-text", "data", lambda e: run_args(e, *tables(e.tmp, "c.parquet", corpus_frame=_parquet_frame("list")), "-m", "bm25"),
        r"c\.parquet.*text"),
    Row("parquet-binary-text", "data", lambda e: run_args(e, *tables(e.tmp, "c.parquet", corpus_frame=_parquet_frame("binary")), "-m", "bm25"),
        r"c\.parquet.*text"),
    Row("parquet-struct-text", "data", lambda e: run_args(e, *tables(e.tmp, "c.parquet", corpus_frame=_parquet_frame("struct")), "-m", "bm25"),
        r"c\.parquet.*text"),
    Row("jsonl-object-as-text", "data", lambda e: run_args(e, *tables(e.tmp, "c.jsonl", _jsonl_object_text()), "-m", "bm25"),
        r"c\.jsonl:1\b.*text"),
    Row("csv-short-row", "data", lambda e: run_args(e, *tables(e.tmp, "c.csv", b"_id,title,text\nd0,t,topic 0\nd1,t\nd2,t,topic 2\n"), "-m", "bm25"),
        r"c\.csv:3\b"),
    Row("csv-line-after-embedded-newline", "data", lambda e: run_args(e, *tables(e.tmp, "c.csv", b'_id,text\nd0,"two\nlines"\nd1,\n'), "-m", "bm25"),
        r"c\.csv:4\b"),
    Row("parquet-row-numbers-from-1", "data", lambda e: run_args(e, *tables(e.tmp, "c.parquet", corpus_frame=__import__("pandas").DataFrame({"_id": ["d0", "d1"], "text": ["", "x"]})), "-m", "bm25"),
        r"c\.parquet(:1\b|.*row 1\b)"),
    Row("id-with-space", "data", lambda e: run_args(e, *data_args(e.tmp, docs=[{"_id": "doc one", "text": "topic 0 text"}, *[{"_id": f"d{i}", "text": f"topic {i}"} for i in range(3)]]), "-m", "bm25"),
        r"doc one"),
    Row("id-with-tab", "data", lambda e: run_args(e, *data_args(e.tmp, docs=[{"_id": "d\t0", "text": "topic 0 text"}, *[{"_id": f"d{i}", "text": f"topic {i}"} for i in range(1, 4)]],
                                                                    qrels="q0\td1\t1\nq1\td1\t1\nq2\td2\t1\n"), "-m", "bm25"),
        r"d\\t0|d\t0"),
    Row("header-only-qrels", "data", lambda e: run_args(e, *data_args(e.tmp, qrels="query-id\tcorpus-id\tscore\n"), "-m", "bm25"),
        r"test\.tsv"),
    Row("huge-grade", "data", lambda e: run_args(e, *data_args(e.tmp, qrels="query-id\tcorpus-id\tscore\nq0\td0\t1e308\n"), "-m", "bm25"),
        r"test\.tsv:2\b.*(grade|score)"),
    Row("symlink-loop", "data", _symlink_loop, r"corpus\.jsonl.*(loop|symbolic link)"),
    Row("zero-width-text", "data", lambda e: run_args(e, *data_args(e.tmp, docs=[{"_id": "d0", "text": "\u200b\u200b"}, *[{"_id": f"d{i}", "text": f"topic {i}"} for i in range(1, 4)]]), "-m", "bm25"),
        r"corpus\.jsonl:1\b"),
    Row("lone-surrogate", "data", lambda e: run_args(e, "--data", str(_surrogate(e)), "-m", "tokenlearn"),
        r"corpus\.jsonl:1\b"),
    Row("bom-in-headerless-qrels", "data", lambda e: run_args(e, *data_args(e.tmp, qrels="\ufeffq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n"), "-m", "bm25"),
        r"", code=0, check=_no_bom_in_ids),
    Row("queries-judged-only-zero", "data", lambda e: run_args(e, *data_args(e.tmp, qrels="query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t0\n"), "-m", "bm25"),
        r"", code=0, check=_note_on_zero_only),
    # --- config and options ---------------------------------------------------------------------------------------
    Row("yaml-wrong-type", "config", lambda e: _config(e, "k: ten"), r"config\.yaml.*\bk\b"),
    Row("yaml-k-yes", "config", lambda e: _config(e, "k: yes"), r"config\.yaml.*\bk\b"),
    Row("max-docs-zero", "config", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25", "--max-docs", "0"), r"max-docs"),
    Row("max-docs-negative", "config", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25", "--max-docs", "-5"), r"max-docs"),
    Row("max-queries-zero", "config", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25", "--max-queries", "0"), r"max-queries"),
    Row("unknown-option", "config", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25", "--no-such-option"), r"no-such-option.*-h"),
    Row("bad-vectors-value", "config", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25", "--bad-vectors", "ignore"), r"--bad-vectors"),
    # --- cache --------------------------------------------------------------------------------------------------------
    Row("cache-is-a-file", "cache", lambda e: ["run", *data_args(e.tmp), "-m", "tokenlearn", "-o", str(e.tmp / "runs"),
                                               "--cache", str(_file(e.tmp / "cache-file")), "-q"], r"cannot create cache directory .*cache-file"),
    Row("cache-disk-full", "cache", _cache_full, r"cannot write embedding cache shard in .*cache.*No space left"),
    Row("corrupt-shard-is-repaired", "cache", _corrupt_shard, r"shard-.*is corrupt \(checksum mismatch", code=0),
    Row("endpoint-in-cache-key", "cache", _two_endpoints, r"", code=0, check=_other_endpoint_was_asked),
    # --- API ---------------------------------------------------------------------------------------------------------
    Row("api-401", "API", lambda e: (setattr(e.api.fake, "api_key", "another-key"), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*401"),
    Row("api-429-after-retries", "API", lambda e: (e.api.fake.fail_next(*[Fault("429")] * 4), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*429"),
    Row("api-500-after-retries", "API", lambda e: (e.api.fake.fail_next(*[Fault("500")] * 4), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*500"),
    Row("api-timeout", "API", lambda e: (e.api.fake.fail_next(*[Fault("timeout", delay=1.0)] * 4), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*(timed out|timeout|Timeout)"),
    Row("api-refused", "API", lambda e: run_args(e, *data_args(e.tmp), "-m", e.spec(f"http://127.0.0.1:{closed_port()}")),
        r"text-embedding-3-small.*(onnect|refused)"),
    Row("api-garbage", "API", lambda e: run_args(e, *data_args(e.tmp), "-m", e.spec(garbage_server(e))),
        r"text-embedding-3-small"),
    Row("api-key-never-leaks", "API", lambda e: run_args(e, *data_args(e.tmp), "-m", leaky_error(e)),
        r"text-embedding-3-small.*401", check=_no_key_fragment),
    Row("api-nan-vectors", "API", lambda e: (poison(e, "number 4", lambda d: np.full(d, np.nan, np.float32)), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*document 'd4': NaN values"),
    Row("api-zero-vectors", "API", lambda e: (poison(e, "number 4", lambda d: np.zeros(d, np.float32)), run_args(e, *data_args(e.tmp), "-m", e.spec()))[1],
        r"text-embedding-3-small.*document 'd4': an all-zero vector"),
    # --- run directories and servers ----------------------------------------------------------------------------------
    Row("names-that-sanitise-alike", "server", lambda e: run_args(e, *data_args(e.tmp), "-m", "bm25?name=模型", "-m", "tokenlearn?name=向量"),
        r"", code=0, check=_own_run_files),
    Row("html-in-names-and-queries", "server", lambda e: run_args(e, *data_args(e.tmp, queries=[{"_id": f"q{i}", "text": f"topic {i} <script>x()</script>"} for i in range(3)]), "-m", "bm25?name=<script>b</script>", "-m", "tokenlearn"),
        r"", code=0, check=_escaped_summary),
    Row("report-on-a-non-run-directory", "server", lambda e: ["report", str(_dir(e.tmp / "empty"))], r"not a run directory"),
    Row("show-a-damaged-run", "server", _damaged_run, r"\.trec: .*cut short"),
    Row("serve-on-a-busy-port", "server", _busy_port, r"in use"),
    Row("output-under-a-file", "disk", lambda e: ["run", *data_args(e.tmp), "-m", "bm25", "-o", str(_file(e.tmp / "blocker") / "runs"),
                                                  "--cache", str(e.tmp / "cache"), "-q"], r"cannot create output directory .*blocker"),
    Row("disk-full-writing-outputs", "disk", _disk_full, r"cannot write .*runs.*No space left on device.*removed"),
]


def _jsonl_object_text() -> bytes:
    rows = [{"_id": "d0", "text": {"a": 1}}, *[{"_id": f"d{i}", "text": f"topic {i}"} for i in range(1, 4)]]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _file(path: Path) -> Path:
    path.write_text("in the way")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _surrogate(env: Env) -> Path:
    root = beir(env.tmp)
    lines = (root / "corpus.jsonl").read_text().splitlines()
    lines[0] = '{"_id": "d0", "text": "broken \\ud800 text"}'
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    return root


def cli_run(args: list[str]) -> tuple[int, str]:
    """`embedscope ARGS` in this process, through the same error handling as the installed command."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from embedscope.cli import cli
    from embedscope.cli.errors import run_cli

    err, out = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["embedscope", *args]
    try:
        with redirect_stderr(err), redirect_stdout(out):
            code = run_cli(cli)
    finally:
        sys.argv = argv
    return code, err.getvalue()


@pytest.fixture(scope="module")
def servers():
    with FakeServer(FakeProvider("openai", api_key=KEY)) as api, FakeServer(FakeProvider("openai", api_key=KEY)) as other:
        yield api, other


@pytest.mark.parametrize("row", [r.param() for r in ROWS])
def test_fault(row: Row, servers, tmp_path, monkeypatch, caplog):
    api, other = servers
    for server in servers:
        server.fake.faults.clear()
        server.fake.log.clear()
        server.fake.api_key = KEY
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    env = Env(tmp_path, api, other, monkeypatch)
    env.keep = None
    args = row.make(env)
    with caplog.at_level("WARNING"):
        code, err = cli_run(args)
    err += caplog.text  # warnings go through logging
    assert "Traceback" not in err, err
    assert code == row.code, err
    if row.code == 2:
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err
        assert re.search(row.line, lines[0]), lines[0]
    elif row.line:
        assert re.search(row.line, err), err
    if row.check:
        row.check(env, err)
    # nothing partial left behind
    runs = tmp_path / "runs"
    left = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
    if row.code == 2:
        assert left in ([], [env.keep]), f"left behind in the output folder: {left}"
    assert not [p for p in left if ".partial-" in p], left
    assert not list((tmp_path / "cache").glob("*/*/.*.tmp")), "a half-written cache shard"


def test_the_web_app_answers_a_deeply_nested_body_with_400(tmp_path):
    """Not a dropped connection with a server-side traceback."""
    import urllib.error
    import urllib.request

    from embedscope.webui import Explorer, WebApp, serve_in_thread

    assert cli_run(["run", *data_args(tmp_path), "-m", "bm25", "-o", str(tmp_path / "runs"),
                    "--cache", str(tmp_path / "cache"), "-q"])[0] == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    server, thread = serve_in_thread(WebApp(Explorer(run_dir), k=5))
    try:
        body = b"[" * 30_000 + b"]" * 30_000  # under the body size limit
        request = urllib.request.Request(server.url + "api/judgments", data=body,
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 400 and b"nested too deeply" in answer.value.read()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
