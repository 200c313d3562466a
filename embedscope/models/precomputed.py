"""Vectors computed elsewhere: a Parquet or JSONL file with an id column and one vector column per model.

  precomputed:corpus.parquet?vector_column=emb_minilm&queries=queries.parquet
  precomputed:corpus.jsonl.gz?id_column=_id&vector_column=embedding&queries=q.jsonl

Vectors are matched to the dataset by id, never by row order. The files are checked before any search: every
row the same dimension, every value finite, no id twice, every corpus and query id present. Ids in the file that
the dataset lacks (a file for the full corpus, a subset being evaluated) are counted and reported, not fatal.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from embedscope.data import DataError
from embedscope.data.readers import iter_jsonl
from embedscope.models import register
from embedscope.models.base import folder_fingerprint

log = logging.getLogger(__name__)

EXAMPLES = 5  # ids shown in a message about missing or unknown ids


class VectorFile:
    """One file's (ids, vectors), validated: same dimension, finite, unique ids."""

    def __init__(self, path: str | Path, id_column: str, vector_column: str):
        self.path = Path(path)
        self.id_column = id_column
        self.vector_column = vector_column
        if not self.path.is_file():
            raise DataError(self.path, "file not found")
        name = self.path.name.lower()
        if name.endswith((".parquet", ".pq")):
            ids, rows = self._read_parquet()
        elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            ids, rows = self._read_jsonl()
        else:
            raise DataError(self.path, "precomputed vectors must be .parquet or .jsonl(.gz)")
        self.ids, self.vectors = self._validate(ids, rows)
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}

    # Parquet: rows are numbered from 1 in messages, like lines.
    def _read_parquet(self) -> tuple[list[str], list[tuple[int, object]]]:
        import pyarrow.parquet as pq

        schema = pq.read_schema(self.path)
        for column in (self.id_column, self.vector_column):
            if column not in schema.names:
                raise DataError(self.path, f"no column '{column}'; columns are: {', '.join(schema.names)}")
        table = pq.read_table(self.path, columns=[self.id_column, self.vector_column])
        ids = table.column(self.id_column).to_pylist()
        vectors = table.column(self.vector_column).to_pylist()
        return ids, list(enumerate(vectors, start=1))

    def _read_jsonl(self) -> tuple[list[str], list[tuple[int, object]]]:
        ids, rows = [], []
        for line, obj in iter_jsonl(self.path):
            for column in (self.id_column, self.vector_column):
                if column not in obj:
                    raise DataError(self.path, f"no field '{column}' (fields: {', '.join(obj)})", line)
            ids.append(obj[self.id_column])
            rows.append((line, obj[self.vector_column]))
        return ids, rows

    def _where(self, row: int) -> tuple[str, int | None]:
        # JSONL errors point at a line (path:line); Parquet ones name the row in the message
        return ("", row) if not self.path.name.lower().endswith((".parquet", ".pq")) else (f"row {row}: ", None)

    def _validate(self, ids: list, rows: list[tuple[int, object]]) -> tuple[list[str], np.ndarray]:
        if not rows:
            raise DataError(self.path, "no rows")
        seen: dict[str, int] = {}
        dim = None
        out = []
        for raw_id, (row, vector) in zip(ids, rows):
            prefix, line = self._where(row)
            if raw_id is None or str(raw_id) == "":
                raise DataError(self.path, f"{prefix}empty id in column '{self.id_column}'", line)
            doc_id = str(raw_id)
            if doc_id in seen:
                raise DataError(self.path, f"{prefix}duplicate id '{doc_id}' (first at row {seen[doc_id]})", line)
            seen[doc_id] = row
            if not isinstance(vector, (list, tuple, np.ndarray)) or not len(vector):
                raise DataError(self.path, f"{prefix}id '{doc_id}': '{self.vector_column}' is not a list of numbers",
                                line)
            try:
                values = np.asarray(vector, dtype=np.float64)
            except (TypeError, ValueError):
                raise DataError(self.path, f"{prefix}id '{doc_id}': '{self.vector_column}' holds non-numbers",
                                line) from None
            if values.ndim != 1:
                raise DataError(self.path, f"{prefix}id '{doc_id}': vector is nested, expected a flat list", line)
            if dim is None:
                dim = values.shape[0]
            elif values.shape[0] != dim:
                raise DataError(self.path, f"{prefix}id '{doc_id}': {values.shape[0]} dimensions, "
                                           f"but the first row has {dim}", line)
            if not np.isfinite(values).all():
                bad = int(np.flatnonzero(~np.isfinite(values))[0])
                raise DataError(self.path, f"{prefix}id '{doc_id}': non-finite value {values[bad]} at position {bad}",
                                line)
            out.append(values)
        return list(seen), np.asarray(out, dtype=np.float32)

    def aligned(self, wanted: list[str], what: str) -> tuple[np.ndarray, list[str]]:
        """Vectors in the order of `wanted` ids, and the file's ids the dataset does not have."""
        missing = [i for i in wanted if i not in self.position]
        if missing:
            raise DataError(self.path, f"{len(missing)} of {len(wanted)} {what} ids have no vector, "
                                       f"e.g. {', '.join(map(repr, missing[:EXAMPLES]))}")
        wanted_set = set(wanted)
        unknown = [i for i in self.ids if i not in wanted_set]
        return self.vectors[[self.position[i] for i in wanted]], unknown


