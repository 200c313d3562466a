"""Cohere embeddings (v2 API): `cohere:embed-english-v3.0`, queries as search_query, documents as search_document.

Up to 96 texts a request. Cohere truncates long inputs itself (truncate=END); billed tokens come from the
response's meta.billed_units.input_tokens. `base_url=` points at another host (a proxy, a test server).
"""

from __future__ import annotations

from embedscope.models import register
from embedscope.models.api.base import ApiEmbedder


class CohereEmbedder(ApiEmbedder):
    provider = "cohere"
    default_base_url = "https://api.cohere.com"
    path = "v2/embed"
    key_env = "COHERE_API_KEY"
    example_model = "embed-english-v3.0"
    roles = {"query": "search_query", "document": "search_document"}
    default_max_batch_texts = 96
    truncates_itself = True

    dimensions_field = "output_dimension"

    def _body(self, texts, role):
        return self._sized({"model": self.model, "texts": texts, "input_type": self.roles[role],
                            "embedding_types": ["float"], "truncate": "END"})

    def _read(self, answer, n):
        billed = ((answer.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
        return answer["embeddings"]["float"], None if billed is None else int(billed)


@register("cohere")
def _cohere(target=None, **options):
    return CohereEmbedder(target, **options)
