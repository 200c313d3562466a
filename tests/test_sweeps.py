"""Compression and ANN sweeps on real vectors: deltas vs float32, truncation, intervals, recall curves, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("faiss", reason="faiss-cpu is not installed")

from embedscope.sweeps import ann_sweep, compression_sweep, default_options, grid, parse_option  # noqa: E402
from embedscope.sweeps.ann import Timing  # noqa: E402
from embedscope.sweeps.compression import Bootstrap, truncate  # noqa: E402


@pytest.fixture(scope="module")
def minilm_vectors(scifact_small, minilm, session_cache):
    from embedscope.runs.dense import DenseRetriever

    docs, queries, _ = DenseRetriever(minilm, session_cache).embed(scifact_small)
    return docs, queries


@pytest.fixture(scope="module")
def static_vectors(scifact_small, static_model, session_cache):
    from embedscope.runs.dense import DenseRetriever

    docs, queries, _ = DenseRetriever(static_model, session_cache).embed(scifact_small)
    return docs, queries


@pytest.fixture(scope="module")
def minilm_sweep(scifact_small, minilm_vectors):
    docs, queries = minilm_vectors
    options = [parse_option(o) for o in ("float16", "int8", "binary", "binary+rescore", "binary+rescore-float")]
    return compression_sweep(scifact_small, docs, queries, model="minilm", options=options, bootstrap=Bootstrap(2000))


def row(sweep, option):
    return next(r for r in sweep.rows if r["option"] == option)


def test_float16_and_int8_stay_within_a_small_delta_of_float32(minilm_sweep):
    fp16, int8 = row(minilm_sweep, "float16"), row(minilm_sweep, "int8")
    assert abs(fp16["delta"]["ndcg@10"]) < 0.005
    assert abs(int8["delta"]["ndcg@10"]) < 0.02
    assert fp16["bytes_per_vector"] == 2 * 384 and fp16["saved_pct"] == pytest.approx(50)
    assert int8["bytes_per_vector"] == 384 and int8["saved_pct"] == pytest.approx(75)


def test_binary_loses_more_without_rescoring(minilm_sweep):
    plain = row(minilm_sweep, "binary")
    rescored = row(minilm_sweep, "binary+rescore")
    originals = row(minilm_sweep, "binary+rescore-float")
    assert plain["delta"]["ndcg@10"] < 0
    assert plain["delta"]["ndcg@10"] < rescored["delta"]["ndcg@10"]
    assert plain["delta"]["ndcg@10"] < originals["delta"]["ndcg@10"]
    assert plain["bytes_per_vector"] == 384 // 8 and plain["saved_pct"] == pytest.approx(100 * (1 - 1 / 32))
    assert originals["extra_bytes_per_vector"] == 4 * 384 and rescored["extra_bytes_per_vector"] == 0


def test_delta_means_and_intervals_agree_with_per_query_values(minilm_sweep):
    base = minilm_sweep.per_query["float32 (baseline)"]["ndcg@10"]
    for r in minilm_sweep.rows:
        option = minilm_sweep.per_query[r["option"]]["ndcg@10"]
        deltas = np.array([option[q] - base[q] for q in base])
        assert r["delta"]["ndcg@10"] == pytest.approx(deltas.mean())
        low, high = r["ci"]["ndcg@10"]
        assert low <= deltas.mean() <= high
        assert deltas.min() <= low and high <= deltas.max()
    assert minilm_sweep.baseline["metrics"]["ndcg@10"] > 0.5  # MiniLM on SciFact is far above chance


def test_identity_compression_has_an_interval_containing_zero(scifact_small, static_vectors):
    docs, queries = static_vectors
    sweep = compression_sweep(scifact_small, docs, queries, options=[parse_option("float32")], bootstrap=Bootstrap(1000))
    low, high = sweep.rows[0]["ci"]["ndcg@10"]
    assert low <= 0 <= high
    assert sweep.rows[0]["saved_pct"] == pytest.approx(0)


def test_truncation_to_the_full_dim_equals_no_truncation(scifact_small, static_vectors):
    docs, queries = static_vectors
    full = docs.shape[1]
    np.testing.assert_allclose(truncate(docs, full), docs / np.linalg.norm(docs, axis=1, keepdims=True), atol=1e-6)
    sweep = compression_sweep(scifact_small, docs, queries, options=[parse_option(f"dim{full}"), parse_option("dim32")])
    same, half = sweep.rows
    assert same["dim"] == full and same["bytes_per_vector"] == 4 * full
    base = sweep.per_query["float32 (baseline)"]["ndcg@10"]
    assert sweep.per_query[f"dim{full}"]["ndcg@10"] == pytest.approx(base, abs=1e-9)
    assert half["dim"] == 32 and half["bytes_per_vector"] == 4 * 32 and half["saved_pct"] == pytest.approx(50)
    with pytest.raises(ValueError, match="only 64 dims"):
        compression_sweep(scifact_small, docs, queries, options=[parse_option("dim128")])


def test_truncated_vectors_are_renormalized_prefixes():
    x = np.random.default_rng(3).normal(size=(20, 16)).astype(np.float32)
    t = truncate(x, 4)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(t * np.linalg.norm(x[:, :4], axis=1, keepdims=True), x[:, :4], atol=1e-5)
    np.testing.assert_array_equal(truncate(x, 4, renormalize=False), x[:, :4])


def test_default_options_keep_only_dims_below_the_model():
    names = [o.name for o in default_options(384)]
    assert {"float16", "int8", "binary", "binary+rescore", "binary+rescore-float"} <= set(names)
    assert [n for n in names if n.startswith("dim")] == ["dim256", "dim128", "dim64"]
    assert parse_option("dim256+int8").index_spec == "faiss:SQ8" and parse_option("dim256+int8").dim == 256
    assert parse_option("binary+rescore", 3).index_spec == "faiss:BinaryFlat?rescore=3"
    with pytest.raises(ValueError, match="'int4'"):
        parse_option("int4")
    with pytest.raises(ValueError, match="binary only"):
        parse_option("int8+rescore")


def test_grid_is_sized_to_the_corpus():
    specs = grid("default", 5183, 384)
    assert "faiss:Flat" in specs and "faiss:HNSW32?efSearch=256" in specs
    # 5,183 docs: 128 lists (>= 39 training vectors each), PQ48 = 8 dims per byte for 384 dims.
    assert [s for s in specs if s.startswith("faiss:IVF128,Flat")][-1] == "faiss:IVF128,Flat?nprobe=64"
    assert "faiss:IVF128,PQ48?nprobe=1" in specs
    assert not any("PQ" in s for s in grid("quick", 200, 64))  # too few vectors to train 256-entry codebooks
    with pytest.raises(ValueError, match="--grid"):
        grid("huge", 100, 8)


def test_ann_sweep_points(scifact_small, static_vectors):
    docs, queries = static_vectors
    specs = ["faiss:Flat", "faiss:HNSW32?efSearch=8", "faiss:HNSW32?efSearch=400",
             "faiss:IVF16,Flat?nprobe=1", "faiss:IVF16,Flat?nprobe=16"]
    sweep = ann_sweep(scifact_small, docs, queries, model="static", specs=specs, timing=Timing(min_seconds=0.01))
    by = {r["spec"]: r for r in sweep.rows}
    assert list(by) == specs
    assert by["faiss:Flat"]["recall@10"] == pytest.approx(1.0, abs=0.005)
    assert by["faiss:HNSW32?efSearch=400"]["recall@10"] >= 0.99
    assert by["faiss:IVF16,Flat?nprobe=16"]["recall@10"] == pytest.approx(1.0, abs=0.005)
    assert by["faiss:IVF16,Flat?nprobe=1"]["recall@10"] < by["faiss:IVF16,Flat?nprobe=16"]["recall@10"]
    # One build per index: the search-time parameters share it.
    assert by["faiss:HNSW32?efSearch=8"]["build_seconds"] == by["faiss:HNSW32?efSearch=400"]["build_seconds"]
    exact_ndcg = by["faiss:Flat"]["metrics"]["ndcg@10"]
    assert by["faiss:HNSW32?efSearch=400"]["metrics"]["ndcg@10"] == pytest.approx(exact_ndcg, abs=0.005)
    for r in sweep.rows:
        assert r["qps_batch"] > 0 and r["qps_single"] > 0 and r["index_bytes"] > 0
    assert by["faiss:HNSW32?efSearch=8"]["index_bytes"] > by["faiss:Flat"]["index_bytes"]  # graph links cost memory


def result_dir(output: str):
    from pathlib import Path

    line = next(line for line in reversed(output.splitlines()) if line.startswith("results in "))
    return Path(line.removeprefix("results in "))


def test_cli_sweeps_write_run_directories(tmp_path, scifact_dir):
    from click.testing import CliRunner

    from embedscope.cli import cli

    common = ["--data", str(scifact_dir), "-m", "tokenlearn", "--max-queries", "30", "--max-docs", "400",
              "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "runs"), "-q"]
    result = CliRunner().invoke(cli, ["sweep", "compression", *common, "--dims", "32,16", "--resamples", "500"])
    assert result.exit_code == 0, result.output
    run_dir = result_dir(result.output)
    results = json.loads((run_dir / "sweep.json").read_text())
    assert results["kind"] == "sweep-compression"
    options = [o["option"] for o in results["sweeps"][0]["options"]]
    assert "int8" in options and "dim32" in options and "dim16" in options
    assert "plotly" in (run_dir / "compression.html").read_text()[:200_000].lower()
    assert (run_dir / "per_query.csv").read_text().startswith("model,option,query_id,ndcg@10,recall@100")

    result = CliRunner().invoke(cli, ["sweep", "ann", *common, "--grid", "quick", "--min-seconds", "0.01"])
    assert result.exit_code == 0, result.output
    run_dir = result_dir(result.output)
    results = json.loads((run_dir / "sweep.json").read_text())
    points = results["sweeps"][0]["points"]
    families = {p["family"] for p in points}
    assert {"Flat", "HNSW32"} <= families and any(f.startswith("IVF") and f.endswith(",Flat") for f in families)
    html = (run_dir / "recall_qps.html").read_text()
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js inlined: opens offline

    result = CliRunner().invoke(cli, ["sweep", "ann", *common, "--index", "faiss:IVF4,Bogus"])
    assert result.exit_code != 0