class PrecomputedVectors:
    """Vectors from files, aligned to the dataset by id: an embedder whose vectors already exist. Wherever
    vectors are used (run with any index, cluster, cluster-filter, sweeps, db-bench, pipelines) it stands in
    for a model; `vectors(dataset)` takes the place of encoding.

    Searched with the run's --index and --similarity, unless the spec sets its own (`index=`, `similarity=`;
    `metric=` is the old name of `similarity=`): those then apply to this model alone, and the run records them.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        queries: str | Path | None = None,
        id_column: str = "_id",
        vector_column: str = "embedding",
        query_id_column: str | None = None,
        query_vector_column: str | None = None,
        name: str | None = None,
        index: str | None = None,
        similarity: str | None = None,
        metric: str | None = None,
    ):
        if not queries:
            raise ValueError(f"precomputed:{path} needs query vectors too: add queries=PATH "
                             "(same columns, or query_id_column= / query_vector_column=)")
        self.path = str(path)
        self.documents = VectorFile(path, id_column, vector_column)
        self.queries = VectorFile(queries, query_id_column or id_column, query_vector_column or vector_column)
        if self.queries.vectors.shape[1] != self.documents.vectors.shape[1]:
            raise DataError(queries, f"query vectors have {self.queries.vectors.shape[1]} dimensions, "
                                     f"document vectors in {path} have {self.documents.vectors.shape[1]}")
        self.name = name or f"{Path(path).name.split('.')[0]}:{vector_column}"
        self.warnings: list[str] = []
        # Search settings of this model's own, over the run's (embedscope.runs.dense reads them).
        self.search_settings = {key: value for key, value in (("index", index), ("similarity", similarity or metric))
                                if value is not None}

    @property
    def dim(self) -> int:
        return int(self.documents.vectors.shape[1])

    def fingerprint(self) -> str:
        return folder_fingerprint(self.documents.path, self.documents.vector_column, str(self.queries.path),
                                  self.queries.vector_column)

    def vectors(self, dataset) -> tuple[np.ndarray, np.ndarray, dict]:
        """(document vectors, query vectors, stats) in the dataset's order; ids the dataset lacks are left out
        and reported once."""
        docs, unknown_docs = self.documents.aligned(dataset.doc_ids, "corpus")
        queries, unknown_queries = self.queries.aligned(dataset.query_ids, "query")
        for file, unknown, what in ((self.documents, unknown_docs, "corpus"), (self.queries, unknown_queries, "query")):
            if unknown:
                message = (f"{file.path}: {len(unknown)} ids are not in the {what} of {dataset.name} and were left "
                           f"out, e.g. {', '.join(map(repr, unknown[:EXAMPLES]))}")
                if message not in self.warnings:
                    log.warning(message)
                    self.warnings.append(message)
        stats = {"vectors": {"documents": str(self.documents.path), "queries": str(self.queries.path),
                                 "vector_column": self.documents.vector_column,
                                 "unknown_ids": {"corpus": len(unknown_docs), "queries": len(unknown_queries)}},
                 "fingerprint": self.fingerprint()}
        return docs, queries, stats


@register("precomputed")
def _precomputed(target: str | None = None, **options):
    if not target:
        raise ValueError("precomputed needs a file, e.g. precomputed:vectors.parquet?vector_column=emb&queries=q.parquet")
    return PrecomputedVectors(target, **options)


def write_vectors(path: str | Path, ids: list[str], vectors: np.ndarray, column: str, id_column: str = "_id") -> None:
    """Write vectors to a Parquet file as the column `column`, keyed by id; a file that exists keeps its other
    columns (one column per model, as `precomputed:` reads them) and must hold the same ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    column_data = pa.array([row.tolist() for row in np.asarray(vectors, dtype=np.float32)], type=pa.list_(pa.float32()))
    if path.exists():
        table = pq.read_table(path)
        if id_column not in table.column_names:
            raise DataError(path, f"no column '{id_column}' to add vectors to")
        have = [str(i) for i in table.column(id_column).to_pylist()]
        if sorted(have) != sorted(ids):
            raise DataError(path, f"holds other ids ({len(have):,}) than the vectors to add ({len(ids):,}): "
                                  "write the new model's vectors to another file")
        order = {doc_id: i for i, doc_id in enumerate(ids)}
        column_data = column_data.take(pa.array([order[i] for i in have]))
        if column in table.column_names:
            table = table.drop_columns([column])
        table = table.append_column(column, column_data)
    else:
        table = pa.table({id_column: list(ids), column: column_data})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
