"""Vectors for a task's texts from any model kind: local, API and served embedders through the embedding cache,
precomputed vectors matched by text. A model that gives no vectors (BM25, a pipeline) cannot do these tasks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope import progress
from embedscope.cache import EmbeddingCache
from embedscope.data.errors import DataError
from embedscope.models import load_model, parse_spec

EXAMPLES = 3


class TextVectors:
    """Precomputed vectors keyed by the text they embed: `precomputed:FILE?text_column=text&vector_column=embedding`.

    Task rows have no ids, so a file of vectors is matched to them by text. Queries and documents share the file
    (a query_file= may give the reranking queries their own)."""

    def __init__(self, path: str | Path, *, text_column: str = "text", vector_column: str = "embedding",
                 query_file: str | Path | None = None, name: str | None = None, **_ignored):
        from embedscope.models.precomputed import VectorFile

        self.path = str(path)
        self.files = {"document": VectorFile(path, text_column, vector_column)}
        self.files["query"] = VectorFile(query_file, text_column, vector_column) if query_file else self.files["document"]
        self.vector_column = vector_column
        self.name = name or f"{Path(path).name.split('.')[0]}:{vector_column}"

    @property
    def dim(self) -> int:
        return int(self.files["document"].vectors.shape[1])

    def vectors(self, texts: Sequence[str], role: str) -> np.ndarray:
        file = self.files[role]
        missing = [t for t in texts if t not in file.position]
        if missing:
            raise DataError(file.path, f"{len(set(missing))} texts have no vector, e.g. "
                                       f"{', '.join(repr(t[:60]) for t in missing[:EXAMPLES])}")
        return file.vectors[[file.position[t] for t in texts]]


def load_for_task(spec: str | dict):
    """The model behind a spec; precomputed files are read as vectors keyed by text."""
    kind, target, options = parse_spec(spec)
    if kind == "precomputed":
        if not target:
            raise ValueError("precomputed needs a file, e.g. precomputed:vectors.parquet?text_column=text")
        return TextVectors(target, **options)
    return load_model(spec)


def can_embed(model) -> bool:
    return isinstance(model, TextVectors) or all(hasattr(model, a) for a in ("encode_queries", "encode_documents",
                                                                          "fingerprint"))


class Embedding:
    """embed(texts, role) for one model: cached, de-duplicated, timed."""

    def __init__(self, model, cache: EmbeddingCache):
        self.model = model
        self.cache = cache
        self.stats = {"texts": 0, "cached": 0, "encoded": 0, "encode_seconds": 0.0}
        self.fingerprint = None if isinstance(model, TextVectors) else model.fingerprint()

    def __call__(self, texts: Sequence[str], role: str) -> np.ndarray:
        texts = list(texts)
        if isinstance(self.model, TextVectors):
            return self.model.vectors(texts, role)
        encode = self.model.encode_queries if role == "query" else self.model.encode_documents
        meta = {"name": self.model.name, "class": type(self.model).__name__}
        started = time.perf_counter()
        with progress.task(f"{self.model.name}: {len(texts):,} texts", len(texts)) as advance:
            vectors, stats = self.cache.encode(self.fingerprint, role, texts, encode, on_progress=advance, meta=meta)
        for key in ("texts", "cached", "encoded", "encode_seconds"):
            self.stats[key] += stats[key]
        self.stats.setdefault("wall_seconds", 0.0)
        self.stats["wall_seconds"] += time.perf_counter() - started
        return vectors

    def folder(self) -> str | None:
        return None if self.fingerprint is None else str(self.cache.root / self.fingerprint)


__all__ = ["Embedding", "TextVectors", "can_embed", "load_for_task"]
