"""Distributed embedding: Dask and Ray fill the cache shard by shard, resume after an interruption without
re-embedding finished shards, and leave exactly the vectors a single-process encode gives."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from embedscope.cache import EmbeddingCache, text_key
from embedscope.distributed import embed, make_engine, plan
from embedscope.distributed.plan import ShardTask
from embedscope.distributed.tasks import embed_task

SPEC = "tokenlearn"
SHARD = 250


class Interrupted(Exception):
    """Stands for the driver dying mid-run."""


@pytest.fixture(scope="module")
def texts(scifact):
    """3,000 SciFact documents with duplicates mixed in (each must be embedded once) and 100 queries."""
    docs = scifact.doc_texts[:3000]
    return {"document": docs + docs[:40], "query": scifact.query_texts[:100]}


@pytest.fixture(scope="module")
def expected(texts, static_model):
    """Vectors from the model in this process, by key: what every engine must leave in the cache."""
    out = {}
    for role, encode in (("document", static_model.encode_documents), ("query", static_model.encode_queries)):
        unique = list(dict.fromkeys(texts[role]))
        out[role] = dict(zip(map(text_key, unique), encode(unique)))
    return out


def cached_rows(cache: EmbeddingCache, fingerprint: str, role: str) -> list[str]:
    """Every key in every shard, duplicates included (a re-embedded text would show up twice)."""
    return [k for shard in cache.shards(fingerprint, role) for k in pq.read_table(shard, columns=["key"])["key"].to_pylist()]


def check_complete(cache, fingerprint, expected, extra_rows_allowed=0):
    for role, vectors in expected.items():
        rows = cached_rows(cache, fingerprint, role)
        assert set(rows) == set(vectors)
        assert len(rows) - len(vectors) <= (extra_rows_allowed if role == "document" else 0)
        got = cache.load(fingerprint, role)
        keys = list(vectors)
        np.testing.assert_allclose(np.stack([got[k] for k in keys]), np.stack([vectors[k] for k in keys]),
                                   rtol=1e-5, atol=1e-6)


def test_plan_skips_cached_and_duplicates(tmp_path, texts):
    cache = EmbeddingCache(tmp_path)
    first = plan(cache, "fp", texts, shard_size=SHARD)
    assert first.unique == {"document": 3000, "query": 100} and first.cached == {"document": 0, "query": 0}
    assert first.todo == 3100 and all(len(t) <= SHARD for t in first.tasks)
    assert [t.number for t in first.tasks] == list(range(len(first.tasks)))
    done = first.tasks[3]
    cache.write_shard("fp", done.role, done.keys, np.zeros((len(done), 4), np.float32))
    again = plan(cache, "fp", texts, shard_size=SHARD)
    assert again.cached["document"] == len(done) and again.todo == 3100 - len(done)
    assert not set(done.keys) & {k for t in again.tasks for k in t.keys}
    assert len(again.limit(2).tasks) == 2
    with pytest.raises(ValueError, match="shard size"):
        plan(cache, "fp", texts, shard_size=0)


def test_worker_refuses_other_weights(tmp_path):
    task = ShardTask(0, "document", [text_key("a")], ["a"])
    with pytest.raises(RuntimeError, match="fingerprint"):
        embed_task(task, SPEC, str(tmp_path), "not-this-model")
    assert not list(tmp_path.rglob("*.parquet"))


def resume_after_limit(engine, tmp_path, texts, expected):
    """A run that stops after 3 shards, then a second run: every text embedded exactly once overall."""
    cache = EmbeddingCache(tmp_path / "limit", shard_size=SHARD)
    first = embed(engine, SPEC, texts, cache, max_tasks=3)
    assert first.encoded == 3 * SHARD
    second = embed(engine, SPEC, texts, cache)
    assert second.plan.cached["document"] == 3 * SHARD
    assert first.encoded + second.encoded == 3100  # unique texts, no re-embedding
    check_complete(cache, first.fingerprint, expected)
    return cache, first.fingerprint


def resume_after_interrupt(engine, tmp_path, texts, expected, in_flight: int):
    """The driver stops while shards are being embedded; the second run embeds only what was not written.
    Shards in flight when it stopped may finish and be written too: at most `in_flight` of them."""
    cache = EmbeddingCache(tmp_path / "interrupt", shard_size=SHARD)
    seen = []

    def stop_after_two(result):
        seen.append(result)
        if len(seen) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        embed(engine, SPEC, texts, cache, on_result=stop_after_two)
    fp = engine.fingerprint(SPEC)[0]
    written = len(cached_rows(cache, fp, "document")) + len(cached_rows(cache, fp, "query"))
    assert 2 * SHARD <= written < 3100
    second = embed(engine, SPEC, texts, cache)
    assert sum(second.plan.cached.values()) >= 2 * SHARD
    check_complete(cache, fp, expected, extra_rows_allowed=in_flight * SHARD)
    return cache, fp


def test_local_engine_resumes(tmp_path, texts, expected):
    with make_engine("local") as engine:
        resume_after_limit(engine, tmp_path, texts, expected)


@pytest.fixture(scope="module")
def dask_address():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_dask_resumes_after_limit(tmp_path, texts, expected, dask_address, scifact, static_model):
    with make_engine("dask", workers=2, address=dask_address) as engine:
        assert engine.describe().startswith("Dask at tcp://127.0.0.1")
        cache, fp = resume_after_limit(engine, tmp_path, texts, expected)
    # the normal pipeline finds every vector cached and embeds nothing
    from embedscope.runs.dense import DenseRetriever

    from embedscope.data import Dataset

    subset = Dataset("first-3000", dict(list(scifact.corpus.items())[:3000]), dict(list(scifact.queries.items())[:100]))
    docs, queries, stats = DenseRetriever(static_model, cache).embed(subset)
    assert stats["fingerprint"] == fp
    assert stats["documents"]["encoded"] == 0 and stats["queries"]["encoded"] == 0


def test_dask_resumes_after_interrupt(tmp_path, texts, expected, dask_address):
    with make_engine("dask", workers=2, address=dask_address, in_flight_per_worker=2) as engine:
        resume_after_interrupt(engine, tmp_path, texts, expected, in_flight=4)


@pytest.fixture(scope="module")
def ray_session():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 object_store_memory=200 * 1024**2, log_to_driver=False, configure_logging=False)
    except Exception as e:  # noqa: BLE001 - any failure to start means Ray cannot be tested here
        pytest.skip(f"Ray cannot start on this machine: {e}")
    yield ray
    ray.shutdown()


def test_ray_resumes_after_limit_and_interrupt(tmp_path, texts, expected, ray_session):
    with make_engine("ray", workers=2) as engine:
        assert "2 actor(s)" in engine.describe()
        resume_after_limit(engine, tmp_path, texts, expected)
        # Ray Data runs ahead of the consumer: up to all queued shards may be in flight when it stops
        resume_after_interrupt(engine, tmp_path, texts, expected, in_flight=len(expected["document"]) // SHARD + 1)
    assert ray_session.is_initialized()  # the engine leaves a Ray it did not start running


def write_beir(folder, scifact, n_docs=400, n_queries=20):
    import json

    folder.mkdir()
    with open(folder / "corpus.jsonl", "w") as f:
        for doc in list(scifact.corpus.values())[:n_docs]:
            f.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in list(scifact.queries.items())[:n_queries]:
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    return folder


def test_embed_command(tmp_path, scifact):
    from embedscope.cli import cli

    data = write_beir(tmp_path / "beir", scifact)
    args = ["embed", "--data", str(data), "-m", SPEC, "--cache", str(tmp_path / "cache"), "--shard-size", "100", "-q"]
    runner = CliRunner()
    partial = runner.invoke(cli, args + ["--max-shards", "2"])
    assert partial.exit_code == 0, partial.output
    assert "embedded 200 texts in 2 shard(s)" in partial.output and "220 texts left" in partial.output
    rest = runner.invoke(cli, args)
    assert rest.exit_code == 0, rest.output
    assert "embedded 220 texts in 3 shard(s)" in rest.output and "cache complete" in rest.output
    again = runner.invoke(cli, args)
    assert "embedded 0 texts" in again.output
    bad = runner.invoke(cli, args + ["--address", "tcp://127.0.0.1:1"])
    assert bad.exit_code != 0 and "--engine dask" in bad.output
