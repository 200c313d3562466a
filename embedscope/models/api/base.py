"""What every hosted or served embedder shares: the key, prompts, truncation, request packing, adaptive batch size
and timeout, bounded concurrency, retries (embedscope.remote) and a tally of billed tokens. A provider module only
says how one request body is made and how its answer is read.

Requests are packed in input order under the texts-per-request and tokens-per-request limits, sent `concurrency`
at a time on one event loop, and their vectors put back in input order. Usage counts successful responses only,
once each: a request that failed and was retried is billed once, as providers bill it.

Batch size and timeout adapt to the server unless given: the first requests are small (START_BATCH texts, with a
generous first timeout); each answer is timed, and the batch doubles while a request takes under half of
`request_seconds`, halves when one takes over twice that, and a batch that times out is split in two and sent
again instead of being repeated whole. The timeout follows the measured speed (several times what a request of
that size should take). `request_batch_size` says how many texts the next request carries, so a cache can save
every answered batch before the next one is sent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, fields

import numpy as np

from embedscope.models.api.tokens import TokenCounter, counter_for
from embedscope.models.base import text_fingerprint
from embedscope.models.cards import ModelCard, card_settings
from embedscope.remote import HttpClient, RemoteError, RetryPolicy, first_error_cancels, run_async

ESTIMATE_MARGIN = 0.8  # with estimated counts, pack requests to 80% of the provider's token limit
START_BATCH = 8  # texts in the first requests to a server whose speed is not known yet
FIRST_TIMEOUT = 120.0  # seconds for a request before any answer was timed (a server may load its model first)
MIN_TIMEOUT, MAX_TIMEOUT = 15.0, 600.0
TIMEOUT_FACTOR = 6.0  # a request may take this many times what its size should take before it counts as lost
PREFLIGHT_TEXT = "embedscope pre-flight check"


@dataclass(frozen=True)
class RequestOptions:
    """How requests are sized, sent and retried. batch_size fixes the texts per request; otherwise the batch adapts
    up to max_batch_texts (the card's, then the provider's)."""

    batch_size: int | None = None
    max_batch_texts: int | None = None
    max_batch_tokens: int | None = None
    concurrency: int = 4
    max_retries: int = 6
    timeout: float | None = None  # seconds per request; by default sized from the measured speed
    request_seconds: float = 5.0  # the time one request should take: the adaptive batch aims at it
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0


REQUEST_OPTIONS = tuple(f.name for f in fields(RequestOptions))


def texts_label(n: int) -> str:
    return f"{n} text" if n == 1 else f"{n} texts"


class ApiEmbedder:
    provider = "api"
    default_base_url = ""
    key_env: str | None = None  # default environment variable holding the key
    roles: dict[str, str] | None = None  # input_type sent for each role, where the API takes one
    dimensions_field = "dimensions"  # the request field that asks for shorter vectors
    default_max_batch_texts = 128
    default_max_batch_tokens: int | None = None
    openai_tokenizer = False  # count with tiktoken
    truncates_itself = False  # the API cuts long inputs when asked (Cohere, Voyage); OpenAI rejects them
    example_model = "MODEL"

    def __init__(
        self,
        model: str | None,
        *,
        name: str | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        max_tokens: int | None = None,
        tokenizer: str | None = None,
        card: str | None = None,
        dim: int | None = None,
        **options,
    ):
        """`options`: the spec options of RequestOptions (how requests are sized, sent and retried)."""
        requests = RequestOptions(**{key: options.pop(key) for key in REQUEST_OPTIONS if key in options})
        unknown = options
        if "api_key" in unknown:
            raise ValueError(f"{self.provider}: pass the key through the environment, "
                             f"e.g. api_key_env=MY_KEY_VARIABLE (default {self.key_env}), not in the model spec")
        if unknown:
            raise ValueError(f"{self.provider}: unknown option(s) {', '.join(sorted(unknown))}")
        if not model:
            raise ValueError(f"{self.provider} needs a model name, e.g. {self.provider}:{self.example_model}")
        self.model = str(model)
        self.name = name or self.model
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.dimensions = int(dimensions) if dimensions else None
        self.api_key_env = api_key_env or self.key_env
        self._card_name = card
        self._explicit = {"query_prompt": query_prompt, "document_prompt": document_prompt}
        settings = card_settings(card, self.model, query_prompt=query_prompt, document_prompt=document_prompt,
                                 text_prompts=not self.sends_roles(), model_label=self.name)
        self.card_info: ModelCard | None = settings.card
        self.card = settings.card_dict
        self.query_prompt, self.document_prompt = settings.query_prompt, settings.document_prompt
        self.warnings: list[str] = list(settings.warnings)
        card_info = self.card_info
        self.max_tokens = int(max_tokens) if max_tokens else (card_info.max_tokens if card_info else None)
        # batch_size fixes the texts per request; otherwise it adapts up to max_batch_texts (card, then provider)
        self.fixed_batch = bool(requests.batch_size)
        self.max_batch_texts = int(requests.batch_size or requests.max_batch_texts
                                   or (card_info and card_info.max_batch_texts) or self.default_max_batch_texts)
        self.max_batch_tokens = (requests.max_batch_tokens or (card_info and card_info.max_batch_tokens)
                                 or self.default_max_batch_tokens)
        self._batch = self.max_batch_texts if self.fixed_batch else min(START_BATCH, self.max_batch_texts)
        self.concurrency = max(1, int(requests.concurrency))
        self.fixed_timeout = float(requests.timeout) if requests.timeout else None
        self.request_seconds = float(requests.request_seconds)
        self._seconds_per_text: float | None = None
        self.policy = RetryPolicy(retries=int(requests.max_retries), base_delay=float(requests.retry_base_delay),
                                  max_delay=float(requests.retry_max_delay))
        self.counter: TokenCounter = counter_for(tokenizer, self.model, self.openai_tokenizer)
        self._dim = int(dim) if dim else (self.dimensions or (card_info.dim if card_info else None))
        self._dim_source = ("dim=" if dim else "dimensions=" if self.dimensions else
                            f"the card of {card_info.name}" if card_info and card_info.dim else None)
        self._http: HttpClient | None = None
        self._usage = {"requests": 0, "texts": 0, "billed_tokens": 0, "counted_tokens": 0, "retries": 0,
                       "retried_statuses": {}, "truncated_texts": 0, "responses_without_usage": 0,
                       "split_batches": 0, "request_seconds": 0.0}
        self.on_request: Callable[[int], None] | None = None  # called with the texts of each answered request
        self._lock = threading.Lock()  # calls may come from several threads (a cache sending requests in parallel)
        self._running: set[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = set()

    def sends_roles(self) -> bool:
        """True where the API is told query vs document (input_type), so text prompts are not needed."""
        return bool(self.roles)

    def _sized(self, body: dict) -> dict:
        """A request body that asks for the configured number of dimensions, where one is set."""
        return body | {self.dimensions_field: self.dimensions} if self.dimensions else body

    # --- what a provider module supplies -------------------------------------------------------------------
    path = "embeddings"

    def _body(self, texts: list[str], role: str) -> dict:
        raise NotImplementedError

    def _read(self, answer: dict, n: int) -> tuple[np.ndarray, int | None]:
        """(vectors in input order, billed tokens from the response or None) from one JSON answer."""
        raise NotImplementedError

    # --- the client: the key is read late and kept only inside it -------------------------------------------
    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(f"{self.provider} {self.model}", self.base_url, key_env=self.api_key_env,
                                    key_required=bool(self.api_key_env), timeout=self.fixed_timeout or FIRST_TIMEOUT,
                                    policy=self.policy, on_retry=self._count_retry)
        return self._http

    def _count_retry(self, error: RemoteError) -> None:
        label = "timeout" if error.timeout else str(error.status or "connection")
        with self._lock:
            self._usage["retries"] += 1
            self._usage["retried_statuses"][label] = self._usage["retried_statuses"].get(label, 0) + 1

    # --- cancelling: Ctrl-C, or a caller giving up, leaves no request running -------------------------------
    def _run(self, coroutine: Coroutine):
        """Run the requests of one call to the end, registered so that cancel() can stop them from any thread."""

        async def tracked():
            entry = (asyncio.get_running_loop(), asyncio.current_task())
            with self._lock:
                self._running.add(entry)
            try:
                return await coroutine
            finally:
                with self._lock:
                    self._running.discard(entry)

        return run_async(tracked())

    def cancel(self) -> None:
        """Cancel every request in flight, from any thread: their connections close, and each call in progress
        ends with asyncio.CancelledError. (Ctrl-C on the calling thread does the same by itself.)"""
        with self._lock:
            running = list(self._running)
        for loop, task in running:
            loop.call_soon_threadsafe(task.cancel)

    def __repr__(self) -> str:
        key = f", key from ${self.api_key_env}" if self.api_key_env else ""
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}{key})"

    # --- Embedder Protocol ------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._encode([PREFLIGHT_TEXT], "document").shape[1])
        return self._dim

    @property
    def max_seq_length(self) -> int | None:
        return self.max_tokens

    @property
    def request_batch_size(self) -> int:
        """Texts the next request will carry (it adapts to the server unless batch_size= fixed it)."""
        return self._batch

    def prompts(self) -> dict[str, str | None]:
        return {"query": self._prompt("query"), "document": self._prompt("document")}

    def fingerprint(self) -> str:
        # Everything that changes the vectors, never the key: where they come from (the same model name on two
        # servers may be two models), the model, dimensions, prompts, what each role is sent as, and truncation
        # where we do it.
        return text_fingerprint(self.provider, self.base_url, self.model, self.dimensions, self.prompts(),
                                self.input_types(), self.max_tokens if self.counter.exact else "provider-truncation")

    def input_types(self) -> dict[str, str | None]:
        return dict(self.roles) if self.sends_roles() else {"query": None, "document": None}

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    @property
    def usage(self) -> dict:
        """Requests, texts, billed tokens (from the API's usage field) and retries so far, with a cost estimate."""
        with self._lock:
            usage = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._usage.items()}
        usage["request_seconds"] = round(usage["request_seconds"], 3)
        usage["provider"] = self.provider
        usage["model"] = self.model
        usage["token_count_method"] = self.counter.method
        usage["request_batch_size"] = self._batch
        if self.card_info and self.card_info.price_per_1m_tokens is not None:
            usage["price_per_1m_tokens"] = self.card_info.price_per_1m_tokens
            usage["price_date"] = self.card_info.price_date
            usage["estimated_cost_usd"] = self.card_info.cost(usage["billed_tokens"])
        return usage

    # --- pre-flight: one tiny request says whether the work can start --------------------------------------
    def preflight(self) -> list[str]:
        """Problems found before any work (key missing, server unreachable, model unknown, dimensions not as the
        card or options say), one line each; [] when the model is ready."""
        try:
            vectors, _ = self._run(self._probe([PREFLIGHT_TEXT], "query"))
        except RemoteError as e:
            return [str(e)]
        got = int(vectors.shape[1])
        if self._dim is not None and got != self._dim:
            return [f"{self.provider} {self.model}: returns {got}-dim vectors, but {self._dim_source} says "
                    f"{self._dim}; set dimensions= (if the model takes it) or dim={got}"]
        self._dim = got
        return []

    async def _probe(self, texts: list[str], role: str, extra: dict | None = None) -> tuple[np.ndarray, int | None]:
        async with self.http.async_client(1) as client:
            body = self._body(texts, role) | (extra or {})
            answer = await self.http.apost(client, self.path, body, what=texts_label(len(texts)),
                                           timeout=self.fixed_timeout or 60.0)
        return self._checked(answer, len(texts))

    # --- the work -------------------------------------------------------------------------------------------------
    def _prompt(self, role: str) -> str | None:
        return self.query_prompt if role == "query" else self.document_prompt

    def _prepare(self, texts: Sequence[str], role: str) -> tuple[list[str], list[int], int]:
        prompt = self._prompt(role) or ""
        # Providers reject empty strings; a single space embeds "nothing" the same way for every model.
        prepared = [prompt + t if (prompt + t).strip() else " " for t in texts]
        counts = self.counter.counts(prepared)
        truncated = 0
        if self.max_tokens and self.counter.exact and not self.truncates_itself:
            for i, n in enumerate(counts):
                if n > self.max_tokens:
                    prepared[i] = self.counter.truncate(prepared[i], self.max_tokens)
                    counts[i] = self.counter.count(prepared[i])
                    truncated += 1
        return prepared, counts, truncated

    def _next_batch(self, start: int, counts: list[int]) -> range:
        """The next request: from `start`, up to the current batch size and the token budget (never empty)."""
        limit = self.max_batch_tokens
        if limit and not self.counter.exact:
            limit = int(limit * ESTIMATE_MARGIN)
        end, tokens = start, 0
        while end < len(counts) and end - start < self._batch:
            if limit and end > start and tokens + counts[end] > limit:
                break
            tokens += counts[end]
            end += 1
        return range(start, end)

    def _timeout(self, n: int) -> float:
        if self.fixed_timeout:
            return self.fixed_timeout
        if self._seconds_per_text is None:
            return FIRST_TIMEOUT
        expected = self._seconds_per_text * n
        return min(MAX_TIMEOUT, max(MIN_TIMEOUT, TIMEOUT_FACTOR * expected))

    def _measured(self, n: int, seconds: float, full: bool) -> None:
        """Learn the server's speed from one answered request, and size the next ones by it."""
        per_text = seconds / max(1, n)
        previous = self._seconds_per_text
        self._seconds_per_text = per_text if previous is None else 0.5 * (previous + per_text)
        if self.fixed_batch:
            return
        with self._lock:
            if full and seconds < self.request_seconds / 2 and self._batch < self.max_batch_texts:
                self._batch = min(self.max_batch_texts, self._batch * 2)
            elif seconds > self.request_seconds * 2 and self._batch > 1:
                self._batch = max(1, self._batch // 2)

    def _checked(self, answer, n: int) -> tuple[np.ndarray, int | None]:
        request = self.http.describe("POST", self.path, texts_label(n))
        try:
            vectors, billed = self._read(answer, n)
            vectors = np.asarray(vectors, dtype=np.float32)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            raise self.http.error(request, f"unexpected answer ({type(e).__name__}: {e}): "
                                           f"{str(answer)[:120]!r}") from None
        if vectors.ndim != 2 or vectors.shape[0] != n:
            got = vectors.shape[0] if vectors.ndim else 0
            raise self.http.error(request, f"unexpected answer: {got} vectors for {n} texts")
        return vectors, billed

    async def _send(self, client, texts: list[str], counted: int, role: str) -> np.ndarray:
        """One request (retried per the policy); a batch that times out is split in two instead, while the
        batch size adapts."""
        adaptive = not self.fixed_batch and not self.fixed_timeout
        started = time.perf_counter()
        try:
            answer = await self.http.apost(client, self.path, self._body(texts, role), what=texts_label(len(texts)),
                                           timeout=self._timeout(len(texts)),
                                           retry_if=lambda e: not (e.timeout and adaptive and len(texts) > 1))
        except RemoteError as e:
            if not (e.timeout and adaptive and len(texts) > 1):
                raise
            with self._lock:
                self._usage["split_batches"] += 1
                self._batch = max(1, min(self._batch, len(texts)) // 2)
            half = len(texts) // 2
            # the lost request's time says the server is slower than thought
            self._seconds_per_text = max(self._seconds_per_text or 0.0, (time.perf_counter() - started) / len(texts))
            first = await self._send(client, texts[:half], counted * half // len(texts), role)
            second = await self._send(client, texts[half:], counted - counted * half // len(texts), role)
            return np.vstack([first, second])
        seconds = time.perf_counter() - started
        vectors, billed = self._checked(answer, len(texts))
        self._measured(len(texts), seconds, full=len(texts) >= self._batch)
        with self._lock:
            self._usage["requests"] += 1
            self._usage["texts"] += len(texts)
            self._usage["counted_tokens"] += counted
            self._usage["request_seconds"] += seconds
            if billed is None:
                self._usage["responses_without_usage"] += 1
            else:
                self._usage["billed_tokens"] += int(billed)
        if self.on_request:
            self.on_request(len(texts))
        return vectors

    async def _encode_async(self, prepared: list[str], counts: list[int], role: str) -> np.ndarray:
        parts: dict[int, np.ndarray] = {}
        cursor = 0

        async def worker(client) -> None:
            nonlocal cursor
            while cursor < len(prepared):
                batch = self._next_batch(cursor, counts)  # taken and advanced without an await between: one owner
                cursor = batch.stop
                parts[batch.start] = await self._send(client, prepared[batch.start : batch.stop],
                                                      sum(counts[batch.start : batch.stop]), role)

        async with self.http.async_client(self.concurrency) as client:
            workers = min(self.concurrency, max(1, -(-len(prepared) // max(1, self._batch))))
            await first_error_cancels([worker(client) for _ in range(workers)])
        return np.vstack([parts[start] for start in sorted(parts)])

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self._dim or 0), np.float32)
        self.http.key()  # a missing key fails here, before any request
        prepared, counts, truncated = self._prepare(texts, role)
        with self._lock:
            self._usage["truncated_texts"] += truncated
        vectors = self._run(self._encode_async(prepared, counts, role))
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            said = self._dim_source or "earlier answers"
            raise self.http.error("", f"returned {vectors.shape[1]}-dim vectors, but {said} says {self._dim}; "
                                      f"set dim={vectors.shape[1]} if that is expected")
        return vectors
