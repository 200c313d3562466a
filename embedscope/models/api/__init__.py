"""Hosted and served embedders behind the Embedder Protocol: OpenAI (and compatible servers), Cohere, Voyage.

Each provider module registers its kind and says how one request body is made and how its answer is read; the
requests themselves go through embedscope.remote, the one HTTP client.
"""

from embedscope.models.api import cohere, openai, voyage  # noqa: F401  (register the kinds)
from embedscope.models.api.base import ApiEmbedder
from embedscope.remote import RemoteError

__all__ = ["ApiEmbedder", "RemoteError"]
