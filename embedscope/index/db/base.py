"""What every vector-database backend shares: the `VectorDB` Protocol, metadata filters, and the score
conversions that make "higher is better" hold for every similarity (like `ExactIndex`: cosine similarity,
inner product, negative squared L2 distance)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

# Which documents a search may return is a property of the data (the data layer's Filter); the backends apply it.
from embedscope.data.filter import _WORD, TEXT_FIELD, Filter  # noqa: F401
from embedscope.index.base import check_similarity, prepare as prepare_vectors


@runtime_checkable
class VectorDB(Protocol):
    """A `VectorIndex` kept in a database: rows carry an id and metadata, searches may filter, and the
    database says which index it really built. Positions are row numbers in insertion order."""

    name: str
    similarity: str

    def add(self, vectors: np.ndarray, ids: list[str] | None = None, metadata: list[dict] | None = None) -> None: ...

    def search(self, queries: np.ndarray, k: int, filter: Filter | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def describe(self) -> dict:
        """What the database reports about itself: at least `index_requested` and `index_used` (read back)."""
        ...

    def close(self) -> None: ...


class DatabaseRows:
    """What every backend's add() shares: vectors prepared for the similarity, metadata checked, its fields
    fixed by the first add (when the backend creates its collection, table or index), rows numbered in
    insertion order. A backend implements `_create(dim)` (called once), `_insert(vectors, metadata, first_row)`
    and, when it must build or wait for its index after inserting, `_after_insert()`."""

    similarity: str
    count: int = 0
    fields: list[str]
    created: bool = False

    def add(self, vectors: np.ndarray, ids: list[str] | None = None, metadata: list[dict] | None = None) -> None:
        vectors = prepare(vectors, self.similarity)
        metadata = check_metadata(metadata, len(vectors))
        if not self.created:
            self.fields = metadata_fields(metadata)
            self._create(vectors.shape[1])
            self.created = True
        self._insert(vectors, metadata, self.count)
        self.count += len(vectors)
        self._after_insert()

    def _create(self, dim: int) -> None:
        raise NotImplementedError

    def _insert(self, vectors: np.ndarray, metadata: list[dict], first_row: int) -> None:
        raise NotImplementedError

    def _after_insert(self) -> None:
        pass


def prepare(vectors: np.ndarray, similarity: str) -> np.ndarray:
    """Unit length for cosine so backends that only know L2/IP still rank by cosine (embedscope.index.prepare),
    after checking the array is a matrix: a database would store a wrong shape without a word."""
    if np.ndim(vectors) != 2:
        raise ValueError(f"vectors must be a 2-D array, got shape {np.shape(vectors)}")
    return prepare_vectors(vectors, similarity)


def search_text(text: str) -> str:
    """' w1 w2 ... ': the form the `text` field is stored in, padded so '% word %' matches first and last words."""
    return " " + " ".join(_WORD.findall(str(text).lower())) + " "


def check_metadata(metadata: list[dict] | None, n: int) -> list[dict]:
    """Rows of string fields, the `text` field in its `search_text` form."""
    if metadata is None:
        return [{} for _ in range(n)]
    if len(metadata) != n:
        raise ValueError(f"{len(metadata)} metadata rows for {n} vectors")
    return [{str(k): search_text(v) if k == TEXT_FIELD else ("" if v is None else str(v)) for k, v in row.items()}
            for row in metadata]


def metadata_fields(metadata: list[dict]) -> list[str]:
    """Field names in first-seen order; every row then gets every field ('' where absent)."""
    fields: dict[str, None] = {}
    for row in metadata:
        fields.update(dict.fromkeys(row))
    return list(fields)


def distance_to_score(distance: np.ndarray, similarity: str, kind: str) -> np.ndarray:
    """Turn what a database returns into our score (higher is better).

    kind says what the database returned: 'cosine_distance' (1 - cos), 'ip_distance' (1 - ip), 'neg_ip' (-ip),
    'l2' (Euclidean), 'l2sq' (squared Euclidean), or 'similarity' (already cos / ip).
    """
    d = np.asarray(distance, dtype=np.float64)
    if kind == "similarity":
        s = d
    elif kind in ("cosine_distance", "ip_distance"):
        s = 1.0 - d
    elif kind == "neg_ip":
        s = -d
    elif kind == "l2":
        s = -(d * d)
    elif kind == "l2sq":
        s = -d
    else:
        raise ValueError(f"unknown distance kind {kind}")
    return s.astype(np.float32)


def pack_results(rows: list[list[tuple[int, float]]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query [(position, score)] lists -> (scores, positions) arrays padded with -inf / -1, best first."""
    scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
    positions = np.full((len(rows), k), -1, dtype=np.int64)
    for i, hits in enumerate(rows):
        hits = sorted(hits, key=lambda h: -h[1])[:k]
        for j, (pos, score) in enumerate(hits):
            positions[i, j], scores[i, j] = pos, score
    return scores, positions


def like_word(word: str) -> str:
    """SQL LIKE pattern for one whole word in `search_text` form (words are letters and digits only)."""
    return f"% {word.lower()} %"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
