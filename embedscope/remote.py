"""One HTTP client for every remote call: hosted embedding APIs (OpenAI, Cohere, Voyage), any OpenAI-compatible
server, hosted rerankers, and chat models (the LLM judge, query generator and rerankers).

One retry policy (tenacity): 408, 409, 429, every 5xx, timeouts and dropped connections are retried with
exponential backoff and random jitter, so parallel workers do not retry in lockstep; a server that says how long
to wait (Retry-After in seconds or as an HTTP date, or retry-after-ms) is waited for at least that long, up to
MAX_RETRY_AFTER. Anything else (a bad key, a bad request, an unknown model) fails at once: retrying cannot fix it.

One error type, RemoteError: the provider, the HTTP status and a description of the request. Its message is one
line, and secrets are redacted before the message is shortened, so no part of a key survives a cut.

`post` is for callers that work in threads (rerankers, the judge); `apost` for embedders that keep several
requests in flight on one event loop. Cancelling an async request (Ctrl-C) closes its connection, so no request
is left running client-side.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from embedscope.errors import EmbedscopeError

RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx
MAX_RETRY_AFTER = 120.0  # a server asking for longer is waited for this long, then asked again
MESSAGE_LIMIT = 400  # characters of a server's error detail kept in a message

# Secrets that can reach a message other than the configured key itself: auth headers, key=... pairs in URLs or
# bodies that echo the request, provider key formats, and passwords in URLs.
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}"), r"\1\2***"),
    (re.compile(r"(?i)\b((?:api[_-]?)?key|access[_-]?token|token|secret|password|passwd|authorization)"
                r"(\s*[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"), r"\1\2***"),
    (re.compile(r"\b(sk|pk|rk|pa)-[A-Za-z0-9_-]{6,}"), r"\1-***"),
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
]


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """`text` with every given secret and anything shaped like a credential replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def one_line(text: object, limit: int = MESSAGE_LIMIT, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Redacted, on one line, then shortened: redaction comes first, so a cut never keeps part of a secret."""
    flat = " ".join(redact(str(text), secrets).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RemoteError(EmbedscopeError, RuntimeError):
    """A remote call that failed: after the retries for what retrying can fix, at once for what it cannot.

    `provider` names the service and model, `request` what was asked (method, URL, size; redacted), `status` the
    HTTP status (None for a refused connection, a timeout or a configuration problem such as a missing key)."""

    def __init__(self, provider: str, request: str, reason: str, *, status: int | None = None,
                 transient: bool = False, retry_after: float | None = None, timeout: bool = False,
                 secrets: tuple[str, ...] = ()):
        self.provider = one_line(provider, 120, secrets)
        self.request = one_line(request, 200, secrets)
        self.reason = one_line(reason, MESSAGE_LIMIT, secrets)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.timeout = timeout
        self.retries = 0
        super().__init__(str(self))

    def __str__(self) -> str:
        tried = f" (after {self.retries} {'retry' if self.retries == 1 else 'retries'})" if self.retries else ""
        where = f" {self.request}:" if self.request else ""
        return f"{self.provider}:{where} {self.reason}{tried}"

    def __reduce__(self):  # picklable across processes (Ray, Dask workers)
        return (_rebuild, (self.provider, self.request, self.reason, self.status, self.retries))


def _rebuild(provider, request, reason, status, retries):
    error = RemoteError(provider, request, reason, status=status)
    error.retries = retries
    return error


@dataclass
class RetryPolicy:
    """How often and how long to retry; shared by every caller so they all behave the same."""

    retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = MAX_RETRY_AFTER

    def wait(self, state: RetryCallState) -> float:
        exponential = self.base_delay * 2 ** max(0, state.attempt_number - 1)
        delay = min(self.max_delay, exponential) + random.uniform(0, self.base_delay)  # jitter: no lockstep
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        return max(delay, min(asked, self.max_retry_after)) if asked is not None else delay

    def tenacity(self, retry_if: Callable[[BaseException], bool], on_retry: Callable[[RemoteError], None]) -> dict:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RemoteError):
                on_retry(error)

        return {"stop": stop_after_attempt(self.retries + 1), "wait": self.wait, "reraise": True,
                "retry": retry_if_exception(retry_if), "before_sleep": before_sleep}


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, or Retry-After as seconds or an HTTP date)."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _detail(response: httpx.Response) -> str:
    """The server's own words about an error: error.message / message / detail from JSON, else the body text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)


class HttpClient:
    """JSON over HTTP to one service, with the retry policy and error type above.

    The key is read from `key_env` when the first request is made (never stored in a spec, a fingerprint or a
    message) and sent as `Authorization: Bearer`. `key_required` says whether a missing key is an error before
    any request (hosted APIs) or just means no header (local servers that take none)."""

    def __init__(self, provider: str, base_url: str, *, key_env: str | None = None, api_key: str | None = None,
                 key_required: bool = False, timeout: float = 60.0, connect_timeout: float = 10.0,
                 policy: RetryPolicy | None = None, on_retry: Callable[[RemoteError], None] | None = None):
        if not base_url or not re.match(r"^https?://[^/\s]+", base_url):
            raise ValueError(f"{provider}: base URL must start with http:// or https://, got {base_url!r}")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self._api_key = api_key
        self.key_required = key_required
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry
        self._sync: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        key = f", key from ${self.key_env}" if self.key_env else ""
        return f"HttpClient({self.provider!r}, {redact(self.base_url)!r}{key})"

    # --- the key -------------------------------------------------------------------------------------------
    def key(self) -> str | None:
        if self._api_key:
            return self._api_key
        key = os.environ.get(self.key_env) if self.key_env else None
        if not key and self.key_required:
            raise RemoteError(self.provider, "", f"set the {self.key_env} environment variable to your API key "
                                                 "(or name another variable with api_key_env=NAME)")
        return key or None

    def secrets(self) -> tuple[str, ...]:
        key = self._api_key or (os.environ.get(self.key_env) if self.key_env else None)
        return (key,) if key else ()

    def headers(self) -> dict[str, str]:
        key = self.key()
        return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}

    # --- one request, judged ---------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def describe(self, method: str, path: str = "", what: str = "") -> str:
        return f"{method} {self.url(path)}" + (f" ({what})" if what else "")

    def error(self, request: str, reason: str, **kw) -> RemoteError:
        return RemoteError(self.provider, request, reason, secrets=self.secrets(), **kw)

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        read = float(seconds or self.timeout)
        return httpx.Timeout(read, connect=min(self.connect_timeout, read))

    def read(self, response: httpx.Response, request: str) -> Any:
        """The JSON body of a good response; a RemoteError saying what went wrong for any other."""
        status = response.status_code
        if status >= 400:
            if status in (401, 403):
                hint = (f"check {self.key_env}" if self.key_env else
                        "the server wants a key: name its variable with api_key_env=NAME")
                reason = f"HTTP {status}, not authorised ({hint})"
            elif status == 404:
                reason = "HTTP 404, not found (check the URL and the model name)"
            elif status == 429:
                reason = "HTTP 429, rate limited"
            else:
                reason = f"HTTP {status}"
            detail = _detail(response)
            raise self.error(request, f"{reason}: {detail}" if detail.strip() else reason, status=status,
                             transient=status in RETRY_STATUSES or status >= 500,
                             retry_after=retry_after(response.headers))
        try:
            return response.json()
        except ValueError:
            text = response.text.strip()
            raise self.error(request, f"HTTP {status} but the answer is not JSON: {text[:120]!r}",
                             status=status) from None

    def transport_error(self, error: httpx.HTTPError, request: str, seconds: float | None) -> RemoteError:
        if isinstance(error, httpx.TimeoutException):
            phase = "to connect" if isinstance(error, httpx.ConnectTimeout) else "to answer"
            return self.error(request, f"timed out: no answer within {seconds or self.timeout:g} s ({phase})",
                              transient=True, timeout=True)
        if isinstance(error, httpx.ConnectError):
            return self.error(request, f"cannot connect ({error or 'connection refused'}); is the server running?",
                              transient=True)
        if isinstance(error, httpx.RemoteProtocolError):
            return self.error(request, f"the server closed the connection without an answer ({error})",
                              transient=True)
        if isinstance(error, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
            return self.error(request, f"invalid URL ({error})")
        transient = isinstance(error, httpx.TransportError)
        return self.error(request, f"{type(error).__name__}: {error}", transient=transient)

    def _counted(self, retries: list[int]) -> Callable[[RemoteError], None]:
        def on_retry(error: RemoteError) -> None:
            retries[0] += 1
            if self.on_retry:
                self.on_retry(error)

        return on_retry

    @staticmethod
    def _retryable(error: BaseException) -> bool:
        return isinstance(error, RemoteError) and error.transient

    # --- synchronous: for callers that work in threads ----------------------------------------------------
    def client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(headers=self.headers(), timeout=self._timeout(None))
            return self._sync

    def request(self, method: str, path: str = "", payload: Any = None, *, what: str = "",
                timeout: float | None = None, retry: bool = True) -> Any:
        request = self.describe(method, path, what)
        retries = [0]

        def once() -> Any:
            try:
                response = self.client().request(method, self.url(path), json=payload, timeout=self._timeout(timeout))
            except httpx.HTTPError as e:
                raise self.transport_error(e, request, timeout) from None
            return self.read(response, request)

        if not retry:
            return once()
        try:
            for attempt in Retrying(**self.policy.tenacity(self._retryable, self._counted(retries))):
                with attempt:
                    return once()
        except RemoteError as e:
            e.retries = retries[0]
            raise
        raise AssertionError("unreachable")

    def post(self, path: str = "", payload: Any = None, **options) -> Any:
        return self.request("POST", path, payload, **options)

    def get(self, path: str = "", **options) -> Any:
        return self.request("GET", path, **options)

    def close(self) -> None:
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    # --- asynchronous: several requests in flight, cancelled cleanly ----------------------------------------
    def async_client(self, connections: int = 8) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(headers=self.headers(), timeout=self._timeout(None), limits=limits)

    async def apost(self, http: httpx.AsyncClient, path: str, payload: Any, *, what: str = "",
                    timeout: float | None = None, retry_if: Callable[[RemoteError], bool] | None = None,
                    on_retry: Callable[[RemoteError], None] | None = None) -> Any:
        """POST with the retry policy; `retry_if` narrows which transient errors are retried here (an adaptive
        embedder splits a timed-out batch instead of sending it again)."""
        request = self.describe("POST", path, what)
        retries = [0]
        counted = self._counted(retries)

        def notify(error: RemoteError) -> None:
            counted(error)
            if on_retry:
                on_retry(error)

        def retryable(error: BaseException) -> bool:
            return self._retryable(error) and (retry_if is None or retry_if(error))

        try:
            async for attempt in AsyncRetrying(**self.policy.tenacity(retryable, notify)):
                with attempt:
                    try:
                        response = await http.post(self.url(path), json=payload, timeout=self._timeout(timeout))
                    except httpx.HTTPError as e:
                        raise self.transport_error(e, request, timeout) from None
                    return self.read(response, request)
        except RemoteError as e:
            e.retries = retries[0]
            raise
        raise AssertionError("unreachable")


def run_async(coroutine: Coroutine) -> Any:
    """Run a coroutine to the end from synchronous code. Ctrl-C cancels it (asyncio.run cancels the task, and
    cancelled requests close their connections). Inside a running event loop (a notebook), it runs on a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as e:  # handed to the caller's thread below
            result["error"] = e

    thread = threading.Thread(target=target, name="embedscope-remote")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def first_error_cancels(coroutines: list[Coroutine]) -> list[Any]:
    """Run coroutines together; the first failure cancels the others (and so closes their connections)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return [task.result() for task in tasks]
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def probe_problems(probe: Callable[[], object]) -> list[str]:
    """What a pre-flight check reports: [] when the one tiny request `probe()` goes through, else its one-line
    error (key missing, server unreachable, model unknown)."""
    try:
        probe()
    except RemoteError as e:
        return [str(e)]
    return []


def chat_url(url: str) -> str:
    """The API base (http://host:port/v1) or the full chat completions URL -> the chat completions URL."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


class ChatClient:
    """One chat model behind an OpenAI-compatible API (OpenAI, vLLM, llama.cpp, Ollama, ...): the query
    generator, the LLM judge and the LLM rerankers all talk through it. Temperature 0 by default, so
    judgments, queries and rankings are repeatable."""

    def __init__(self, base_url: str | None, model: str | None, api_key: str | None = None, *,
                 key_env: str = "OPENAI_API_KEY", temperature: float = 0.0, max_tokens: int = 128,
                 timeout: float = 60.0, retries: int = 2, backoff: float = 1.0):
        if not base_url:
            raise ValueError("an LLM needs the chat API URL, e.g. http://127.0.0.1:8000/v1")
        if not model:
            raise ValueError("an LLM needs a model name (the chat model the server should use)")
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.calls = 0
        self.http = HttpClient(f"chat model {model}", chat_url(base_url), key_env=key_env, api_key=api_key,
                               key_required="api.openai.com" in base_url, timeout=timeout,
                               policy=RetryPolicy(retries=retries, base_delay=backoff))

    def chat(self, messages: list[dict], max_tokens: int | None = None) -> str:
        answer = self.http.post(payload={"model": self.model, "messages": messages, "temperature": self.temperature,
                                         "max_tokens": max_tokens or self.max_tokens},
                                what=f"{len(messages)} message" + ("s" if len(messages) != 1 else ""))
        self.calls += 1
        try:
            return (answer["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError):
            raise self.http.error(self.http.describe("POST"), "unexpected answer: no choices[0].message.content "
                                  f"in {str(answer)[:120]!r}") from None

    def complete(self, system: str, user: str) -> str:
        return self.chat([{"role": "system", "content": system}, {"role": "user", "content": user}])

    def preflight(self) -> list[str]:
        """Problems found by one tiny request (key, server, model name), as lines for the user; [] when fine."""
        return probe_problems(lambda: self.chat([{"role": "user", "content": "Reply with OK."}], max_tokens=2))
