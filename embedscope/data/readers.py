"""Line-exact readers and the checks every loader shares: each record keeps its line number so an error can point
at it, and every id, text and grade is checked the same way whatever the format."""

from __future__ import annotations

import errno
import gzip
import io
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embedscope.data.errors import DataError

# Grades are small integers in every public collection (BEIR 0-2, TREC -2..4); far larger ones are a mistake and
# would overflow nDCG's gains.
MAX_GRADE = 1000


@dataclass(frozen=True)
class Where:
    """Where a record is: a line (text formats) or a row (Parquet), 1-based."""

    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}" if self.line is not None else f"row {self.row}"

    def error(self, path: Path, message: str) -> DataError:
        return DataError(path, message, self.line, row=self.row)


def check_readable(path: Path) -> None:
    """A clear error for what `exists()` hides: a missing file, a symbolic link loop, a dangling link."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataError(path, "symbolic link loop (the link points back to itself)") from None
        if path.is_symlink():
            raise DataError(path, f"broken symbolic link (to {os.readlink(path)})") from None
        if e.errno == errno.ENOENT:
            raise DataError(path, "file not found") from None
        raise DataError(path, f"cannot read ({e.strerror})") from None


def open_text(path: Path) -> io.TextIOBase:
    check_readable(path)
    # utf-8-sig: a byte-order mark that some editors put at the start is not part of the first id.
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


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


def tag_fields(fields: dict, skip=()) -> dict[str, str]:
    """A corpus row's other scalar fields (lang, source, ...) as text, leaving out `skip`: the document's tags,
    what `--filter FIELD=VALUE` matches."""
    return {k: str(v) for k, v in fields.items() if k not in skip and isinstance(v, (str, int, float, bool))}


def is_blank(text: str) -> bool:
    """No visible character: whitespace, control and format characters only (zero-width spaces and joiners, BOMs)."""
    return all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in text)


def _check_unicode(text: str, what: str, path: Path, line: int | None, row: int | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise DataError(path, f"{what} contains a lone surrogate (U+{ord(bad):04X}), which is not valid Unicode "
                              "(a broken \\u escape?)", line, row=row) from None


_NOT_IN_IDS = re.compile(r"[\s\ufeff]")  # \s is what str.isspace() accepts, the split TREC readers make
_CONTROL_NAMES = {"\t": "tab", "\n": "line break", "\r": "carriage return", "\x0b": "vertical tab",
                  "\x0c": "form feed", "\ufeff": "byte-order mark (U+FEFF)"}


def check_id(value, what: str, path: Path, line: int | None = None, *, row: int | None = None) -> str:
    """An id as a string: text or a whole number (ids like 007 stay text), non-empty, and writable to a TREC run
    file, whose readers split lines on whitespace."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = "missing" if value is None else f"a {type(value).__name__}, not text or a whole number"
        raise DataError(path, f"{what} is {kind}", line, row=row)
    text = str(value)
    if not text or is_blank(text):
        raise DataError(path, f"{what} is empty", line, row=row)
    _check_unicode(text, what, path, line, row)
    bad = _NOT_IN_IDS.search(text)
    if bad:
        c = bad.group()
        name = _CONTROL_NAMES.get(c) or unicodedata.name(c, f"U+{ord(c):04X}").lower()
        raise DataError(path, f"{what} {text!r} contains a {name}: TREC run files cannot carry it (their "
                              "readers split on whitespace); rename the id", line, row=row)
    return text


def check_text(value, what: str, path: Path, line: int | None = None, *, row: int | None = None,
               allow_empty: bool = False) -> str:
    """A text field: a string (a missing value is empty), valid Unicode, and not blank unless allowed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DataError(path, f"{what} must be text, got {_kind(value)}", line, row=row)
    _check_unicode(value, what, path, line, row)
    if not allow_empty and is_blank(value):
        raise DataError(path, f"{what} is empty" + (" (only invisible characters)" if value else ""), line, row=row)
    return value


def _kind(value) -> str:
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    return f"a {type(value).__name__}"


def require_str(obj: dict, key: str, path: Path, line: int, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise DataError(path, f"missing field '{key}'", line)
    if key.endswith("id"):
        return check_id(obj[key], f"field '{key}'", path, line)
    return check_text(obj[key], f"field '{key}'", path, line, allow_empty=allow_empty)


def read_qrels_tsv(path: Path) -> list[tuple[Where, str, str, int]]:
    """Rows (where, query_id, doc_id, grade) from a BEIR/TREC qrels file.

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
        rows.append((Where(line=number), check_id(qid, "query id", path, number),
                     check_id(did, "document id", path, number), parse_grade(score, path, number)))
    return rows


def parse_grade(score, path: Path, line: int | None = None, *, row: int | None = None) -> int:
    """A relevance grade: a whole number (written 1 or 1.0) from -MAX_GRADE to MAX_GRADE; anything else names
    the line."""
    if isinstance(score, bool):
        raise DataError(path, f"score {score} is a boolean, not a grade", line, row=row)
    if isinstance(score, int):
        grade = score
    else:
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise DataError(path, f"score '{score}' is not a number", line, row=row) from None
        if not math.isfinite(value) or value != int(value):
            raise DataError(path, f"score '{score}' is not an integer grade", line, row=row)
        grade = int(value)
    if abs(grade) > MAX_GRADE:
        raise DataError(path, f"score '{score}' is out of range: grades are whole numbers from -{MAX_GRADE} to "
                              f"{MAX_GRADE}", line, row=row)
    return grade
