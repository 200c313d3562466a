"""The embedding cache: a second run re-embeds nothing, an interrupted run resumes, settings change the key."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.cache import CacheError, EmbeddingCache


class Counting:
    """Wraps an encode function, counting texts and optionally failing after a number of calls."""

    def __init__(self, fn, fail_after: int | None = None):
        self.fn, self.fail_after, self.calls, self.texts = fn, fail_after, 0, 0

    def __call__(self, texts):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        self.texts += len(texts)
        return self.fn(texts)


def test_second_run_embeds_nothing(tmp_path, small_set, static_model):
    cache = EmbeddingCache(tmp_path, shard_size=128)
    texts = small_set.doc_texts
    first = Counting(static_model.encode_documents)
    v1, s1 = cache.encode(static_model.fingerprint(), "document", texts, first)
    assert first.texts == len(set(texts)) and s1["encoded"] == len(set(texts))
    second = Counting(static_model.encode_documents)
    v2, s2 = cache.encode(static_model.fingerprint(), "document", texts, second)
    assert second.calls == 0 and s2["cached"] == len(texts)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_allclose(v1, static_model.encode_documents(texts), rtol=1e-6)


def test_interrupted_run_resumes_without_re_embedding(tmp_path, small_set, static_model):
    cache = EmbeddingCache(tmp_path, shard_size=100)
    texts = small_set.doc_texts
    fp = static_model.fingerprint()
    killed = Counting(static_model.encode_documents, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(fp, "document", texts, killed)
    assert 0 < killed.texts <= 300  # three calls of at most shard_size texts, each saved before the next
    resumed = Counting(static_model.encode_documents)
    vectors, stats = cache.encode(fp, "document", texts, resumed)
    assert resumed.texts == len(set(texts)) - killed.texts and stats["cached"] == killed.texts
    np.testing.assert_allclose(vectors, static_model.encode_documents(texts), rtol=1e-6)
    assert not list((tmp_path / fp / "document").glob(".*.tmp"))


def test_roles_and_fingerprints_are_separate(tmp_path, static_model):
    cache = EmbeddingCache(tmp_path)
    cache.encode("fp-a", "query", ["x"], static_model.encode_queries)
    calls = Counting(static_model.encode_documents)
    cache.encode("fp-a", "document", ["x"], calls)
    cache.encode("fp-b", "query", ["x"], calls)
    assert calls.calls == 2


def test_prompts_change_the_fingerprint(minilm):
    from embedscope.models import load_model as load

    prompted = load("minilm?query_prompt=query: ")
    assert prompted.fingerprint() != minilm.fingerprint()
    assert load("minilm").fingerprint() == minilm.fingerprint()


def test_duplicates_encoded_once(tmp_path, static_model):
    calls = Counting(static_model.encode_documents)
    vectors, stats = EmbeddingCache(tmp_path).encode("fp", "document", ["a", "b", "a"], calls)
    assert calls.texts == 2 and vectors.shape[0] == 3
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_corrupt_shard_is_set_aside_and_re_embedded(tmp_path, static_model):
    cache = EmbeddingCache(tmp_path)
    cache.encode("fp", "document", ["a", "b"], static_model.encode_documents)
    shard = next((tmp_path / "fp" / "document").glob("shard-*.parquet"))
    shard.write_bytes(b"garbage")
    calls = Counting(static_model.encode_documents)
    cache.encode("fp", "document", ["a", "b"], calls)
    assert calls.texts == 2 and list((tmp_path / "fp" / "document").glob("*.corrupt"))


def test_unwritable_cache_is_a_clear_error(tmp_path):
    import os

    if os.geteuid() == 0:
        target = tmp_path / "file-in-the-way"
        target.write_text("x")
        with pytest.raises(CacheError, match="cannot create cache directory"):
            EmbeddingCache(target / "cache")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(CacheError):
            EmbeddingCache(ro / "cache")


# --- integrity: checksums, set-aside with a message, `embedscope cache verify` -------------------------------

def _one_shard(tmp_path, n: int = 40, dim: int = 32):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    cache = EmbeddingCache(tmp_path / "cache")
    shard = cache.write_shard("fp", "document", [f"{i:032x}" for i in range(n)], vectors)
    return cache, shard, vectors


def test_every_single_bit_flip_in_a_shard_is_detected(tmp_path):
    """200 random single-bit flips anywhere in a shard file: each one is caught and the shard set aside."""
    cache, shard, vectors = _one_shard(tmp_path)
    original = shard.read_bytes()
    rng = np.random.default_rng(1)
    undetected = []
    for bit in rng.choice(len(original) * 8, size=200, replace=False):
        data = bytearray(original)
        data[bit // 8] ^= 1 << (bit % 8)
        shard.write_bytes(bytes(data))
        if cache.read_shard(shard) is not None:
            undetected.append(int(bit))
        assert not shard.exists() or bit in undetected  # set aside, never read again
        shard.with_suffix(".corrupt").unlink(missing_ok=True)
    assert undetected == []
    shard.write_bytes(original)  # and the intact file still reads back exactly
    keys, read = cache.read_shard(shard)
    np.testing.assert_array_equal(read, vectors)


def test_truncated_shard_is_reported_set_aside_and_re_embedded(tmp_path, caplog, static_model):
    cache = EmbeddingCache(tmp_path)
    texts = ["alpha beta", "gamma delta", "epsilon"]
    cache.encode("fp", "document", texts, static_model.encode_documents)
    shard = next((tmp_path / "fp" / "document").glob("shard-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-100])
    calls = Counting(static_model.encode_documents)
    with caplog.at_level("WARNING", logger="embedscope.cache"):
        vectors, stats = cache.encode("fp", "document", texts, calls)
    assert calls.texts == 3 and stats["encoded"] == 3
    assert str(shard) in caplog.text and "is corrupt" in caplog.text and "embedded again" in caplog.text
    assert cache.set_aside and cache.set_aside[0][0] == shard.with_suffix(".corrupt")
    np.testing.assert_allclose(vectors, static_model.encode_documents(texts), rtol=1e-6)


def test_a_shard_in_another_models_folder_is_not_trusted(tmp_path):
    cache, shard, _ = _one_shard(tmp_path)
    other = cache.folder("other-model", "document")
    other.mkdir(parents=True)
    copied = other / shard.name
    copied.write_bytes(shard.read_bytes())
    assert cache.read_shard(copied) is None
    assert "belongs to model fp" in cache.set_aside[-1][1]


def test_cache_verify_says_what_is_wrong_where(tmp_path, static_model):
    from click.testing import CliRunner

    from embedscope.cli import cli

    cache = EmbeddingCache(tmp_path / "cache", shard_size=2)
    cache.encode("model-a", "document", [f"text {i}" for i in range(6)], static_model.encode_documents)
    cache.encode("model-b", "query", ["a query"], static_model.encode_queries)
    runner = CliRunner()
    clean = runner.invoke(cli, ["cache", "verify", str(tmp_path / "cache")])
    assert clean.exit_code == 0, clean.output
    assert "2 model(s), 4 shard(s), 7 vectors; 0 problem(s)" in clean.output

    flipped, truncated, _ = cache.shards("model-a", "document")
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:50])
    (truncated.parent / ".shard-left-behind.parquet.tmp").write_bytes(b"half")
    found = runner.invoke(cli, ["cache", "verify", str(tmp_path / "cache")])
    assert found.exit_code == 1
    lines = found.output.splitlines()
    assert f"{flipped}: corrupt: checksum mismatch" in found.output
    assert any(line.startswith(f"{truncated}: corrupt") for line in lines)
    assert "half-written" in found.output and "3 problem(s)" in lines[-1]
    assert flipped.exists(), "verify only reads"
    missing = runner.invoke(cli, ["cache", "verify", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a cache directory" in missing.output


# --- what a kill can cost: shards saved by time, API requests saved one by one --------------------------------

def test_shards_are_flushed_by_time_as_well_as_by_count(tmp_path):
    """A slow model with a large shard size still saves its work every flush interval."""
    import time

    def slow(texts):
        time.sleep(0.004 * len(texts))  # 250 texts a second
        return np.ones((len(texts), 4), np.float32) * np.arange(1, len(texts) + 1)[:, None]

    cache = EmbeddingCache(tmp_path, shard_size=100_000, flush_seconds=0.25)
    sizes = []
    real_write = cache.write_shard
    cache.write_shard = lambda fp, role, keys, vectors: (sizes.append(len(keys)), real_write(fp, role, keys, vectors))[1]
    cache.encode("fp", "document", [f"text {i:04d}" for i in range(600)], slow)
    assert len(sizes) >= 4, sizes  # 2.4 s of encoding: never one shard at the end
    assert max(sizes[1:]) <= 2 * 0.25 * 250, sizes  # after the first call, about flush_seconds of work a shard


def test_api_answers_are_saved_before_the_next_requests_are_sent(tmp_path, monkeypatch):
    """An API embedder gets one round of requests per call (batch_size texts each, `concurrency` at once) and
    their vectors are saved before the next round; with concurrency 1, after every request."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_providers import FakeProvider, FakeServer

    from embedscope.models import load_model

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with FakeServer(FakeProvider("openai", api_key="k")) as server:
        texts = [f"text number {i}" for i in range(42)]
        for concurrency, shards in ((3, 3), (1, 9)):  # 42 texts: rounds of 15 texts, or requests of 5
            server.fake.log.clear()
            model = load_model(f"openai:text-embedding-3-small?base_url={server.url}/v1&dim=16&batch_size=5"
                               f"&concurrency={concurrency}")
            cache = EmbeddingCache(tmp_path / str(concurrency), shard_size=2048)
            vectors, _ = cache.encode(model.fingerprint(), "document", texts, model.encode_documents)
            assert len(server.fake.log) == 9 and len(cache.shards(model.fingerprint(), "document")) == shards
            np.testing.assert_allclose(vectors, server.fake.expected(texts), atol=1e-6)


def test_known_vectors_are_saved_without_encoding_and_left_out_of_the_speed(tmp_path):
    """Vectors the model made already (its runtime check's sample) are saved and counted as encoded, but not
    encoded again, and the recorded speed counts only the texts the encoder did."""
    cache = EmbeddingCache(tmp_path)
    texts = [f"text number {i}" for i in range(10)] + ["text number 3"]

    def encode(batch):
        return np.stack([np.full(4, -len(t), np.float32) for t in batch])

    known = {texts[i]: np.full(4, i + 1, np.float32) for i in (0, 3, 7)} | {"another run's text": np.ones(4)}
    calls = Counting(encode)
    vectors, stats = cache.encode("fp", "document", texts, calls, known=known)
    assert calls.texts == 7 and stats["encoded"] == 10 and stats["from_check"] == 3
    expected = np.stack([known[t] if t in known else encode([t])[0] for t in texts])
    np.testing.assert_array_equal(vectors, expected)
    assert cache.recorded_speed("fp", "document")["texts"] == 7
    again, stats = cache.encode("fp", "document", texts, Counting(encode))
    assert stats["cached"] == 11 and stats["encoded"] == 0 and "from_check" not in stats
    np.testing.assert_array_equal(again, vectors)
