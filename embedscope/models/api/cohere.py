"""Cohere embeddings (v2 API): `cohere:embed-english-v3.0`, queries as search_query, documents as search_document.

Up to 96 texts a request. Cohere truncates long inputs itself (truncate=END); billed tokens come from the
response's meta.billed_units.input_tokens. `base_url=` points the SDK at another host (a proxy, a test server).
"""

from __future__ import annotations

import numpy as np

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder


class CohereEmbedder(ApiEmbedder):
    provider = "cohere"
    key_env = "COHERE_API_KEY"
    example_model = "embed-english-v3.0"
    roles = {"query": "search_query", "document": "search_document"}
    default_max_batch_texts = 96
    truncates_itself = True

    def sends_roles(self) -> bool:
        return True

    def _make_client(self, api_key):
        import cohere

        options = {"base_url": self.base_url} if self.base_url else {}
        return cohere.ClientV2(api_key=api_key, timeout=self.timeout, max_retries=0, **options)

    def _transient_errors(self):
        import httpx

        return (httpx.TimeoutException, httpx.TransportError)

    def _request(self, client, texts, role):
        kwargs = {"output_dimension": self.dimensions} if self.dimensions else {}
        response = client.embed(model=self.model, texts=texts, input_type=self.roles[role],
                                embedding_types=["float"], truncate="END", **kwargs)
        vectors = np.asarray(response.embeddings.float_, dtype=np.float32)
        billed_units = getattr(getattr(response, "meta", None), "billed_units", None)
        billed = getattr(billed_units, "input_tokens", None)
        return vectors, None if billed is None else int(billed)


@register("cohere")
def _cohere(target=None, **options):
    return CohereEmbedder(target, **options)
