from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np

from embedscope.errors import EmbedscopeError


def ranking(scores: dict[str, float]) -> list[tuple[str, float]]:
    """Docs best first. Ties go to the larger doc id, as trec_eval orders them, so our metrics match it."""
    # Two stable sorts with C-level keys: by doc id descending, then by score descending (ties keep that order).
    ranked = sorted(scores.items(), key=itemgetter(0), reverse=True)
    ranked.sort(key=itemgetter(1), reverse=True)
    return ranked


@dataclass
class Run:
    """One system's ranked results: `scores[qid][docid] = score`. The one type every stage passes on."""

    name: str
    scores: dict[str, dict[str, float]]
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_topk(cls, name: str, query_ids, doc_ids, top_scores: np.ndarray, top_idx: np.ndarray, meta=None) -> "Run":
        doc_ids = np.asarray(doc_ids, dtype=object)
        scores = {}
        for qid, s, i in zip(query_ids, top_scores, top_idx):
            keep = i >= 0  # -1 marks "fewer than k results" (ANN indexes, filtered search)
            scores[qid] = dict(zip(doc_ids[i[keep]].tolist(), s[keep].astype(float).tolist()))
        return cls(name, scores, dict(meta or {}))

    def ranked(self, qid: str, k: int | None = None) -> list[tuple[str, float]]:
        ranked = ranking(self.scores.get(qid, {}))
        return ranked if k is None else ranked[:k]

    def cut(self, k: int) -> "Run":
        return Run(self.name, {q: dict(self.ranked(q, k)) for q in self.scores}, dict(self.meta))

    def __len__(self) -> int:
        return len(self.scores)

    def to_trec(self, path: str | Path, tag: str | None = None) -> None:
        """Write the TREC run format `qid Q0 docid rank score tag`, which `from_trec` reads back exactly. Ids
        it cannot carry (empty, or with any whitespace: columns are split on it) and scores that are not finite
        are refused before the file is opened, so no half-written file is left."""
        tag = "_".join((tag or self.name).split()) or "run"
        documents: set[str] = set()
        for qid, hits in self.scores.items():
            trec_id(qid, "query", path)
            documents.update(hits)  # each distinct id checked once: a run repeats the same documents across queries
            if not all(map(math.isfinite, hits.values())):
                did, score = next((d, s) for d, s in hits.items() if not math.isfinite(s))
                raise TrecError(f"cannot write {path}: query '{qid}', document '{did}' has score {score}; "
                                f"a run file holds finite scores only")
        for did in documents:
            trec_id(did, "document", path)
        with open(path, "w", encoding="utf-8") as f:
            for qid in self.scores:  # one write per query: a run holds hundreds of thousands of lines
                f.write("".join([f"{qid} Q0 {did} {rank} {score:.8f} {tag}\n"
                                 for rank, (did, score) in enumerate(self.ranked(qid), start=1)]))

    @classmethod
    def from_trec(cls, path: str | Path, name: str | None = None) -> "Run":
        from embedscope.data.errors import DataError
        from embedscope.data.readers import iter_lines

        scores: dict[str, dict[str, float]] = {}
        for number, line in iter_lines(Path(path)):
            if number == 1:
                line = line.removeprefix("\ufeff")
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise DataError(path, f"expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}", number)
            try:
                score = float(parts[4])
            except ValueError:
                raise DataError(path, f"score '{parts[4]}' is not a number", number) from None
            if not math.isfinite(score):
                raise DataError(path, f"score '{parts[4]}' is not finite", number)
            hits = scores.setdefault(parts[0], {})
            if parts[2] in hits:
                raise DataError(path, f"document '{parts[2]}' appears twice for query '{parts[0]}'", number)
            hits[parts[2]] = score
        return cls(name or Path(path).stem, scores)


class TrecError(EmbedscopeError, ValueError):
    """A run that the TREC format cannot carry."""


def trec_id(value: str, role: str, path: str | Path) -> str:
    """`value` if it fits a TREC run column: not empty, no whitespace of any kind (the reader splits on it), no
    byte-order mark (readers drop one at the start of a file, so a first query id could lose it)."""
    if not value or value.split() != [value] or "\ufeff" in value:
        raise TrecError(f"cannot write {path}: {role} id {value!r} is empty or contains whitespace (or a "
                        f"byte-order mark), which the TREC run format cannot carry; give it an id without spaces, tabs "
                        f"or line breaks")
    return value
