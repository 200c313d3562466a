"""What every pipeline shares: turning a stage's spec into a Retriever that uses the run's embedding cache."""

from __future__ import annotations

import os
from pathlib import Path

from embedscope.cache import EmbeddingCache

DEFAULT_CACHE = ".embedscope-cache"


class Stages:
    """Cache, index and similarity a pipeline hands to its dense stages.

    `embedscope run` binds them to the run's own settings (`bind`); a pipeline built alone uses
    $EMBEDSCOPE_CACHE or ./.embedscope-cache, the same default as `embedscope run`.
    """

    def __init__(self, cache: str | Path | EmbeddingCache | None = None, index: str = "exact", metric: str = "cosine"):
        self._cache = cache
        self.index = index
        self.metric = metric

    @property
    def cache(self) -> EmbeddingCache:
        if not isinstance(self._cache, EmbeddingCache):
            self._cache = EmbeddingCache(self._cache or os.environ.get("EMBEDSCOPE_CACHE", DEFAULT_CACHE))
        return self._cache

    def bind(self, cache=None, index: str | None = None, metric: str | None = None) -> None:
        if cache is not None:
            self._cache = cache
        self.index = index or self.index
        self.metric = metric or self.metric

    def retriever(self, spec_or_model):
        """A Retriever for a stage: BM25 and pipelines are one already; an Embedder gets dense search."""
        from embedscope.models import load_model
        from embedscope.runs.dense import DenseRetriever

        model = load_model(spec_or_model) if isinstance(spec_or_model, (str, dict)) else spec_or_model
        if hasattr(model, "retrieve"):
            if hasattr(model, "bind"):
                model.bind(self.cache, self.index, self.metric)
            return model
        return DenseRetriever(model, self.cache, index=self.index, metric=self.metric)

    def embedder(self, spec_or_model):
        from embedscope.models import load_model

        model = load_model(spec_or_model) if isinstance(spec_or_model, (str, dict)) else spec_or_model
        if not hasattr(model, "encode_documents"):
            raise ValueError(f"'{spec_or_model}' is not an embedding model (it cannot embed documents)")
        return model


def split_stages(target: str | None, separator: str, kind: str, example: str) -> list[str]:
    parts = [p.strip() for p in (target or "").split(separator)]
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"'{kind}' needs stages separated by '{separator}', e.g. {example}")
    return parts


def parse_floats(value, option: str) -> list[float]:
    """'0.3,0.7' (spec string) or [0.3, 0.7] (YAML) -> [0.3, 0.7]."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        return [float(v) for v in items]
    except ValueError:
        raise ValueError(f"option '{option}' needs numbers separated by commas, got '{value}'") from None
