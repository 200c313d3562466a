"""Nothing lost under faults: kill -9 mid-run, full disks, unwritable folders, concurrent runs on one cache."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from embedscope.cache import CacheError, EmbeddingCache

WORKER = textwrap.dedent(
    """
    import sys, time
    from embedscope.cache import EmbeddingCache
    from embedscope.data import load_beir
    from embedscope.models import load_model

    data, cache_dir, log = sys.argv[1], sys.argv[2], sys.argv[3]
    texts = load_beir(data).doc_texts[:1200]
    model = load_model("tokenlearn")

    def slow_encode(batch):
        time.sleep(0.2)  # a slow model: the kill lands mid-run
        with open(log, "a") as f:
            f.write(f"{len(batch)}\\n")
        return model.encode_documents(batch)

    EmbeddingCache(cache_dir, shard_size=50).encode(model.fingerprint(), "document", texts, slow_encode)
    """
)


def test_kill_9_then_resume_loses_nothing(tmp_path, scifact_dir, static_model, scifact):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cache_dir, log = tmp_path / "cache", tmp_path / "encoded.log"
    proc = subprocess.Popen([sys.executable, str(script), str(scifact_dir), str(cache_dir), str(log)])
    shard_dir = cache_dir / static_model.fingerprint() / "document"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shard_dir.glob("shard-*.parquet"))) < 5:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = len(list(shard_dir.glob("shard-*.parquet")))
    assert 5 <= saved < 24, "the kill should land mid-run"
    sent_before = sum(int(x) for x in log.read_text().split())

    texts = scifact.doc_texts[:1200]
    sent_after = []
    vectors, stats = EmbeddingCache(cache_dir, shard_size=50).encode(
        static_model.fingerprint(), "document", texts, lambda b: (sent_after.append(len(b)), static_model.encode_documents(b))[1])
    # No vector lost: every text has the vector a clean run gives.
    np.testing.assert_allclose(vectors, static_model.encode_documents(texts), rtol=1e-6)
    # None re-embedded except the one batch that was in flight when the process died.
    assert stats["cached"] == saved * 50
    assert sum(sent_after) == len(set(texts)) - saved * 50
    assert sent_before - saved * 50 <= 50
    assert not list(shard_dir.glob(".*.tmp")), "a half-written shard was left behind"


def test_disk_full_is_a_clear_error_and_keeps_earlier_shards(tmp_path, static_model, monkeypatch):
    cache = EmbeddingCache(tmp_path, shard_size=10)
    texts = [f"text {i}" for i in range(40)]
    real_fsync = os.fsync
    calls = {"n": 0}

    def full_disk(fd):  # the disk fills while the third shard is being written
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CacheError, match="No space left on device"):
        cache.encode("fp", "document", texts, static_model.encode_documents)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert len(list((tmp_path / "fp" / "document").glob("shard-*.parquet"))) == 2
    assert not list((tmp_path / "fp" / "document").glob(".*.tmp"))
    _, stats = cache.encode("fp", "document", texts, static_model.encode_documents)
    assert stats["cached"] == 20 and stats["encoded"] == 20


def embedscope(*args):
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=300)


def test_unwritable_output_and_cache_are_clear_errors(tmp_path, scifact_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = embedscope("run", "--data", str(scifact_dir), "-m", "bm25", "--max-queries", "5",
                        "-o", str(blocker / "runs"), "--cache", str(tmp_path / "c"), "-q")
    assert result.returncode == 2, result.stderr
    assert "cannot create output directory" in result.stderr and "Traceback" not in result.stderr
    result = embedscope("run", "--data", str(scifact_dir), "-m", "tokenlearn", "--max-queries", "5",
                        "-o", str(tmp_path / "o"), "--cache", str(blocker / "cache"), "-q")
    assert result.returncode == 2 and "cannot create cache directory" in result.stderr, result.stderr


CONCURRENT = textwrap.dedent(
    """
    import sys
    from embedscope.cache import EmbeddingCache
    from embedscope.models import load_model
    start = int(sys.argv[2])
    texts = [f"shared text number {i}" for i in range(start, start + 600)]
    model = load_model("tokenlearn")
    EmbeddingCache(sys.argv[1], shard_size=37).encode(model.fingerprint(), "document", texts, model.encode_documents)
    """
)


def test_concurrent_runs_share_one_cache(tmp_path, static_model):
    script = tmp_path / "w.py"
    script.write_text(CONCURRENT)
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(s)]) for s in (0, 300, 150)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    texts = [f"shared text number {i}" for i in range(900)]
    cache = EmbeddingCache(tmp_path / "cache")
    stored = cache.load(static_model.fingerprint(), "document")
    assert len(stored) == 900  # overlapping work may be stored twice, but every key maps to one right vector
    calls = []
    vectors, stats = cache.encode(static_model.fingerprint(), "document", texts, lambda b: calls.append(b) or static_model.encode_documents(b))
    assert not calls and stats["cached"] == 900
    np.testing.assert_allclose(vectors, static_model.encode_documents(texts), rtol=1e-6)


# --- what a kill costs: at most one flush interval of a local model, one request of an API model ---------------

SLOW_LOCAL = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from embedscope.cache import EmbeddingCache

    cache_dir, log = sys.argv[1], sys.argv[2]

    def slow(texts):  # 200 texts a second; the shard size alone would keep everything in memory to the end
        with open(log, "a") as f:
            f.write(f"{len(texts)}\\n")
        time.sleep(0.005 * len(texts))
        return np.ones((len(texts), 8), np.float32)

    texts = [f"text number {i}" for i in range(5000)]
    EmbeddingCache(cache_dir, shard_size=100_000, flush_seconds=0.5).encode("fp", "document", texts, slow)
    """
)


