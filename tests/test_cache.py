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
