"""LanceDB (embedded, columnar on disk): `--index lancedb` (exhaustive scan) or `--index lancedb:IVF_HNSW_SQ`,
`lancedb:IVF_PQ`, `lancedb:IVF_FLAT`. Filters are SQL pre-filters (prefilter=True: filter first, then top-k)."""

from __future__ import annotations

import shutil
import tempfile
import weakref

import numpy as np

from embedscope.index.db.base import (
    TEXT_FIELD, DatabaseRows, Filter, check_similarity, distance_to_score, like_word, pack_results, prepare,
    sql_literal,
)
from embedscope.index.registry import register

_DISTANCE = {"cosine": "cosine", "dot": "dot", "l2": "l2"}
_RETURNS = {"cosine": "cosine_distance", "dot": "ip_distance", "l2": "l2sq"}  # what lance's _distance holds
_INDEXES = {"IVF_FLAT": "IvfFlat", "IVF_PQ": "IvfPq", "IVF_SQ": "IvfSq", "IVF_HNSW_SQ": "IvfHnswSq",
            "IVF_HNSW_FLAT": "IvfHnswFlat"}


class LanceDBIndex(DatabaseRows):
    def __init__(self, similarity: str = "cosine", index_type: str = "flat", path: str | None = None):
        try:
            import lancedb
        except ImportError as e:
            raise ValueError("--index lancedb needs LanceDB: pip install lancedb") from e
        self.similarity = check_similarity(similarity)
        self.index_type = index_type.upper() if index_type else "FLAT"
        if self.index_type != "FLAT" and self.index_type not in _INDEXES:
            raise ValueError(f"lancedb index type must be flat or one of {', '.join(_INDEXES)}, not '{index_type}'")
        self.name = f"lancedb-{self.index_type.lower()}-{similarity}"
        self._own_dir = path is None
        self.path = path or tempfile.mkdtemp(prefix="embedscope-lancedb-")
        if self._own_dir:  # removed on close(), or when the index is dropped without one (e.g. by `run`)
            weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        self.db = lancedb.connect(self.path)
        self.table = None
        self.count = 0
        self.fields: list[str] = []

    def _create(self, dim: int) -> None:
        pass  # the table is created with its first batch (LanceDB takes its schema from the data)

    def _insert(self, vectors, metadata, first_row: int) -> None:
        import pyarrow as pa

        columns = {"row": np.arange(first_row, first_row + len(vectors), dtype=np.int64),
                   "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])}
        for key in self.fields:
            columns[key] = pa.array([row.get(key, "") for row in metadata], type=pa.string())
        batch = pa.table(columns)
        if self.table is None:
            self.table = self.db.create_table("docs", batch)
        else:
            self.table.add(batch)

    def _after_insert(self) -> None:
        if self.index_type != "FLAT":
            import lancedb.index

            config = getattr(lancedb.index, _INDEXES[self.index_type])(distance_type=_DISTANCE[self.similarity])
            self.table.create_index("vector", config=config, replace=True)

    def _where(self, filter: Filter | None) -> str | None:
        if not filter:
            return None
        clauses = [f"{key} = {sql_literal(value)}" for key, value in filter.tags.items()]
        clauses += [f"{TEXT_FIELD} LIKE {sql_literal(like_word(word))}" for word in filter.words]
        return " AND ".join(clauses)

    def search(self, queries, k, filter: Filter | None = None):
        queries = prepare(queries, self.similarity)
        if self.table is None or self.count == 0:
            return pack_results([[] for _ in queries], k)
        query = (self.table.search(queries, vector_column_name="vector").distance_type(_DISTANCE[self.similarity])
                 .limit(k).select(["row", "_distance"]))
        where = self._where(filter)
        if where:
            query = query.where(where, prefilter=True)
        result = query.to_arrow()
        qi = result["query_index"].to_numpy() if "query_index" in result.column_names else np.zeros(len(result), int)
        rows = result["row"].to_numpy()
        scores = distance_to_score(result["_distance"].to_numpy(), self.similarity, _RETURNS[self.similarity])
        hits: list[list[tuple[int, float]]] = [[] for _ in queries]
        for q, r, s in zip(qi, rows, scores):
            hits[q].append((int(r), float(s)))
        return pack_results(hits, k)

    def describe(self) -> dict:
        indices = self.table.list_indices() if self.table is not None else []
        used = "FLAT (exhaustive scan)"
        for index in indices:
            if "vector" in index.columns:
                stats = self.table.index_stats(index.name)
                used = f"{stats.index_type} ({stats.distance_type}, {stats.num_indexed_rows} rows indexed)"
        return {"backend": "lancedb", "index_requested": self.index_type, "index_used": used, "rows": self.count}

    def close(self) -> None:
        self.table = self.db = None
        if self._own_dir:
            shutil.rmtree(self.path, ignore_errors=True)


@register("lancedb")
def build(spec, similarity: str) -> LanceDBIndex:
    return LanceDBIndex(similarity=similarity, index_type=spec.target or "flat")
