"""Every way a remote call can fail ends the same way: one clear line naming the provider, exit code 2, no
traceback, no key. Checked through the real command line for each embedding provider, each hosted reranker and
the chat model, against loopback fakes; and redaction before truncation, with a key straddling the cut."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_providers import FakeProvider, FakeServer, Fault  # noqa: E402

from embedscope.servers import free_port  # noqa: E402

KEY = "sk-test-0123456789-SECRET-abcdef"
FAST = "max_retries=1&retry_base_delay=0.01&retry_max_delay=0.05&timeout=0.5&dim=16"
RERANK = "retries=1&backoff=0.01&timeout=0.5"

# what the fake does, and what the one line must say
FAULTS = {
    "401": (None, "HTTP 401, not authorised"),
    "403": (Fault("403"), "HTTP 403, not authorised"),
    "429": (Fault("429", retry_after=0), "HTTP 429, rate limited"),
    "500": (Fault("500"), "HTTP 500"),
    "timeout": (Fault("timeout", delay=1.5), "timed out: no answer within 0.5 s"),
    "refused": (None, "cannot connect"),
    "garbage": (Fault("garbage"), "not JSON"),
    "shape": (Fault("shape"), "unexpected answer"),
}
RETRIED = {"429", "500", "timeout", "refused"}

# name: (wire format of the fake, model spec for a server at URL)
CLIENTS = {
    "openai": ("openai", "openai:text-embedding-3-small?base_url={url}/v1&" + FAST),
    "openai-compatible": ("openai", "openai-compatible:e5?base_url={url}/v1&api_key_env=OPENAI_API_KEY&"
                                    "server_prompts=false&" + FAST),
    "cohere": ("cohere", "cohere:embed-english-v3.0?base_url={url}&" + FAST),
    "voyage": ("voyage", "voyage:voyage-3?base_url={url}/v1&" + FAST),
    "cohere-rerank": ("cohere", "rerank:bm25>cohere:{url}/v1/rerank?top=3&" + RERANK),
    "voyage-rerank": ("voyage", "rerank:bm25>voyage:{url}/v1/rerank?top=3&" + RERANK),
    "jina-rerank": ("openai", "rerank:bm25>jina:{url}/v1/rerank?top=3&" + RERANK),
    "chat": ("openai", "rerank:bm25>llm-listwise:{url}/v1?model=m&top=3&" + RERANK),
}
PROVIDER_WORDS = {"openai": "openai", "openai-compatible": "openai-compatible", "cohere": "cohere",
                  "voyage": "voyage", "cohere-rerank": "cohere reranker", "voyage-rerank": "voyage reranker",
                  "jina-rerank": "jina reranker", "chat": "chat model m"}


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "COHERE_API_KEY", "VOYAGE_API_KEY", "JINA_API_KEY"):
        monkeypatch.setenv(name, KEY)
    monkeypatch.delenv("EMBEDSCOPE_TRACEBACK", raising=False)


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    docs = [{"_id": f"d{i}", "text": f"document {i} about cells and proteins {i % 3}"} for i in range(6)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "cells proteins"}, {"_id": "q2", "text": "document 4"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td4\t1\n")
    return root


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    from embedscope.cli import cli
    from embedscope.cli.errors import run_cli as main

    monkeypatch.setattr(sys, "argv", ["embedscope", *args])
    code = main(cli)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_remote_failure_is_one_line_and_exit_2(client, fault, tiny_beir, tmp_path, capsys, monkeypatch):
    wire, template = CLIENTS[client]
    injected, expected = FAULTS[fault]
    fake = FakeProvider(wire, api_key="another-key" if fault == "401" else KEY, always=injected)
    with FakeServer(fake) as server:
        url = f"http://127.0.0.1:{free_port()}" if fault == "refused" else server.url
        code, output = run_cli(["run", "--data", str(tiny_beir), "-m", template.format(url=url),
                                "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q"],
                               capsys, monkeypatch)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2, output
    assert len(errors) == 1 and "Traceback" not in output, output
    line = errors[0]
    assert expected in line and PROVIDER_WORDS[client] in line and url in line, line
    assert KEY not in output and "SECRET" not in output, output
    if fault in RETRIED:
        assert "after 1 retry" in line, line
    else:
        assert "retr" not in line, line  # a bad key, a bad answer: retrying cannot help, so it is not tried
    if fault not in ("refused",):
        assert len(fake.log) >= 1
    # nothing half-written is left for readers to mistake for a result
    assert not any((tmp_path / "runs").rglob("results.json"))


def test_traceback_only_when_asked(tiny_beir, tmp_path, capsys, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    spec = f"openai-compatible:e5?base_url={url}/v1&server_prompts=false&{FAST}"
    args = ["run", "--data", str(tiny_beir), "-m", spec, "-o", str(tmp_path / "runs"), "--cache", str(tmp_path), "-q"]
    code, output = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "Traceback" not in output
    monkeypatch.setenv("EMBEDSCOPE_TRACEBACK", "1")
    code, output = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "Traceback" in output and "cannot connect" in output


def test_redaction_happens_before_the_cut_even_for_a_key_straddling_it():
    from embedscope.remote import MESSAGE_LIMIT, RemoteError, one_line, redact

    secret = "sk-live-9f8e7d6c5b4a39281706"
    for offset in range(-len(secret), 1):  # the key starts anywhere around the cut, ends anywhere after it
        text = "x" * (MESSAGE_LIMIT - 3 + offset) + f" key={secret} and more"
        for message in (one_line(text, secrets=(secret,)), str(RemoteError("p", "POST u", text, secrets=(secret,)))):
            assert not any(secret[:n] in message for n in range(8, len(secret) + 1)), message
    # credentials that are not the configured key: auth headers, key=... pairs, provider key shapes, URL passwords
    leaky = ('Authorization: Bearer abcdefghijkl "api_key": "zz-123456" https://user:pa55word@host/v1?key=QWERTY '
             "token=tok_998877 sk-proj-abcdefghijklmnop")
    clean = redact(leaky)
    for secret_part in ("abcdefghijkl", "zz-123456", "pa55word", "QWERTY", "tok_998877", "abcdefghijklmnop"):
        assert secret_part not in clean, clean
    assert "host/v1" in clean  # only the secrets go


def test_the_server_echoing_the_key_is_redacted(tmp_path):
    """A 401 whose body repeats the key sent (as some servers do) never shows it, cut or not."""
    from embedscope.models import load_model
    from embedscope.remote import RemoteError

    with FakeServer(FakeProvider("openai", api_key="the-right-key")) as server:
        model = load_model(f"openai:text-embedding-3-small?base_url={server.url}/v1&{FAST}")
        with pytest.raises(RemoteError) as info:
            model.encode_documents(["a"])
    assert info.value.status == 401 and info.value.provider.startswith("openai")
    assert KEY not in str(info.value) and "SECRET" not in str(info.value) and "invalid api key ***" in str(info.value)
    assert server.url in info.value.request


def test_retry_after_is_honoured_and_capped():
    import email.utils
    from types import SimpleNamespace

    import httpx

    from embedscope.remote import MAX_RETRY_AFTER, RemoteError, RetryPolicy, retry_after

    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7
    assert retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    when = email.utils.formatdate(__import__("time").time() + 30, usegmt=True)
    assert 25 <= retry_after(httpx.Headers({"Retry-After": when})) <= 30
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None

    policy = RetryPolicy(base_delay=0.01, max_delay=0.05)

    def wait(asked):
        error = RemoteError("p", "r", "HTTP 429", status=429, transient=True, retry_after=asked)
        state = SimpleNamespace(attempt_number=1, outcome=SimpleNamespace(exception=lambda: error))
        return policy.wait(state)

    assert wait(None) <= 0.02  # backoff with jitter alone
    assert wait(3.0) == 3.0  # the server's wait wins over a shorter backoff
    assert wait(3600.0) == MAX_RETRY_AFTER  # but a server asking for an hour is asked again after the cap
