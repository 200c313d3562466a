"""Hosted embedders behind the Embedder Protocol: OpenAI (and compatible servers), Cohere, Voyage.

Each provider module registers its kind; SDKs are imported only when a client is first needed, so listing
kinds works without them.
"""

from embedscope.models.api import cohere, openai, voyage  # noqa: F401  (register the kinds)
from embedscope.models.api.base import ApiEmbedder, ApiError

__all__ = ["ApiEmbedder", "ApiError"]
