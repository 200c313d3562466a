"""Labelled tables for tasks beyond retrieval: CSV/TSV/JSONL/Parquet rows with their line numbers, columns by role.

Every row keeps the line it starts on (CSV fields may hold newlines, so this is not the row index plus one), and
every error names `file:line`. Each task names its roles (e.g. text1, text2, score) and the column names it
tries for each; `--column ROLE=NAME` overrides them. A CSV/TSV without a header row (STS-B's files) is read by
position in role order, with a note saying so.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from embedscope.data.errors import DataError
from embedscope.data.readers import iter_jsonl, open_text

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet", ".pq": "parquet"}
SPLIT_NAMES = {"test": ("test",), "dev": ("dev", "validation", "valid", "val"), "validation": ("validation", "dev"),
               "train": ("train",)}


def table_format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    fmt = FORMATS.get(suffixes[-1].lower() if suffixes else "")
    if fmt is None:
        raise DataError(path, f"unknown table format; use one of {sorted(FORMATS)}")
    return fmt


@dataclass
class Row:
    line: int  # the line the row starts on (Parquet: the row number, from 1)
    values: dict


@dataclass
class Table:
    path: Path
    rows: list[Row]
    columns: list[str]
    header: bool  # False: a header-less CSV, columns are positions "1", "2", ...


def _read_delimited(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    records = []
    with open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        start = 1
        try:
            for fields in reader:
                if fields and any(x.strip() for x in fields):
                    records.append((start, fields))
                start = reader.line_num + 1
        except csv.Error as e:
            raise DataError(path, f"cannot parse CSV ({e})", start) from None
        except UnicodeDecodeError as e:
            raise DataError(path, f"not valid UTF-8 ({e.reason})", start) from None
    return records


def read_task_table(path: str | Path, *, header: bool | None = None, expected: list[list[str]] | None = None) -> Table:
    """Rows of a table. For CSV/TSV, `header=None` decides: the first row is a header if it names any expected
    column (`expected`: per role, the names tried), else, if it has as many fields as there are roles, the file
    has no header and columns are numbered "1", "2", ... in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "not a file")
    fmt = table_format(path)
    if fmt == "jsonl":
        rows = [Row(line, obj) for line, obj in iter_jsonl(path)]
        columns = list(dict.fromkeys(k for r in rows for k in r.values))
        return _nonempty(Table(path, rows, columns, True))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            records = pq.read_table(path).to_pylist()
        except Exception as e:
            raise DataError(path, f"cannot parse parquet ({e})") from None
        rows = [Row(i, r) for i, r in enumerate(records, start=1)]
        return _nonempty(Table(path, rows, list(records[0]) if records else [], True))
    records = _read_delimited(path, "," if fmt == "csv" else "\t")
    if not records:
        raise DataError(path, "no rows")
    first = [x.strip() for x in records[0][1]]
    if header is None:
        names = {n for candidates in (expected or []) for n in candidates}
        header = bool(names & set(first)) or not (expected and len(first) == len(expected))
    if header:
        columns, body = first, records[1:]
    else:
        columns, body = [str(i) for i in range(1, len(first) + 1)], records
    rows = []
    for line, fields in body:
        if len(fields) != len(columns):
            raise DataError(path, f"expected {len(columns)} fields, got {len(fields)}", line)
        rows.append(Row(line, dict(zip(columns, fields))))
    return _nonempty(Table(path, rows, columns, header))


def _nonempty(table: Table) -> Table:
    if not table.rows:
        raise DataError(table.path, "no rows")
    return table


def resolve_columns(table: Table, roles: dict[str, list[str]], columns: dict[str, str] | None) -> dict[str, str]:
    """Role -> column name: the user's mapping, else the first candidate present, else (header-less) the position."""
    columns = dict(columns or {})
    unknown = set(columns) - set(roles)
    if unknown:
        raise DataError(table.path, f"unknown column roles {sorted(unknown)} for this task; known: {sorted(roles)}")
    out = {}
    for position, (role, candidates) in enumerate(roles.items(), start=1):
        if role in columns:
            name = columns[role]
            if name not in table.columns:
                raise DataError(table.path, f"{role} column '{name}' not found; columns are {table.columns}")
        elif not table.header:
            name = str(position)
        else:
            name = next((c for c in candidates if c in table.columns), None)
            if name is None:
                raise DataError(table.path, f"no {role} column (tried {candidates}); columns are {table.columns}; "
                                            f"map one with --column {role}=NAME")
        out[role] = name
    return out


