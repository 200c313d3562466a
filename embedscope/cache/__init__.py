"""Cache: embeddings on disk, keyed by model fingerprint + text hash; resumable and shared safely."""

from embedscope.cache.store import CacheError, EmbeddingCache, text_key

__all__ = ["CacheError", "EmbeddingCache", "text_key"]
