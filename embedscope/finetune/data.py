"""Training data in the `{"query", "pos", "neg"}` JSONL format of FlagEmbedding and sentence-transformers.

One object per line: `query` a string, `pos` a non-empty list of strings, `neg` a list of strings (may be
empty or absent before mining). Other fields (pos_scores, prompt, type...) are kept and written back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.data.errors import DataError
from embedscope.data.readers import iter_jsonl


@dataclass
class TrainingExample:
    query: str
    pos: list[str]
    neg: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"query": self.query, "pos": self.pos, "neg": self.neg, **self.extra}


def _text_list(obj: dict, key: str, path: Path, line: int, *, required: bool) -> list[str]:
    if key not in obj:
        if required:
            raise DataError(path, f"missing field '{key}' (a list of strings)", line)
        return []
    value = obj[key]
    if isinstance(value, str):
        raise DataError(path, f"field '{key}' must be a list of strings, got a single string (wrap it in [...])", line)
    if not isinstance(value, list):
        raise DataError(path, f"field '{key}' must be a list of strings, got {type(value).__name__}", line)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DataError(path, f"field '{key}' item {i} must be a string, got {type(item).__name__}", line)
        if not item.strip():
            raise DataError(path, f"field '{key}' item {i} is empty", line)
    if required and not value:
        raise DataError(path, f"field '{key}' is empty: every query needs at least one positive", line)
    return value


def read_training_jsonl(path: str | Path) -> list[TrainingExample]:
    path = Path(path)
    examples = []
    for line, obj in iter_jsonl(path):
        query = obj.get("query")
        if "query" not in obj:
            raise DataError(path, "missing field 'query'", line)
        if not isinstance(query, str):
            raise DataError(path, f"field 'query' must be a string, got {type(query).__name__}", line)
        if not query.strip():
            raise DataError(path, "field 'query' is empty", line)
        pos = _text_list(obj, "pos", path, line, required=True)
        neg = _text_list(obj, "neg", path, line, required=False)
        extra = {k: v for k, v in obj.items() if k not in ("query", "pos", "neg")}
        examples.append(TrainingExample(query, pos, neg, extra))
    if not examples:
        raise DataError(path, "no training examples")
    return examples


def write_training_jsonl(examples: list[TrainingExample], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
    return path


def examples_from_beir(dataset, min_grade: int = 1) -> list[TrainingExample]:
    """One example per judged query, its documents graded >= min_grade as positives (no negatives yet).

    Document ids ride along in `pos_ids` so mining can tell positives apart from look-alike texts."""
    examples = []
    for qid, rels in dataset.qrels.items():
        pos_ids = [d for d, g in rels.items() if g >= min_grade and d in dataset.corpus]
        if not pos_ids or qid not in dataset.queries:
            continue
        pos = [dataset.corpus[d].full_text for d in pos_ids]
        examples.append(TrainingExample(dataset.queries[qid], pos, [], {"query_id": qid, "pos_ids": pos_ids}))
    if not examples:
        raise ValueError(f"dataset {dataset.name} has no query with a document graded >= {min_grade} to train on")
    return examples