def text_value(table: Table, row: Row, column: str, role: str) -> str:
    value = row.values.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise DataError(table.path, f"missing {role}", row.line)
    if not isinstance(value, str):
        value = str(value)
    if not value.strip():
        raise DataError(table.path, f"empty {role}", row.line)
    return value


def label_value(table: Table, row: Row, column: str, role: str = "label") -> str:
    """A class label as a string (1, 1.0 and "1" are one label); missing or empty names the line."""
    value = row.values.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        raise DataError(table.path, f"missing {role}", row.line)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def number_value(table: Table, row: Row, column: str, role: str = "score") -> float:
    value = row.values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(table.path, f"missing {role}", row.line)
    if isinstance(value, bool):
        raise DataError(table.path, f"{role} '{value}' is not a number", row.line)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(table.path, f"{role} '{value}' is not a number", row.line) from None
    if not math.isfinite(number):
        raise DataError(table.path, f"{role} '{value}' is not a finite number", row.line)
    return number


BINARY = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1, "no": 0, "yes": 1}


def binary_value(table: Table, row: Row, column: str, role: str = "label") -> int:
    value = row.values.get(column)
    if value is None or str(value).strip() == "":
        raise DataError(table.path, f"missing {role}", row.line)
    key = str(value).strip().lower()
    if key not in BINARY:
        raise DataError(table.path, f"{role} '{value}' is not 0/1 (also accepted: true/false, yes/no)", row.line)
    return BINARY[key]


def find_split(folder: Path, split: str) -> Path | None:
    """The table for `split` in a folder: a file whose name (before its extensions) is or ends in the split's name,
    e.g. test.csv, stsb-en-test.csv, dev.jsonl for "dev" or "validation"."""
    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        try:
            table_format(path)
        except DataError:
            continue
        stem = path.name.split(".")[0].lower()
        for name in SPLIT_NAMES.get(split, (split,)):
            if stem == name or stem.endswith(("-" + name, "_" + name, "." + name)):
                found.append(path)
                break
    if len(found) > 1:
        raise DataError(folder, f"several tables for split '{split}': {[p.name for p in found]}; name one file")
    return found[0] if found else None


def data_path(data: str | Path) -> Path:
    """A path, or the folder of a named dataset (`banking77`, `stsb_multi_mt/zh`: see `embedscope datasets add`)."""
    from embedscope.data.named import is_name, resolve

    return resolve(str(data)) if is_name(str(data)) else Path(data)


def split_table(data: str | Path, split: str) -> Path:
    """`data` itself when it is a file, else the folder's (or named dataset's) table for `split`."""
    path = data_path(data)
    if path.is_file():
        return path
    if not path.exists():
        raise DataError(path, "not found")
    table = find_split(path, split)
    if table is None:
        raise DataError(path, f"no table for split '{split}' (looked for {split}.csv/.jsonl/.parquet, *-{split}.csv, ...)")
    return table


def dataset_name(path: Path, split: str) -> str:
    """banking77/test.csv -> banking77; stsb-en-test.csv -> stsb-en; questions.jsonl -> questions."""
    stem = path.name.split(".")[0]
    for name in SPLIT_NAMES.get(split, (split,)):
        if stem.lower() == name:
            return path.resolve().parent.name
        for sep in "-_.":
            if stem.lower().endswith(sep + name):
                return stem[: -len(name) - 1]
    return stem


__all__ = ["dataset_name", "Row", "Table", "binary_value", "find_split", "label_value", "number_value", "read_task_table",
           "resolve_columns", "split_table", "text_value"]
