"""The retrieval context: what every Retriever is given to turn a dataset into a Run.

One comparison makes one context (the embedding cache, the index spec, the vector similarity, the search
depth, chunking, faithful or fast encoding, and where progress messages go) and hands it to each retriever's `retrieve`. Pipelines pass
the same context on to their stages, so a hybrid's dense stage embeds into the run's cache and searches with
the run's index and similarity; nothing is rebound after construction and nothing travels through the
environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from embedscope.index.base import check_similarity

if TYPE_CHECKING:
    from embedscope.cache import EmbeddingCache

DEFAULT_CACHE = ".embedscope-cache"

log = logging.getLogger("embedscope")


@dataclass(frozen=True)
class RetrievalContext:
    cache_dir: str | Path = DEFAULT_CACHE
    index: str = "exact"
    similarity: str = "cosine"
    depth: int = 100
    chunk_tokens: int | None = None
    chunk_overlap: int = 1
    fast: bool = False  # encode with the fastest runtime within the quality budget, not the faithful one
    log: Callable[[str], None] = field(default=log.info, compare=False, repr=False)
    _cache: EmbeddingCache | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        check_similarity(self.similarity)
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")

    @classmethod
    def of(cls, cache: EmbeddingCache | str | Path | RetrievalContext | None = None, **settings) -> RetrievalContext:
        """A context from an EmbeddingCache, a cache folder or an existing context, with settings changed.
        `metric=` is the old name of `similarity=` and still accepted."""
        if "metric" in settings:
            settings.setdefault("similarity", settings.pop("metric"))
        settings = {k: v for k, v in settings.items() if v is not None}
        if isinstance(cache, RetrievalContext):
            return cache.with_(**settings) if settings else cache
        from embedscope.cache import EmbeddingCache

        if isinstance(cache, EmbeddingCache):
            return cls(cache_dir=cache.root, _cache=cache, **settings)
        return cls(cache_dir=cache or DEFAULT_CACHE, **settings)

    @property
    def cache(self) -> EmbeddingCache:
        """The embedding cache, opened on first use (a context made for BM25 alone never touches the disk)."""
        if self._cache is None:
            from embedscope.cache import EmbeddingCache

            object.__setattr__(self, "_cache", EmbeddingCache(self.cache_dir))  # a lazily opened handle, not state
        return self._cache

    @property
    def bad_vectors(self) -> str:
        """What to do with a bad vector: the cache's policy ("stop" or "record", embedscope.cache.vectors);
        "stop" for a context that has not opened a cache (precomputed vectors never need one). Never opens it."""
        return self._cache.bad_vectors if self._cache is not None else "stop"

    @property
    def streaming(self) -> bool:
        return self.index.split("?")[0].partition(":")[0] == "streaming"

    def with_(self, **settings) -> RetrievalContext:
        """A copy with some settings changed (the cache handle is shared)."""
        return replace(self, **settings)

    def retriever(self, spec_or_model):
        """A Retriever for a model: BM25, precomputed vectors and pipelines are one already; an Embedder gets
        dense search through this context."""
        from embedscope.runs.dense import DenseRetriever

        model = _built(spec_or_model)
        if hasattr(model, "encode_documents") or hasattr(model, "vectors"):
            return DenseRetriever(model, self)
        return model

    def searcher(self, spec_or_model, dataset, k: int):
        """search(query_text) -> {doc_id: score}: one query at a time, with the corpus side (embedding, index)
        built once here. A ValueError says why a retriever has no such path."""
        retriever = self.retriever(spec_or_model)
        if not hasattr(retriever, "searcher"):
            raise ValueError(f"{retriever.name}: a {type(retriever).__name__} searches all queries at once and "
                             "has no single-query path to time")
        return retriever.searcher(dataset, k, self)

    def embedder(self, spec_or_model):
        """An Embedder for a model spec, or a clear error for a model that cannot embed documents."""
        model = _built(spec_or_model)
        if not hasattr(model, "encode_documents"):
            raise ValueError(f"'{getattr(model, 'name', spec_or_model)}' is not an embedding model "
                             "(it cannot embed documents)")
        return model


def _built(spec_or_model):
    """A model from its spec (a string or a dict), or the model itself when it is one already."""
    from embedscope.models import load_model

    return load_model(spec_or_model) if isinstance(spec_or_model, (str, dict)) else spec_or_model
