from __future__ import annotations

from pathlib import Path

from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.readers import iter_jsonl, read_qrels_tsv, require_str


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(folder / f"{stem}.jsonl", "file not found (also looked for .jsonl.gz)")


def read_corpus_jsonl(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    first_line: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        did = require_str(obj, "_id", path, line)
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise DataError(path, "field 'title' must be a string", line)
        text = require_str(obj, "text", path, line, allow_empty=True)
        if not (title.strip() or text.strip()):
            raise DataError(path, f"document '{did}' has empty title and text", line)
        if did in corpus:
            raise DataError(path, f"duplicate document id '{did}' (first on line {first_line[did]})", line)
        first_line[did] = line
        corpus[did] = Document(did, text, title)
    if not corpus:
        raise DataError(path, "no documents")
    return corpus


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
    qrels: dict[str, dict[str, int]] = {}
    for line, qid, did, grade in rows:
        if qid not in queries:
            raise DataError(path, f"query id '{qid}' is not in the queries file", line)
        if did not in corpus:
            raise DataError(path, f"document id '{did}' is not in the corpus", line)
        if did in qrels.get(qid, {}) and qrels[qid][did] != grade:
            raise DataError(path, f"conflicting grades for ({qid}, {did})", line)
        qrels.setdefault(qid, {})[did] = grade
    return qrels


def load_beir(folder: str | Path, split: str = "test", name: str | None = None) -> Dataset:
    """Load a BEIR folder. Only queries judged in `split` are kept, as BEIR and MTEB evaluate them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "dataset folder not found")
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
