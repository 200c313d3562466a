"""Vector databases scored like any index: same scores as exact search, filters that keep exactly the matching
documents, the index each database really built, and local servers started and stopped by PID.

Vectors: SciFact (60 queries, 800 docs) embedded by the static tokenlearn model (64 dims), so each database
loads in well under a second; servers (Redis 8 + RediSearch, PostgreSQL + pgvector) run once per session.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedscope.index import ExactIndex, build_index
from embedscope.index.base import normalize

BACKENDS = ["lancedb", "qdrant", "milvus-lite", "pgvector", "redis"]
PACKAGES = {"lancedb": ["lancedb"], "qdrant": ["qdrant_edge"], "milvus-lite": ["pymilvus", "milvus_lite"],
            "pgvector": ["psycopg", "pgvector"], "redis": ["redis"]}


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _need(backend: str) -> None:
    for module in PACKAGES[backend]:
        pytest.importorskip(module, reason=f"{backend} backend needs the '{module}' package")


# --- servers: started on 127.0.0.1 (free port, temp dir) and stopped by PID ---------------------------

@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    from embedscope.servers import ServerError, start_redis

    pytest.importorskip("redis", reason="redis client not installed")
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except ServerError as e:
        pytest.skip(f"Redis could not start: {e}")
    yield server
    server.stop()
    assert not server.alive(), f"redis pid {server.pid} still running after stop"


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory):
    from embedscope.servers import ServerError, start_postgres

    pytest.importorskip("psycopg", reason="psycopg not installed")
    try:
        server = start_postgres()  # its own temp folder, reachable by the user it runs as; removed on stop
    except ServerError as e:
        pytest.skip(f"PostgreSQL could not start: {e}")
    yield server
    server.stop()
    assert not server.alive(), f"postgres pid {server.pid} still running after stop"


@pytest.fixture
def make_index(request):
    """make_index(backend, metric, index_type) -> a VectorDB on this session's servers; closed after the test."""
    made = []

    def make(backend: str, metric: str = "cosine", index_type: str | None = None):
        _need(backend)
        if backend == "lancedb":
            from embedscope.index.db.lancedb import LanceDBIndex as cls
            index = cls(metric, index_type or "flat")
        elif backend == "qdrant":
            from embedscope.index.db.qdrant import QdrantIndex
            index = QdrantIndex(metric, index_type or "flat")
        elif backend == "milvus-lite":
            from embedscope.index.db.milvus import MilvusIndex
            index = MilvusIndex(metric, index_type=index_type or "FLAT")
        elif backend == "pgvector":
            from embedscope.index.db.pgvector import PgvectorIndex
            server = request.getfixturevalue("postgres_server")
            index = PgvectorIndex(metric, index_type or "flat",
                                  dsn=f"host={server.host} port={server.port} user=postgres dbname=postgres")
        else:
            from embedscope.index.db.redis import RedisIndex
            server = request.getfixturevalue("redis_server")
            index = RedisIndex(metric, index_type or "flat", host=server.host, port=server.port)
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()


# --- data ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vectors(static_model, session_cache):
    """Static-model vectors of a synthetic 800-document set: what the backends store and search does not depend on
    the data (tests/test_vector_dbs.py::test_db_bench_cli runs SciFact through them)."""
    from conftest import make_synthetic

    from embedscope.runs.dense import DenseRetriever

    dataset = make_synthetic(n_docs=800, n_queries=60, seed=1, name="synthetic-small")
    docs, queries, _ = DenseRetriever(static_model, session_cache).embed(dataset)
    return dataset, docs, queries


@pytest.fixture(scope="module")
def metadata(vectors):
    dataset, docs, _ = vectors
    return [{"tag": "abc"[i % 3], "text": text} for i, text in enumerate(dataset.doc_texts)]


def true_scores(docs, queries, positions, metric):
    """Our definition of each score, recomputed from the vectors: cosine, inner product, -squared L2."""
    if metric == "cosine":
        docs, queries = normalize(docs), normalize(queries)
    out = np.full(positions.shape, -np.inf)
    for i, row in enumerate(positions):
        for j, p in enumerate(row):
            if p >= 0:
                out[i, j] = -np.sum((docs[p] - queries[i]) ** 2) if metric == "l2" else docs[p] @ queries[i]
    return out