def _kill_when(proc, folder, shards: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(folder.glob("shard-*.parquet"))) < shards and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the worker finished before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _saved(cache: EmbeddingCache, fp: str) -> int:
    return len(cache.keys(fp, "document"))


def test_kill_loses_at_most_one_flush_interval_of_a_local_model(tmp_path):
    script, log = tmp_path / "slow.py", tmp_path / "sent.log"
    script.write_text(SLOW_LOCAL)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(log)])
    _kill_when(proc, tmp_path / "cache" / "fp" / "document", shards=4)
    saved = _saved(EmbeddingCache(tmp_path / "cache"), "fp")
    sent = sum(int(n) for n in log.read_text().split())
    # lost: the call in flight, about flush_seconds (0.5 s = 100 texts) of work; never the 2,048 of a shard
    assert 0 <= sent - saved <= 2 * 100, (sent, saved)
    assert saved >= 4 * 10


class SlowProvider:
    """The fake OpenAI API answering after 50 ms, so a kill lands while requests are being made."""

    @staticmethod
    def make():
        sys.path.insert(0, os.path.dirname(__file__))
        from fake_providers import FakeProvider

        class Slow(FakeProvider):
            def respond(self, path, body):
                time.sleep(0.05)
                return super().respond(path, body)

        return Slow("openai", api_key="k")


API_WORKER = textwrap.dedent(
    """
    import sys
    from embedscope.cache import EmbeddingCache
    from embedscope.models import load_model

    url, cache_dir = sys.argv[1], sys.argv[2]
    model = load_model(f"openai:text-embedding-3-small?base_url={url}/v1&dim=16&batch_size=8&concurrency=1")
    texts = [f"text number {i}" for i in range(1200)]
    EmbeddingCache(cache_dir).encode(model.fingerprint(), "document", texts, model.encode_documents)
    """
)


def test_kill_loses_at_most_one_api_request_and_bills_no_text_twice(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.dirname(__file__))
    from fake_providers import FakeServer

    from embedscope.models import load_model

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    script = tmp_path / "api.py"
    script.write_text(API_WORKER)
    with FakeServer(SlowProvider.make()) as server:
        spec = f"openai:text-embedding-3-small?base_url={server.url}/v1&dim=16&batch_size=8&concurrency=1"
        fp = load_model(spec).fingerprint()
        proc = subprocess.Popen([sys.executable, str(script), server.url, str(tmp_path / "cache")],
                                env={**os.environ, "OPENAI_API_KEY": "k"})
        _kill_when(proc, tmp_path / "cache" / fp / "document", shards=5)
        time.sleep(0.2)  # a request in flight when the process died may still be answered
        answered = sum(len(e.body["input"]) for e in server.fake.log if e.status == 200)
        cache = EmbeddingCache(tmp_path / "cache")
        saved = _saved(cache, fp)
        assert 0 <= answered - saved <= 8, (answered, saved)  # at most the one request in flight

        texts = [f"text number {i}" for i in range(1200)]
        before = len(server.fake.log)
        model = load_model(spec)
        vectors, stats = cache.encode(fp, "document", texts, model.encode_documents)
        resent = sum(len(e.body["input"]) for e in server.fake.log[before:])
    assert stats["cached"] == saved and resent == 1200 - saved
    assert answered + resent - 1200 <= 8  # texts billed twice: at most one request's worth
    np.testing.assert_allclose(vectors, server.fake.expected(texts), atol=1e-6)


def test_a_killed_run_leaves_no_run_directory(tmp_path, monkeypatch, synthetic_dir):
    """kill -9 while an API model embeds: the output folder holds no run directory, not even an empty one."""
    sys.path.insert(0, os.path.dirname(__file__))
    from fake_providers import FakeServer

    with FakeServer(SlowProvider.make()) as server:
        spec = f"openai:text-embedding-3-small?base_url={server.url}/v1&dim=16&batch_size=4&concurrency=1"
        proc = subprocess.Popen([sys.executable, "-m", "embedscope", "run", "--data", str(synthetic_dir), "-m", spec,
                                 "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q"],
                                env={**os.environ, "OPENAI_API_KEY": "k"})
        deadline = time.time() + 120
        while time.time() < deadline and len(list((tmp_path / "cache").glob("*/document/shard-*"))) < 3:
            time.sleep(0.02)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    runs = tmp_path / "runs"
    assert runs.is_dir()  # made up front, so an unwritable folder fails at once
    assert list(runs.iterdir()) == []
