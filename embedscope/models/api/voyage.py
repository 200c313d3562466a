"""Voyage AI embeddings: `voyage:voyage-3`, queries and documents sent with input_type query / document.

Up to 1,000 texts a request and a per-model token budget per request (120K-1M). Voyage truncates long inputs
itself (truncation=true); billed tokens come from the response's usage.total_tokens.
"""

from __future__ import annotations

import numpy as np

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder


class VoyageEmbedder(ApiEmbedder):
    provider = "voyage"
    key_env = "VOYAGE_API_KEY"
    example_model = "voyage-3"
    roles = {"query": "query", "document": "document"}
    default_max_batch_texts = 1000
    default_max_batch_tokens = 120_000
    truncates_itself = True

    def sends_roles(self) -> bool:
        return True

    def _make_client(self, api_key):
        import voyageai

        return voyageai.Client(api_key=api_key, max_retries=0, timeout=self.timeout, base_url=self.base_url)

    def _transient_errors(self):
        from voyageai import error

        return (error.Timeout, error.APIConnectionError, error.TryAgain)

    def _request(self, client, texts, role):
        kwargs = {"output_dimension": self.dimensions} if self.dimensions else {}
        result = client.embed(texts, model=self.model, input_type=self.roles[role], truncation=True, **kwargs)
        return np.asarray(result.embeddings, dtype=np.float32), int(result.total_tokens)


@register("voyage")
def _voyage(target=None, **options):
    return VoyageEmbedder(target, **options)
