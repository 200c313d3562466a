"""Human relevance judgments saved as graded qrels (BEIR TSV), the format every `embedscope run` reads.

Grades follow the data's scale: 0-2 (2 = relevant, 1 = partly relevant, 0 = not relevant) for binary and
BEIR-style qrels, 0-3 (3 = highly relevant, TREC's four levels) when the data's own qrels grade up to 3
(`grade_scale`).
The file is rewritten whole on every change through a temp file, fsync and os.replace (then the folder
is fsynced), so a crash or a kill at any moment leaves either the old file or the new one, never half.
A lock file serialises writers, so two browser tabs or two `embedscope serve` processes cannot lose
each other's judgments.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

GRADES = {2: "relevant", 1: "partly relevant", 0: "not relevant"}  # the default scale, 0-2
DEFAULT_MAX_GRADE = 2
MAX_GRADE = 3  # TREC's four levels: the finest scale a judgment can use


def grade_scale(qrels: dict[str, dict[str, int]]) -> int:
    """The highest grade a judge gives on this data: 3 when its own qrels grade up to 3 (or more), else 2 (binary
    and 0-2 data alike: a 2 then marks what is clearly relevant apart from what is partly so)."""
    top = max((g for rels in qrels.values() for g in rels.values()), default=0)
    return MAX_GRADE if top >= MAX_GRADE else DEFAULT_MAX_GRADE


def grade_labels(max_grade: int = DEFAULT_MAX_GRADE) -> dict[int, str]:
    """Grade -> label on a 0..max_grade scale, highest first."""
    if max_grade == MAX_GRADE:
        return {3: "highly relevant", 2: "relevant", 1: "partly relevant", 0: "not relevant"}
    return dict(GRADES)
HEADER = "query-id\tcorpus-id\tscore\n"
JUDGMENTS_FILE = Path("judgments") / "qrels.tsv"


def judgments_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / JUDGMENTS_FILE


def read_judgments(path: str | Path) -> dict[str, dict[str, int]]:
    """qrels[qid][docid] = grade from a judgments file; an absent file means no judgments yet."""
    from embedscope.data.readers import read_qrels_tsv

    path = Path(path)
    if not path.exists():
        return {}
    qrels: dict[str, dict[str, int]] = {}
    for _line, qid, did, grade in read_qrels_tsv(path):
        qrels.setdefault(qid, {})[did] = grade  # later lines win: the file is a set, not a log
    return qrels


def format_qrels(qrels: dict[str, dict[str, int]]) -> str:
    lines = [HEADER]
    for qid in qrels:
        for did, grade in qrels[qid].items():
            lines.append(f"{qid}\t{did}\t{grade}\n")
    return "".join(lines)


def write_durably(path: Path, text: str) -> None:
    """All or nothing, on disk (embedscope.files.write_file), and recorded in the run directory's list of files."""
    from embedscope.files import write_file

    write_file(path, text)


def _check_id(value, what: str) -> str:
    if not isinstance(value, str) or not value or value != value.strip() or any(c in value for c in "\t\r\n"):
        raise ValueError(f"invalid {what} {value!r}: ids are non-empty strings without tabs, newlines or edge spaces")
    return value


class JudgmentStore:
    """The judgments of one run directory (`judgments/qrels.tsv`), safe to share between threads and processes.
    A grade is 0..max_grade (the data's scale, `grade_scale`)."""

    def __init__(self, path: str | Path, max_grade: int = DEFAULT_MAX_GRADE):
        if max_grade not in (DEFAULT_MAX_GRADE, MAX_GRADE):
            raise ValueError(f"max_grade must be {DEFAULT_MAX_GRADE} or {MAX_GRADE}, got {max_grade!r}")
        self.path = Path(path)
        self.max_grade = max_grade
        self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")))

    def load(self) -> dict[str, dict[str, int]]:
        return read_judgments(self.path)

    def set(self, query_id: str, doc_id: str, grade: int | None) -> dict[str, dict[str, int]]:
        """Record (or, with grade None, withdraw) one judgment; returns all judgments after the change."""
        _check_id(query_id, "query id")
        _check_id(doc_id, "document id")
        if grade is not None and (isinstance(grade, bool) or not isinstance(grade, int) or
                                  not 0 <= grade <= self.max_grade):
            raise ValueError(f"grade must be 0 to {self.max_grade} on this data's scale (or null to clear), "
                             f"got {grade!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # re-read under the lock: another writer may have saved since we last looked
            qrels = self.load()
            if grade is None:
                qrels.get(query_id, {}).pop(doc_id, None)
                if query_id in qrels and not qrels[query_id]:
                    del qrels[query_id]
            else:
                qrels.setdefault(query_id, {})[doc_id] = int(grade)
            write_durably(self.path, format_qrels(qrels))
        return qrels


def merge_qrels(base: dict[str, dict[str, int]], extra: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Dataset qrels with extra judgments on top: a judgment of a pair already graded replaces its grade."""
    merged = {q: dict(rels) for q, rels in base.items()}
    for qid, rels in extra.items():
        merged.setdefault(qid, {}).update(rels)
    return merged
