"""Corpus, queries and qrels from JSONL, CSV/TSV or Parquet tables with any column names.

Every value is type-checked where it is read, and an error names the file and the record: the line where a CSV
record starts (quoted fields may hold newlines), the JSONL line, or the Parquet row, all counted from 1.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.readers import (
    Where,
    check_id,
    check_readable,
    check_text,
    is_blank,
    iter_jsonl,
    open_text,
    parse_grade,
    tag_fields,
)

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Table:
    path: Path
    columns: list[str]
    records: Iterator[tuple[Where, dict]]
    kinds: dict | None = None  # Parquet: the column types

    def require(self, name: str, role: str) -> None:
        if name not in self.columns:
            raise DataError(self.path, f"{role} column '{name}' not found; columns are {self.columns}")


def _format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    fmt = FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise DataError(path, f"unknown table format; use one of {sorted(FORMATS)}")
    return fmt


def read_table(path: str | Path) -> Table:
    path = Path(path)
    check_readable(path)
    fmt = _format(path)
    if fmt == "jsonl":
        return _jsonl_table(path)
    if fmt in ("csv", "tsv"):
        return _csv_table(path, "," if fmt == "csv" else "\t")
    return _parquet_table(path)


def _jsonl_table(path: Path) -> Table:
    records = list(iter_jsonl(path))
    columns: list[str] = []
    for _, obj in records:
        columns.extend(k for k in obj if k not in columns)
    return Table(path, columns, ((Where(line=n), obj) for n, obj in records))


def _csv_table(path: Path, delimiter: str) -> Table:
    f = open_text(path)
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as e:
        f.close()
        raise DataError(path, f"cannot parse the header ({e})", 1) from None
    if header is None:
        f.close()
        raise DataError(path, "empty file (no header)")

    def records() -> Iterator[tuple[Where, dict]]:
        with f:
            start = reader.line_num + 1  # a record starts on the line after the previous one ended
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as e:
                    raise DataError(path, f"cannot parse ({e})", start) from None
                if fields and not (len(fields) == 1 and not fields[0].strip()):  # blank lines hold no record
                    if len(fields) != len(header):
                        raise DataError(path, f"expected {len(header)} fields ({', '.join(header)}), got "
                                              f"{len(fields)}", start)
                    yield Where(line=start), dict(zip(header, fields))
                start = reader.line_num + 1

    return Table(path, header, records())


def _parquet_table(path: Path) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(path, f"cannot read Parquet ({e})") from None
    columns = table.column_names
    data = {name: table.column(name).to_pylist() for name in columns}

    def records() -> Iterator[tuple[Where, dict]]:
        for i in range(table.num_rows):
            yield Where(row=i + 1), {name: data[name][i] for name in columns}

    return Table(path, columns, records(), kinds=dict(zip(columns, table.schema.types)))


def _parquet_column_check(table: Table, name: str, role: str) -> None:
    """A Parquet column's type, checked once for the whole column before any row: a list, struct or binary column
    would otherwise be embedded as its Python repr."""
    import pyarrow as pa

    kind = (table.kinds or {}).get(name)
    if kind is None:
        return
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    text_like = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
    ok = {
        "id": text_like or pa.types.is_integer(kind),
        "text": text_like,
        "grade": pa.types.is_integer(kind) or pa.types.is_floating(kind) or text_like,
    }[role]
    if not ok:
        raise DataError(table.path, f"column '{name}' has type {kind}; a {role} column must hold "
                                    + {"id": "strings or integers", "text": "strings",
                                       "grade": "integers"}[role])


def _ids(table: Table, id_col: str, fields: dict[str, str], kind: str):
    """(where, id, {field: value}) per record, ids checked and unique."""
    table.require(id_col, "id")
    _parquet_column_check(table, id_col, "id")
    for column, role in fields.items():
        table.require(column, role)
        _parquet_column_check(table, column, "text")
    seen: dict[str, Where] = {}
    for where, record in table.records:
        rid = check_id(record.get(id_col), f"{kind} id", table.path, where.line, row=where.row)
        if rid in seen:
            raise where.error(table.path, f"duplicate {kind} id '{rid}' (first at {seen[rid]})")
        seen[rid] = where
        yield where, rid, record


def read_corpus_table(path, id_col="_id", text_col="text", title_col: str | None = "title") -> dict[str, Document]:
    table = read_table(path)
    title_col = title_col if title_col and title_col in table.columns else None
    fields = {text_col: "text", **({title_col: "title"} if title_col else {})}
    corpus = {}
    for where, did, record in _ids(table, id_col, fields, "document"):
        text = check_text(record.get(text_col), f"text of document '{did}'", table.path, where.line, row=where.row,
                          allow_empty=True)
        title = check_text(record.get(title_col), f"title of document '{did}'", table.path, where.line,
                           row=where.row, allow_empty=True) if title_col else ""
        if is_blank(title) and is_blank(text):
            raise where.error(table.path, f"document '{did}' has empty text")
        corpus[did] = Document(did, text, title, tags=tag_fields(record, skip=(id_col, text_col, title_col)))
    if not corpus:
        raise DataError(table.path, "no documents")
    return corpus


def read_queries_table(path, id_col="_id", text_col="text") -> dict[str, str]:
    table = read_table(path)
    queries = {}
    for where, qid, record in _ids(table, id_col, {text_col: "text"}, "query"):
        text = check_text(record.get(text_col), f"text of query '{qid}'", table.path, where.line, row=where.row,
                          allow_empty=True)
        if is_blank(text):
            raise where.error(table.path, f"query '{qid}' has empty text")
        queries[qid] = text
    if not queries:
        raise DataError(table.path, "no queries")
    return queries


def read_qrels_table(path, query_col="query-id", doc_col="corpus-id", score_col="score"):
    """Rows (line, qid, docid, grade) in the same shape as the TSV reader gives (line None for Parquet rows,
    whose errors name the row)."""
    table = read_table(path)
    for column, role, check in ((query_col, "query id", "id"), (doc_col, "doc id", "id"), (score_col, "score", "grade")):
        table.require(column, role)
        _parquet_column_check(table, column, check)
    rows = []
    for where, record in table.records:
        qid = check_id(record.get(query_col), "query id", table.path, where.line, row=where.row)
        did = check_id(record.get(doc_col), "document id", table.path, where.line, row=where.row)
        grade = parse_grade(record.get(score_col), table.path, where.line, row=where.row)
        rows.append((where, qid, did, grade))
    return rows


def load_tables(
    corpus: str | Path,
    queries: str | Path,
    qrels: str | Path | None = None,
    *,
    columns: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """A dataset from separate table files. `columns` maps roles to column names, e.g.
    {"doc_id": "id", "doc_text": "body", "doc_title": "headline", "query_id": "qid", "query_text": "question"}."""
    from embedscope.data.beir import build_qrels
    from embedscope.data.readers import read_qrels_tsv

    c = {"doc_id": "_id", "doc_text": "text", "doc_title": "title", "query_id": "_id", "query_text": "text",
         "qrels_query": "query-id", "qrels_doc": "corpus-id", "qrels_score": "score"}
    unknown = set(columns or {}) - set(c)
    if unknown:
        raise DataError(str(corpus), f"unknown column roles {sorted(unknown)}; known: {sorted(c)}")
    c.update(columns or {})
    docs = read_corpus_table(corpus, c["doc_id"], c["doc_text"], c["doc_title"])
    qs = read_queries_table(queries, c["query_id"], c["query_text"])
    judged: dict[str, dict[str, int]] = {}
    if qrels is not None:
        qpath = Path(qrels)
        if qpath.suffix in (".tsv", ".txt") or qpath.name.endswith(".tsv.gz"):
            rows = read_qrels_tsv(qpath)
        else:
            rows = read_qrels_table(qpath, c["qrels_query"], c["qrels_doc"], c["qrels_score"])
        judged = build_qrels(qpath, rows, qs, docs)
        qs = {q: t for q, t in qs.items() if q in judged}
    return Dataset(name=name or Path(corpus).parent.name or "dataset", corpus=docs, queries=qs, qrels=judged)
