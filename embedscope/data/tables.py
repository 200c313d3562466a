"""Corpus, queries and qrels from JSONL, CSV or Parquet tables with any column names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.readers import iter_jsonl, parse_grade

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    fmt = FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise DataError(path, f"unknown table format; use one of {sorted(FORMATS)}")
    return fmt


def read_table(path: str | Path) -> tuple[pd.DataFrame, int]:
    """A table as strings, and the offset that turns a row index into the file's line number (0 for Parquet)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    fmt = _format(path)
    try:
        if fmt == "jsonl":
            rows = [obj for _, obj in iter_jsonl(path)]
            return pd.DataFrame(rows), 1
        if fmt in ("csv", "tsv"):
            # dtype=str keeps ids like "007" intact; keep_default_na=False keeps empty cells as "" to be reported
            df = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
            return df, 2
        return pd.read_parquet(path), 0
    except DataError:
        raise
    except Exception as e:  # pandas/pyarrow parse errors carry their own detail
        raise DataError(path, f"cannot parse {fmt} ({e})") from None


def _column(df: pd.DataFrame, name: str, path: Path, role: str) -> pd.Series:
    if name not in df.columns:
        raise DataError(path, f"{role} column '{name}' not found; columns are {list(df.columns)}")
    return df[name]


def _where(offset: int, i: int) -> int:
    return i + offset if offset else i


def _ids_and_texts(path: Path, df: pd.DataFrame, offset: int, id_col: str, text_col: str, kind: str):
    import pandas as pd

    ids = _column(df, id_col, path, "id")
    texts = _column(df, text_col, path, "text")
    seen: dict[str, int] = {}
    for i, (rid, text) in enumerate(zip(ids, texts)):
        where = _where(offset, i)
        if rid is None or (isinstance(rid, float) and pd.isna(rid)) or str(rid).strip() == "":
            raise DataError(path, f"empty {kind} id", where)
        rid = str(rid)
        if rid in seen:
            raise DataError(path, f"duplicate {kind} id '{rid}' (first at {seen[rid]})", where)
        seen[rid] = where
        yield where, rid, text


def read_corpus_table(path, id_col="_id", text_col="text", title_col: str | None = "title") -> dict[str, Document]:
    import pandas as pd

    path = Path(path)
    df, offset = read_table(path)
    titles = df[title_col] if title_col and title_col in df.columns else None
    corpus = {}
    for i, (where, did, text) in enumerate(_ids_and_texts(path, df, offset, id_col, text_col, "document")):
        title = "" if titles is None or pd.isna(titles.iloc[i]) else str(titles.iloc[i])
        text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
        if not (title.strip() or text.strip()):
            raise DataError(path, f"document '{did}' has empty text", where)
        corpus[did] = Document(did, text, title)
    if not corpus:
        raise DataError(path, "no documents")
    return corpus


def read_queries_table(path, id_col="_id", text_col="text") -> dict[str, str]:
    import pandas as pd

    path = Path(path)
    df, offset = read_table(path)
    queries = {}
    for where, qid, text in _ids_and_texts(path, df, offset, id_col, text_col, "query"):
        if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
            raise DataError(path, f"query '{qid}' has empty text", where)
        queries[qid] = str(text)
    if not queries:
        raise DataError(path, "no queries")
    return queries


def read_qrels_table(path, query_col="query-id", doc_col="corpus-id", score_col="score"):
    """Rows (line, qid, docid, grade) in the same shape as the TSV reader gives."""
    path = Path(path)
    df, offset = read_table(path)
    q, d, s = (_column(df, c, path, r) for c, r in ((query_col, "query id"), (doc_col, "doc id"), (score_col, "score")))
    rows = []
    for i, (qid, did, score) in enumerate(zip(q, d, s)):
        where = _where(offset, i)
        grade = parse_grade(score, path, where)
        if not str(qid).strip() or not str(did).strip():
            raise DataError(path, "empty query or document id", where)
        rows.append((where, str(qid), str(did), grade))
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
