"""Speed, memory, footprint, cost and load-test measurements (no speed assertions: only that they measure)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from embedscope.perf import cost as costs
from embedscope.perf.footprint import bytes_per_vector, footprint, hnsw_graph_bytes_per_vector
from embedscope.perf.speed import measure_latency, percentiles
from embedscope.servers import stop_pid


def test_percentiles_match_numpy():
    samples = np.random.default_rng(0).exponential(5.0, 1000)
    p = percentiles(samples)
    assert p["p50"] == pytest.approx(np.median(samples))
    assert p["p99"] == pytest.approx(np.quantile(samples, 0.99))
    assert p["p50"] <= p["p95"] <= p["p99"] <= p["max"]


def test_latency_sees_the_work_done():
    latency = measure_latency(lambda texts: time.sleep(0.01), ["q"] * 8, warmup=1)
    assert latency["n"] == 8 and latency["p50"] >= 10.0


PEAK_RSS_PROBE = """
import time
import numpy as np
from embedscope.perf.speed import PeakRSS
with PeakRSS() as rss:
    block = np.ones(200 * 2**20 // 8)  # 200 MB written, so the pages are resident
    time.sleep(0.05)
    del block
print(rss.delta_mb)
"""


def test_peak_rss_sees_native_allocation():
    # A fresh process: in a long-lived one the allocator may hand back memory that earlier work freed but kept
    # resident, and then a new 200 MB array raises RSS by nothing at all.
    probe = subprocess.run([sys.executable, "-c", PEAK_RSS_PROBE], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert float(probe.stdout) > 150


def test_bytes_per_vector():
    assert [bytes_per_vector(384, p) for p in ("float32", "float16", "int8", "binary")] == [1536, 768, 384, 48]
    assert bytes_per_vector(100, "binary") == 13  # bits packed, last byte partly used
    fp = footprint(384, corpus_size=5183)
    assert fp["flat_index_bytes"]["corpus"]["float32"] == 5183 * 1536
    assert fp["flat_index_bytes"]["100,000,000"]["int8"] == 100_000_000 * 384


def test_hnsw_overhead_formula_matches_faiss():
    faiss = pytest.importorskip("faiss", reason="faiss-cpu not installed")
    n, dim, m = 20_000, 16, 32
    index = faiss.IndexHNSWFlat(dim, m)
    index.add(np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32))
    graph = faiss.serialize_index(index).nbytes - n * dim * 4
    assert graph / n == pytest.approx(hnsw_graph_bytes_per_vector(m), rel=0.05)


def test_cost_and_break_even():
    api_per_text = costs.api_cost(1, 300, 0.02)
    assert costs.api_cost(1_000_000, 300, 0.02) == pytest.approx(6.0)
    usd, hours = costs.self_hosted_cost(1000, 100.0, 2.0, 1.0)
    assert usd == 2.0 and hours < 1  # minimum billed hour
    assert costs.self_hosted_cost(720_000, 100.0, 2.0, 1.0)[0] == pytest.approx(4.0)
    n = costs.break_even(api_per_text, 500.0, 0.71, 1.0)
    self_cost = lambda k: costs.self_hosted_cost(k, 500.0, 0.71, 1.0)[0]  # noqa: E731
    assert self_cost(n) <= costs.api_cost(n, 300, 0.02) and self_cost(n - 1) > costs.api_cost(n - 1, 300, 0.02)
    assert costs.break_even(api_per_text, 0.001, 10.0, 1.0) is None  # slower than the API is cheap: never


def test_prices_are_dated_and_validated(tmp_path):
    prices = costs.load_prices()
    assert prices["api"] and prices["gpus"]
    assert {g["name"] for g in prices["gpus"]} >= {"L4", "A10G", "A100", "H100"}
    assert all(row["as_of"] for row in prices["api"] + prices["gpus"])
    bad = tmp_path / "prices.yaml"
    bad.write_text("api:\n  - {name: x, usd_per_1m_tokens: 0.1}\n")
    with pytest.raises(ValueError, match=r"prices.yaml: api row 1 \(x\) lacks as_of"):
        costs.load_prices(bad)


def test_api_tokens_counted_with_tiktoken():
    tiktoken = pytest.importorskip("tiktoken")
    from embedscope.perf.tokens import tiktoken_counter

    try:
        count = tiktoken_counter("cl100k_base")
    except ValueError as e:
        pytest.skip(str(e))
    assert count(["hello world"]) == [2]
    texts = ["Embeddings map text to vectors.", "BM25 is a strong baseline."]
    option = next(o for o in costs.api_options(costs.load_prices(), texts) if o.name == "openai/text-embedding-3-small")
    assert option.tokens_per_text == pytest.approx(sum(count(texts)) / 2)
    assert tiktoken is not None


@pytest.fixture()
def served_static_model():
    """The OpenAI-compatible server around the static model, on loopback; stopped by PID."""
    process = subprocess.Popen([sys.executable, "-m", "embedscope.perf.server", "--model", "tokenlearn", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            pytest.fail(f"server did not start: {line!r}")
        yield line.split()[-1].strip() + "/v1"
    finally:
        stop_pid(process.pid)


def test_load_test_against_served_model(served_static_model, static_model):
    import httpx

    from embedscope.perf.loadtest import load_test

    texts = ["protein folding", "vitamin D and bone density", "the immune response in mice"]
    response = httpx.post(served_static_model + "/embeddings", json={"input": texts}, timeout=30).json()
    served = np.array([d["embedding"] for d in response["data"]], dtype=np.float32)
    np.testing.assert_allclose(served, static_model.encode_documents(texts), atol=1e-6)

    result = load_test(served_static_model, texts, concurrency=4, requests=40, duration_s=60, batch=2)
    assert result["succeeded"] == 40 and not result["errors"]
    assert result["requests_per_second"] > 0 and result["latency_ms"]["n"] == 40


def test_load_test_alone_needs_no_model_and_sends_batches(served_static_model, synthetic_dir, tmp_path):
    """`bench --load-test URL` without -m measures the server only; --batch-size sets the texts per request."""
    from click.testing import CliRunner

    from embedscope.cli import cli

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(cli, ["bench", "--data", str(synthetic_dir), "--load-test", served_static_model,
                                      "--batch-size", "3", "--requests", "12", "--concurrency", "2", "--perf-file", str(out)])
    assert result.exit_code == 0, result.output
    perf = json.loads(out.read_text())
    assert perf["models"] == [] and perf["cost"] is None  # no local model loaded or timed
    load = perf["load_test"]
    assert load["batch"] == 3 and load["succeeded"] == 12 and not load["errors"]
    assert load["texts_per_second"] == pytest.approx(3 * load["requests_per_second"])
    assert "3 per request" in result.output
    refused = CliRunner().invoke(cli, ["bench", "--data", str(synthetic_dir), "--load-test", served_static_model,
                                       "--batch-size", "0"])
    assert refused.exit_code == 2 and "--batch-size" in refused.output  # a usage error before any request


def test_cost_table_shows_machine_hours():
    """Self-hosted rows show the machine time each scale takes (GPU hours from the declared throughput)."""
    from rich.console import Console

    from embedscope.perf.tables import print_perf

    gpu = costs.Option("m", "self-hosted", "GPU: L4", texts_per_second=50.0, usd_per_hour=0.8, tokens_per_text=100)
    api = costs.Option("api", "api", None, usd_per_text=1e-6, tokens_per_text=100)
    scales = [90_000, 1_800_000]
    perf = {"models": [], "dataset": {"documents": 10},
            "cost": {"scales": scales, "min_billed_hours": 1.0, "currency": "USD",
                     "rows": costs.cost_table([gpu, api], scales, 1.0)}}
    out = Console(record=True, width=300)
    print_perf(perf, out)
    text = out.export_text()
    # 90k texts at 50/s: 30 minutes (billed one hour); 1.8M: 10 hours
    assert "$0.80 / 30.0 min" in text and "$8.00 / 10.0 h" in text


def test_load_test_stays_on_loopback():
    from embedscope.perf.loadtest import load_test

    with pytest.raises(ValueError, match="127.0.0.1"):
        load_test("http://example.com/v1", ["x"], requests=1)


def test_bench_cli_writes_perf_json(scifact_dir, tmp_path):
    from click.testing import CliRunner

    from embedscope.cli import cli

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(cli, ["bench", "--data", str(scifact_dir), "-m", "tokenlearn", "--max-docs", "200",
                                      "--latency-queries", "10", "--perf-file", str(out), "-q"])
    assert result.exit_code == 0, result.output
    perf = json.loads(out.read_text())
    model = perf["models"][0]
    assert model["speed"]["documents"] == 200 and model["speed"]["docs_per_second"] > 0
    assert model["speed"]["query_latency_ms"]["n"] == 10
    assert model["footprint"]["dim"] == 64
    scales = perf["cost"]["scales"]
    assert {10_000, 100_000, 1_000_000, 2_500_000, perf["dataset"]["documents"]} <= set(scales)
    cpu = next(r for r in perf["cost"]["rows"] if r["name"] == model["name"])
    assert cpu["hardware"].startswith("CPU") and cpu["throughput_source"] == "measured on this machine"
    assert not any(r["name"] == model["name"] and r["hardware"].startswith("GPU") for r in perf["cost"]["rows"])


@pytest.mark.parametrize("spec", ["wordllama", "tokenlearn"])
def test_token_counts_are_per_text_without_padding(spec):
    """A tokenizer that pads a batch to its longest text must not count the padding: each text counts the
    same alone as in a batch beside a much longer one."""
    from embedscope.models import load_model
    from embedscope.perf.tokens import counter_for

    count, _ = counter_for(load_model(spec))
    short, long = "protein folding", " ".join(["vaccine trial outcomes in adults"] * 40)
    alone = count([short])[0]
    batched = count([short, long])
    assert batched[0] == alone < batched[1]


def test_bench_times_retrievers_that_embed_nothing(synthetic, tmp_path):
    """BM25 and pipelines are timed one query at a time (text to top-k), not skipped as 'not an embedder'."""
    from embedscope.perf.bench import bench_model
    from embedscope.runs.context import RetrievalContext

    context = RetrievalContext(tmp_path / "cache")
    for spec in ("bm25", "hybrid:bm25+tokenlearn"):
        entry = bench_model(spec, synthetic, latency_queries=5, context=context)
        assert "skipped" not in entry, entry
        latency = entry["retrieval"]["query_latency_ms"]
        assert latency["n"] == 5 and 0 < latency["p50"] <= latency["p95"]
