"""The two small Protocols every model implements."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from embedscope.data import Dataset
    from embedscope.runs import Run
    from embedscope.runs.context import RetrievalContext


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. Queries and documents are separate calls because many models prompt them differently."""

    name: str

    @property
    def dim(self) -> int: ...

    def fingerprint(self) -> str:
        """Changes whenever the vectors would: weights, prompts, max length, normalization."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Retriever(Protocol):
    """Anything that turns a dataset into a ranked Run (BM25, dense search, hybrids, rerankers).

    The retrieval context (embedding cache, index, similarity, depth, chunking) is passed to every call; a
    pipeline hands the same context to its stages. A retriever that has no use for it (BM25) ignores it;
    without one, a retriever uses the context it was built with (or the defaults)."""

    name: str

    def retrieve(self, dataset: "Dataset", k: int, context: "RetrievalContext | None" = None) -> "Run": ...


@runtime_checkable
class VectorSource(Protocol):
    """Vectors that exist already (embedscope.models.precomputed): aligned to a dataset instead of encoded.
    Everything that works on vectors takes one wherever it takes an Embedder."""

    name: str

    @property
    def dim(self) -> int: ...

    def vectors(self, dataset: "Dataset") -> tuple[np.ndarray, np.ndarray, dict]: ...


def folder_fingerprint(path: str | Path, *settings: object) -> str:
    """A stable id for model weights on disk plus the settings that change their vectors.

    Hashes small files whole and the head and tail of large ones: a changed checkpoint changes the id,
    and a 1 GB weight file is not read in full on every run.
    """
    h = hashlib.blake2b(digest_size=16)
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if root.is_dir() else [root]
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(root) if root.is_dir() else p.name}:{size}".encode())
        with open(p, "rb") as f:
            if size <= 4 << 20:
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(size - (1 << 20))
                h.update(f.read())
    h.update(repr(settings).encode())
    return h.hexdigest()


def text_fingerprint(*settings: object) -> str:
    return hashlib.blake2b(repr(settings).encode(), digest_size=16).hexdigest()