def assert_same_as_exact(docs, queries, scores, positions, exact_docs_subset, metric, k):
    """Every returned score is that doc's true score, and the score list equals exact search's (ties allowed)."""
    exact = ExactIndex(metric)
    exact.add(docs[exact_docs_subset])
    exact_scores, exact_pos = exact.search(queries, k)
    valid = positions >= 0
    np.testing.assert_allclose(scores[valid], true_scores(docs, queries, positions, metric)[valid], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(valid, exact_pos >= 0)
    np.testing.assert_allclose(scores[valid], exact_scores[valid], rtol=1e-4, atol=1e-4)


# --- tests ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_mode_equals_exact_search(backend, metric, vectors, metadata, make_index):
    _, docs, queries = vectors
    index = make_index(backend, metric)
    index.add(docs, metadata=metadata)
    scores, positions = index.search(queries, 10)
    assert scores.shape == positions.shape == (len(queries), 10)
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "scores must be sorted, higher is better"
    assert_same_as_exact(docs, queries, scores, positions, np.arange(len(docs)), metric, 10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_filters_keep_only_matching_docs_and_equal_exact_on_subset(backend, vectors, metadata, make_index):
    from embedscope.index.db import Filter

    _, docs, queries = vectors
    index = make_index(backend, "cosine")
    index.add(docs, metadata=metadata)
    filters = [Filter(tags={"tag": "b"}), Filter(words=("telescope",)), Filter(tags={"tag": "c"}, words=("vaccine",)),
               Filter(words=("GALAXY", "recipe"))]  # words of the synthetic topics; upper case matches too
    for filter in filters:
        subset = np.flatnonzero(filter.mask(metadata))
        assert 0 < len(subset) < len(docs), f"{filter} should keep some docs, not all"
        scores, positions = index.search(queries, 10, filter=filter)
        found = positions[positions >= 0]
        assert len(found), f"{backend}: {filter} returned nothing"
        assert all(filter.matches(metadata[p]) for p in found), f"{backend}: {filter} let a non-matching doc through"
        assert_same_as_exact(docs, queries, scores, positions, subset, "cosine", 10)


def test_filter_reference_semantics():
    from embedscope.index.db import Filter

    f = Filter(words=("Cell",))
    assert f.matches({"text": "A cell‐intrinsic (Cell) view"})  # Unicode dash separates words
    assert not f.matches({"text": "cells and cellular"})  # whole words only
    assert Filter(tags={"tag": "a"}).matches({"tag": "a"}) and not Filter(tags={"tag": "a"}).matches({"tag": "ab"})
    with pytest.raises(ValueError, match="single word"):
        Filter(words=("two words",))
    with pytest.raises(ValueError, match="tag field"):
        Filter(tags={"text": "x"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_evaluate_backend_through_registry(backend, vectors, metadata, request, monkeypatch):
    """The default (approximate) index of each database, built from its spec and scored like any index."""
    from embedscope.sweeps.databases import evaluate_backend

    _need(backend)
    dataset, docs, queries = vectors
    spec = backend
    if backend == "pgvector":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("EMBEDSCOPE_PG_DSN", f"host={server.host} port={server.port} user=postgres dbname=postgres")
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        spec = f"redis?host={server.host}&port={server.port}"
    exact = evaluate_backend(dataset, docs, queries, "exact", "cosine", 10)
    result = evaluate_backend(dataset, docs, queries, spec, "cosine", 10, metadata=metadata)
    assert result["recall@10_vs_exact"] >= 0.9, result
    assert abs(result["ndcg@10"] - exact["ndcg@10"]) <= 0.03, (result["ndcg@10"], exact["ndcg@10"])
    assert exact["recall@10_vs_exact"] == 1.0
    assert result["qps"] > 0 and result["load_seconds"] > 0
    assert result["index_used"] and result["index_requested"]
    requested = result["index_requested"].upper()
    if backend in ("milvus-lite", "redis"):  # read back from the database: describe_index / FT.INFO
        assert result["index_used"].split()[0].upper() == requested, result["describe"]
    if backend == "qdrant":
        assert result["index_used"].startswith("HNSW"), result["describe"]


def test_evaluate_backend_with_filter_matches_exact_on_subset(vectors, metadata):
    from embedscope.index.db import Filter
    from embedscope.sweeps.databases import evaluate_backend

    _need("qdrant")
    dataset, docs, queries = vectors
    f = Filter(words=("telescope",))
    exact = evaluate_backend(dataset, docs, queries, "exact", "cosine", 10, metadata=metadata, filter=f)
    qdrant = evaluate_backend(dataset, docs, queries, "qdrant:flat", "cosine", 10, metadata=metadata, filter=f)
    assert exact["recall@10_vs_exact"] == qdrant["recall@10_vs_exact"] == 1.0
    assert qdrant["ndcg@10"] == pytest.approx(exact["ndcg@10"], abs=1e-9)
    for run in (exact["run"], qdrant["run"]):
        assert all(f.matches(metadata[dataset.doc_ids.index(d)]) for hits in run.scores.values() for d in hits)


@pytest.mark.parametrize("backend", ["qdrant", "pgvector"])
def test_hnsw_scores_are_true_scores(backend, vectors, metadata, make_index):
    """Approximate search may miss neighbours, but the scores it gives must still be the docs' true scores."""
    _, docs, queries = vectors
    for metric in ("dot", "l2"):
        index = make_index(backend, metric, "hnsw")
        index.add(docs, metadata=metadata)
        scores, positions = index.search(queries, 10)
        valid = positions >= 0
        np.testing.assert_allclose(scores[valid], true_scores(docs, queries, positions, metric)[valid], rtol=1e-4,
                                   atol=1e-4)


def test_specs_and_errors():
    _need("lancedb")
    index = build_index("lancedb", "l2")
    assert index.name == "lancedb-flat-l2"
    index.close()
    with pytest.raises(ValueError, match=r"needs its address, e.g. milvus:HNSW\?host=127.0.0.1&port=19530"):
        build_index("milvus", "cosine")
    with pytest.raises(ValueError, match="takes its address as options"):
        build_index("milvus:localhost:http", "cosine")
    with pytest.raises(ValueError, match="index type"):
        build_index("qdrant:ivf", "cosine")
    with pytest.raises(ValueError, match="similarity must be one of cosine, dot, l2"):
        build_index("lancedb", "manhattan")


def test_add_in_batches_keeps_positions(vectors, metadata, make_index):
    """Rows added over several add() calls keep their insertion positions."""
    _, docs, queries = vectors
    for backend in ("qdrant", "lancedb", "milvus-lite"):
        index = make_index(backend, "cosine")
        for start in range(0, len(docs), 300):
            index.add(docs[start : start + 300], metadata=metadata[start : start + 300])
        scores, positions = index.search(queries, 10)
        assert_same_as_exact(docs, queries, scores, positions, np.arange(len(docs)), "cosine", 10)


def test_servers_stop_by_pid(tmp_path):
    from embedscope.servers import ServerError, free_port, start_redis

    pytest.importorskip("redis", reason="redis client not installed")
    port = free_port()
    try:
        server = start_redis(tmp_path, port=port)
    except ServerError as e:
        pytest.skip(f"Redis could not start: {e}")
    with server:
        assert server.alive() and port_open("127.0.0.1", port)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:
            assert all(line.split()[3].startswith("127.0.0.1:") for line in listening.splitlines()), listening
    assert not server.alive()
    assert not port_open("127.0.0.1", port)


def test_dropped_server_is_stopped_and_its_temp_dir_removed():
    """A caller that forgets stop() (or crashes) must not leave a server running."""
    import gc

    from embedscope.servers import ServerError, process_alive, start_redis

    pytest.importorskip("redis", reason="redis client not installed")
    try:
        server = start_redis()
    except ServerError as e:
        pytest.skip(f"Redis could not start: {e}")
    pid, folder = server.pid, server.data_dir
    assert process_alive(pid) and folder.is_dir()
    del server
    gc.collect()
    assert not process_alive(pid)
    assert not folder.exists()


MILVUS_SCRIPT = textwrap.dedent("""
    import json, socket, sys, tempfile
    import numpy as np
    from embedscope.sweeps.databases import evaluate_backend
    from embedscope.servers import start_milvus
    from embedscope.data import Dataset, Document
    # Only loopback here, so Milvus binding every interface stays on this machine.
    assert [name for _, name in socket.if_nameindex()] == ["lo"], "not in a private network namespace"
    rng = np.random.default_rng(0)
    docs, queries = rng.normal(size=(400, 32)).astype("float32"), rng.normal(size=(20, 32)).astype("float32")
    ds = Dataset("random", {f"d{i}": Document(f"d{i}", "x") for i in range(400)},
                 {f"q{i}": "x" for i in range(20)}, {f"q{i}": {f"d{i}": 1} for i in range(20)})
    with tempfile.TemporaryDirectory() as tmp, start_milvus(tmp) as server:
        out = {}
        for kind in ("FLAT", "HNSW"):
            r = evaluate_backend(ds, docs, queries, f"milvus:{kind}?host={server.host}&port={server.port}", "l2", 10)
            r.pop("run")
            out[kind] = r
        pid = server.pid
    out["pid"] = pid
    print("RESULT" + json.dumps(out, default=str))
""")


def test_milvus_standalone_server_in_private_network(tmp_path):
    """Milvus standalone binds every interface, so it runs (with its client) in a loopback-only network namespace."""
    pytest.importorskip("milvus", reason="Milvus standalone needs: pip install milvus")
    _need("milvus-lite")
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "--net", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a private network namespace (unshare --net) to keep Milvus off the network")
    script = tmp_path / "milvus_check.py"
    script.write_text(MILVUS_SCRIPT)
    proc = subprocess.run([unshare, "--net", "sh", "-c", f"ip link set lo up 2>/dev/null; exec {sys.executable} {script}"],
                          capture_output=True, text=True, timeout=400, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    if not lines and "not ready" in proc.stderr + proc.stdout:
        pytest.skip(f"Milvus standalone did not start: {proc.stderr[-800:]}")
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT"):])
    assert out["FLAT"]["recall@10_vs_exact"] == 1.0
    assert out["HNSW"]["recall@10_vs_exact"] >= 0.9
    for kind in ("FLAT", "HNSW"):
        assert out[kind]["index_used"].split()[0] == kind, out[kind]["describe"]


def test_db_bench_cli(tmp_path, scifact_dir):
    from click.testing import CliRunner

    from embedscope.cli import cli

    _need("lancedb")
    _need("qdrant")
    result = CliRunner().invoke(cli, ["db-bench", "--data", str(scifact_dir), "--model", "tokenlearn",
                                      "--max-queries", "30", "--max-docs", "300", "--backend", "exact",
                                      "--backend", "lancedb", "--backend", "qdrant", "--backend", "nosuchdb",
                                      "--cache", str(tmp_path / "cache"),
                                      "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    [results_file] = (tmp_path / "out").glob("*/db_bench.json")
    payload = json.loads(results_file.read_text())
    by_spec = {r["spec"]: r for r in payload["results"]}
    assert set(by_spec) == {"exact", "lancedb", "qdrant"}
    assert "nosuchdb" in payload["failures"]
    assert by_spec["lancedb"]["ndcg@10"] == pytest.approx(by_spec["exact"]["ndcg@10"], abs=1e-6)
    assert by_spec["qdrant"]["index_used"].startswith("HNSW")
    assert "recall@10 vs exact" in result.output and "index used" in result.output


def test_redis_index_used_names_its_distance(redis_server):
    """The index Redis reports (FT.INFO) carries the distance it really uses, as well as the algorithm."""
    from embedscope.index.db.redis import RedisIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8)).astype(np.float32)
    for similarity, distance in (("cosine", "COSINE"), ("dot", "IP"), ("l2", "L2")):
        index = RedisIndex(similarity, "flat", host=redis_server.host, port=redis_server.port)
        try:
            index.add(vectors)
            assert index.describe()["index_used"] == f"FLAT {distance}"
        finally:
            index.close()
