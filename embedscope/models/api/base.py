"""What every hosted embedder shares: keys from the environment, prompts, truncation, request packing, bounded
concurrency, retries and a tally of billed tokens. A provider module only says how one request is made.

Requests are packed greedily in input order under the provider's texts-per-request and tokens-per-request
limits, sent `concurrency` at a time, and their vectors put back in input order. Usage counts successful
responses only, once each: a request that failed and was retried is billed once, as providers bill it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from embedscope.errors import EmbedscopeError

from embedscope.models.api.retry import retrying, status_of
from embedscope.models.api.tokens import TokenCounter, counter_for
from embedscope.models.base import text_fingerprint
from embedscope.models.cards import ModelCard, find_card, missing_prompt_warning, warn

ESTIMATE_MARGIN = 0.8  # with estimated counts, pack requests to 80% of the provider's token limit


class ApiError(EmbedscopeError, RuntimeError):
    """A request that still failed after retries. The message names provider, model and status, never the key."""


class ApiEmbedder:
    provider = "api"
    key_env: str | None = None  # default environment variable holding the key
    roles = {"query": "query", "document": "document"}  # input_type sent for each role, when the API takes one
    default_max_batch_texts = 128
    default_max_batch_tokens: int | None = None
    openai_tokenizer = False  # count with tiktoken
    truncates_itself = False  # the API cuts long inputs when asked (Cohere, Voyage); OpenAI rejects them

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
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
        concurrency: int = 4,
        max_retries: int = 6,
        timeout: float = 60.0,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        tokenizer: str | None = None,
        card: str | None = None,
        dim: int | None = None,
        **unknown,
    ):
        if "api_key" in unknown:
            raise ValueError(f"{self.provider}: pass the key through the environment, "
                             f"e.g. api_key_env=MY_KEY_VARIABLE (default {self.key_env}), not in the model spec")
        if unknown:
            raise ValueError(f"{self.provider}: unknown option(s) {', '.join(sorted(unknown))}")
        if not model:
            raise ValueError(f"{self.provider} needs a model name, e.g. {self.provider}:{self.example_model}")
        self.model = str(model)
        self.name = name or self.model
        self.base_url = base_url
        self.card_info: ModelCard | None = find_card(card, self.model)
        card_info = self.card_info
        self.card = card_info.to_dict() if card_info else None
        self.dimensions = int(dimensions) if dimensions else None
        # Card prompts are text prefixes; an API told the role through input_type needs none.
        use_card = card_info is not None and not self.sends_roles()
        self.query_prompt = query_prompt if query_prompt is not None else (card_info.query_prompt if use_card else None)
        self.document_prompt = (document_prompt if document_prompt is not None
                                else (card_info.document_prompt if use_card else None))
        self.max_tokens = int(max_tokens) if max_tokens else (card_info.max_tokens if card_info else None)
        self.max_batch_texts = int(batch_size or (card_info and card_info.max_batch_texts) or self.default_max_batch_texts)
        self.max_batch_tokens = max_batch_tokens or (card_info and card_info.max_batch_tokens) or self.default_max_batch_tokens
        self.concurrency = max(1, int(concurrency))
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.retry_base_delay = float(retry_base_delay)
        self.retry_max_delay = float(retry_max_delay)
        self.api_key_env = api_key_env or self.key_env
        self.counter: TokenCounter = counter_for(tokenizer, self.model, self.openai_tokenizer)
        self._dim = int(dim) if dim else (self.dimensions or (card_info.dim if card_info else None))
        self._client = None
        self._client_lock = threading.Lock()
        self._usage_lock = threading.Lock()
        self._usage = {"requests": 0, "texts": 0, "billed_tokens": 0, "counted_tokens": 0, "retries": 0,
                       "retried_statuses": {}, "truncated_texts": 0, "responses_without_usage": 0}
        self.warnings: list[str] = []
        message = None if self.sends_roles() else missing_prompt_warning(
            card_info, self._prompt("query"), self._prompt("document"), self.name)
        if message:
            warn(message)
            self.warnings.append(message)

    example_model = "MODEL"

    def sends_roles(self) -> bool:
        """True where the API is told query vs document (input_type), so text prompts are not needed."""
        return False

    # --- what a provider module supplies -------------------------------------------------------------------
    def _make_client(self, api_key: str | None):
        raise NotImplementedError

    def _request(self, client, texts: list[str], role: str) -> tuple[np.ndarray, int | None]:
        """One API call: (vectors in input order, billed tokens from the response or None)."""
        raise NotImplementedError

    def _transient_errors(self) -> tuple[type[BaseException], ...]:
        return ()

    # --- the key: read late, kept only inside the client ----------------------------------------------------
    def _api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(f"{self.provider}: set the {self.api_key_env} environment variable to your API key"
                             + ("" if self.api_key_env != self.key_env else " (or name another with api_key_env=NAME)"))
        return key

    def client(self):
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client(self._api_key())
            return self._client

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"{type(self).__name__}(model={self.model!r}{where}, key from ${self.api_key_env})"

    # --- Embedder Protocol ------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._encode(["dimension probe"], "document").shape[1])
        return self._dim

    @property
    def max_seq_length(self) -> int | None:
        return self.max_tokens

    def prompts(self) -> dict[str, str | None]:
        return {"query": self._prompt("query"), "document": self._prompt("document")}

    def fingerprint(self) -> str:
        # Everything that changes the vectors; never the key. Truncation matters only where we do it.
        return text_fingerprint(self.provider, self.model, self.dimensions, self.prompts(), self.roles,
                                self.max_tokens if self.counter.exact else "provider-truncation", self._endpoint_id())

    def _endpoint_id(self) -> str | None:
        return None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    @property
    def usage(self) -> dict:
        """Requests, texts, billed tokens (from the API's usage field) and retries so far, with a cost estimate."""
        with self._usage_lock:
            usage = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._usage.items()}
        usage["provider"] = self.provider
        usage["model"] = self.model
        usage["token_count_method"] = self.counter.method
        if self.card_info and self.card_info.price_per_1m_tokens is not None:
            usage["price_per_1m_tokens"] = self.card_info.price_per_1m_tokens
            usage["price_date"] = self.card_info.price_date
            usage["estimated_cost_usd"] = self.card_info.cost(usage["billed_tokens"])
        return usage

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

    def _batches(self, counts: list[int]) -> list[range]:
        limit = self.max_batch_tokens
        if limit and not self.counter.exact:
            limit = int(limit * ESTIMATE_MARGIN)
        batches, start, tokens = [], 0, 0
        for i, n in enumerate(counts):
            full = i - start >= self.max_batch_texts or (limit and i > start and tokens + n > limit)
            if full:
                batches.append(range(start, i))
                start, tokens = i, 0
            tokens += n
        if start < len(counts):
            batches.append(range(start, len(counts)))
        return batches

    def _call(self, texts: list[str], role: str, counted: int) -> np.ndarray:
        client = self.client()

        def on_retry(exc: BaseException, sleep: float) -> None:
            status = str(status_of(exc) or type(exc).__name__)
            with self._usage_lock:
                self._usage["retries"] += 1
                self._usage["retried_statuses"][status] = self._usage["retried_statuses"].get(status, 0) + 1

        try:
            for attempt in retrying(max_retries=self.max_retries, base_delay=self.retry_base_delay,
                                    max_delay=self.retry_max_delay, transient_types=self._transient_errors(),
                                    on_retry=on_retry):
                with attempt:
                    vectors, billed = self._request(client, texts, role)
        except Exception as exc:
            raise ApiError(self._describe(exc)) from None
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ApiError(f"{self.provider} {self.model}: got {vectors.shape[0] if vectors.ndim else 0} vectors "
                           f"for {len(texts)} texts")
        with self._usage_lock:
            self._usage["requests"] += 1
            self._usage["texts"] += len(texts)
            self._usage["counted_tokens"] += counted
            if billed is None:
                self._usage["responses_without_usage"] += 1
            else:
                self._usage["billed_tokens"] += int(billed)
        return vectors

    def _describe(self, exc: BaseException) -> str:
        status = status_of(exc)
        text = " ".join(str(exc).split())[:300]
        key = os.environ.get(self.api_key_env or "", "")
        if key:
            text = text.replace(key, "***")
        what = f"HTTP {status}" if status else type(exc).__name__
        return f"{self.provider} {self.model}: request failed ({what}) after {self.max_retries} retries at most: {text}"

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self._dim or 0), np.float32)
        prepared, counts, truncated = self._prepare(texts, role)
        with self._usage_lock:
            self._usage["truncated_texts"] += truncated
        batches = self._batches(counts)

        def run(batch: range) -> np.ndarray:
            return self._call([prepared[i] for i in batch], role, sum(counts[i] for i in batch))

        if self.concurrency == 1 or len(batches) == 1:
            parts = [run(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
                parts = list(pool.map(run, batches))  # map keeps input order
        vectors = np.vstack(parts)
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise ApiError(f"{self.provider} {self.model}: returned {vectors.shape[1]}-dim vectors, expected {self._dim}")
        return vectors
