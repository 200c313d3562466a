from __future__ import annotations

import logging
from pathlib import Path

from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.readers import (check_readable, check_text, is_blank, iter_jsonl, read_qrels_tsv, require_str,
                                     tag_fields)

log = logging.getLogger(__name__)


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).exists() or (folder / name).is_symlink():
            check_readable(folder / name)
            return folder / name
    raise DataError(folder / f"{stem}.jsonl", "file not found (also looked for .jsonl.gz)")


def read_corpus_jsonl(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    first_line: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        did = require_str(obj, "_id", path, line)
        title = check_text(obj.get("title"), "field 'title'", path, line, allow_empty=True)
        text = require_str(obj, "text", path, line, allow_empty=True)
        if is_blank(title) and is_blank(text):
            raise DataError(path, f"document '{did}' has empty title and text", line)
        if did in corpus:
            raise DataError(path, f"duplicate document id '{did}' (first on line {first_line[did]})", line)
        first_line[did] = line
        corpus[did] = Document(did, text, title, tags=_tags(obj))
    if not corpus:
        raise DataError(path, "no documents")
    return corpus


def _tags(obj: dict) -> dict[str, str]:
    """A row's other scalar fields, and those of its BEIR `metadata` mapping, as text: the fields filters match."""
    fields = {k: v for k, v in obj.items() if k not in ("_id", "title", "text", "metadata")}
    if isinstance(obj.get("metadata"), dict):
        fields.update(obj["metadata"])
    return tag_fields(fields)


def read_queries_jsonl(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        qid = require_str(obj, "_id", path, line)
        text = require_str(obj, "text", path, line)
        if qid in queries:
            raise DataError(path, f"duplicate query id '{qid}' (first on line {first_line[qid]})", line)
        first_line[qid] = line
        queries[qid] = text
    if not queries:
        raise DataError(path, "no queries")
    return queries


def build_qrels(path: Path, rows, queries: dict, corpus: dict) -> dict[str, dict[str, int]]:
    """qrels[qid][docid] = grade from checked rows (where, qid, docid, grade); every id must be known."""
    if not rows:
        raise DataError(path, "no judgments (nothing after the header); remove the file to load the set unjudged")
    qrels: dict[str, dict[str, int]] = {}
    for where, qid, did, grade in rows:
        if qid not in queries:
            raise where.error(path, f"query id '{qid}' is not in the queries file")
        if did not in corpus:
            raise where.error(path, f"document id '{did}' is not in the corpus")
        if did in qrels.get(qid, {}) and qrels[qid][did] != grade:
            raise where.error(path, f"conflicting grades for ({qid}, {did})")
        qrels.setdefault(qid, {})[did] = grade
    unscorable = [q for q, rels in qrels.items() if not any(g > 0 for g in rels.values())]
    if len(unscorable) == len(qrels):
        raise DataError(path, "no relevant judgment: every grade is 0 or less, so no query can be scored")
    if unscorable:
        shown = ", ".join(unscorable[:5]) + (", ..." if len(unscorable) > 5 else "")
        log.warning("%s: %d judged quer%s with no relevant document (every grade 0 or less) not scored: %s",
                    path, len(unscorable), "y" if len(unscorable) == 1 else "ies", shown)
    return qrels


def load_beir(folder: str | Path, split: str = "test", name: str | None = None) -> Dataset:
    """Load a BEIR folder. Only queries judged in `split` are kept, as BEIR and MTEB evaluate them."""
    folder = Path(folder)
    if not folder.is_dir():
        if not folder.is_symlink() and not folder.exists():
            raise DataError(folder, "dataset folder not found")
        check_readable(folder)  # a link loop or a broken link says so
        raise DataError(folder, "not a dataset folder (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/)")
    corpus = read_corpus_jsonl(_find(folder, "corpus"))
    queries = read_queries_jsonl(_find(folder, "queries"))
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if qrels_path.exists():
        qrels = build_qrels(qrels_path, read_qrels_tsv(qrels_path), queries, corpus)
        queries = {q: t for q, t in queries.items() if q in qrels}
    elif (folder / "qrels").is_dir():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DataError(qrels_path, f"split '{split}' not found; available: {', '.join(have) or 'none'}")
    else:
        qrels = {}  # no judgments: evaluation without qrels (pooling / judging) still works
    return Dataset(name=name or folder.name, corpus=corpus, queries=queries, qrels=qrels)
