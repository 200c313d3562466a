"""Voyage AI embeddings: `voyage:voyage-3`, queries and documents sent with input_type query / document.

Up to 1,000 texts a request and a per-model token budget per request (120K-1M). Voyage truncates long inputs
itself (truncation=true); billed tokens come from the response's usage.total_tokens.
"""

from __future__ import annotations

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder


class VoyageEmbedder(ApiEmbedder):
    provider = "voyage"
    default_base_url = "https://api.voyageai.com/v1"
    key_env = "VOYAGE_API_KEY"
    example_model = "voyage-3"
    roles = {"query": "query", "document": "document"}
    default_max_batch_texts = 1000
    default_max_batch_tokens = 120_000
    truncates_itself = True

    dimensions_field = "output_dimension"

    def _body(self, texts, role):
        return self._sized({"model": self.model, "input": texts, "input_type": self.roles[role], "truncation": True})

    def _read(self, answer, n):
        data = sorted(answer["data"], key=lambda d: d["index"])
        usage = answer.get("usage") or {}
        return [d["embedding"] for d in data], usage.get("total_tokens")


@register("voyage")
def _voyage(target=None, **options):
    return VoyageEmbedder(target, **options)
