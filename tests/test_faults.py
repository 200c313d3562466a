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
