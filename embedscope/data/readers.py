"""Line-exact readers: every record keeps its line number so errors can point at it."""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

from embedscope.data.errors import DataError


def open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise DataError(path, "file not found")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line_number, line) with decoding and read failures turned into DataError naming the line."""
    number = 0
    with open_text(path) as f:
        try:
            for number, line in enumerate(f, start=1):
                yield number, line
        except UnicodeDecodeError as e:
            raise DataError(path, f"not valid UTF-8 ({e.reason})", number + 1) from None
        except (OSError, EOFError) as e:  # truncated or corrupt gzip
            raise DataError(path, f"cannot read file ({e})", number + 1) from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object); blank lines hold no record and are skipped."""
    for number, line in iter_lines(path):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise DataError(path, f"malformed JSON ({e.msg} at column {e.colno})", number) from None
        except RecursionError:
            raise DataError(path, "JSON nested too deeply", number) from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", number)
        yield number, obj


def require_str(obj: dict, key: str, path: Path, line: int, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise DataError(path, f"missing field '{key}'", line)
    value = obj[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith("id"):
        value = str(value)  # numeric ids are common in the wild; they are still ids
    if not isinstance(value, str):
        raise DataError(path, f"field '{key}' must be a string, got {type(value).__name__}", line)
    if not allow_empty and not value.strip():
        raise DataError(path, f"field '{key}' is empty", line)
    return value


def read_qrels_tsv(path: Path) -> list[tuple[int, str, str, int]]:
    """Rows (line, query_id, doc_id, grade) from a BEIR/TREC qrels file.

    Accepts BEIR's `query-id corpus-id score` with a header and TREC's `qid 0 docid grade`, LF or CRLF.
    """
    rows = []
    for number, raw in iter_lines(path):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if number == 1 and parts[-1].strip().lower() in {"score", "relevance", "grade", "label"}:
            continue
        if len(parts) == 4:  # TREC: qid iteration docid grade
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise DataError(path, f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(parts)}", number)
        qid, did, score = (p.strip() for p in parts)
        if not qid or not did:
            raise DataError(path, "empty query or document id", number)
        rows.append((number, qid, did, parse_grade(score, path, number)))
    return rows


def parse_grade(score, path: Path, line: int) -> int:
    """A relevance grade: an integer, written as 1 or 1.0; anything else names the line."""
    try:
        grade = float(score)
    except (TypeError, ValueError):
        raise DataError(path, f"score '{score}' is not a number", line) from None
    if not math.isfinite(grade) or grade != int(grade):
        raise DataError(path, f"score '{score}' is not an integer grade", line)
    return int(grade)
