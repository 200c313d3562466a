"""One run directory seen query by query: per-query metrics and every model's top-k side by side.

Both the HTML report and the web app read through this, so a hit is marked the same way everywhere:
a human judgment (judgments/qrels.tsv, on the data's grade scale: 0-2, or 0-3 when its qrels grade up to 3)
wins, its scale's top grade = relevant; otherwise the dataset's qrels decide, with the top grade of the dataset =
relevant (✅), lower positive grades = partly relevant (⚪), a judged 0 = not relevant (❌) and a pair absent from
the qrels = unjudged (?).
"""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path

from embedscope.judgments import JudgmentStore, grade_labels, grade_scale, judgments_path
from embedscope.rundir import checked_file, read_dataset, read_results, read_runs
from embedscope.stats.per_query import relevance_label, top_grade

MARKS = {"relevant": "✅", "partly": "⚪", "not": "❌", "unjudged": "?"}


def read_per_query(run_dir: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """per_query.csv as values[model][qid][metric]; empty when the run had no qrels."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    if not (Path(run_dir) / "per_query.csv").exists():
        return values
    path = checked_file(run_dir, "per_query.csv")  # as the run wrote it, not cut short
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            model, qid = row.pop("model"), row.pop("query_id")
            values.setdefault(model, {})[qid] = {m: float(v) for m, v in row.items() if v not in (None, "")}
    return values


# The explorer's short mark names for embedscope.stats' relevance labels (one rule for every view).
_MARK_NAMES = {"relevant": "relevant", "partial": "partly", "not_relevant": "not", "unjudged": "unjudged"}


def shuffled(qid: str, doc_ids: list[str]) -> list[str]:
    """A fixed shuffle per query: the same order on every reload, unrelated to any model's ranking."""
    seed = int.from_bytes(hashlib.sha256(qid.encode("utf-8")).digest()[:8], "big")
    order = list(doc_ids)
    random.Random(seed).shuffle(order)
    return order


def mark_for(grade: int | None, top: int) -> str:
    return _MARK_NAMES[relevance_label(grade, top)]


class Explorer:
    """Queries, per-query metrics and side-by-side top-k of one run directory (dataset reloaded once)."""

    def __init__(self, run_dir: str | Path, dataset=None):
        self.run_dir = Path(run_dir)
        self.results = read_results(self.run_dir)  # embedscope.results.Results
        if self.results.task != "retrieval":
            raise ValueError(f"{self.run_dir} is a {self.results.task} run: its units are scored as a whole, with no "
                             f"queries and hits to browse or judge; `embedscope report {self.run_dir}` writes its report")
        self.runs = read_runs(self.run_dir, self.results)
        self.dataset_problem: str | None = None
        self.dataset = dataset if dataset is not None else self._reload_dataset()
        self.per_query = read_per_query(self.run_dir)
        self.metrics: list[str] = list(self.results.metrics)
        self.main_metric = self.results.main_metric
        self.models = [m.name for m in self.results.models if m.name in self.runs]
        self.top_grade = top_grade(self.dataset.qrels)
        self.max_grade = grade_scale(self.dataset.qrels)  # the judging scale: 0-2, or 0-3 for 0-3 data
        self.judgments = JudgmentStore(judgments_path(self.run_dir), self.max_grade)
        self._pools: dict[tuple[str, int], list[str]] = {}

    def grades(self) -> list[dict]:
        """The judging scale for the page, highest grade first: grade, label and mark."""
        return [{"grade": g, "label": label, "mark": mark_for(g, self.max_grade)}
                for g, label in grade_labels(self.max_grade).items()]

    def _reload_dataset(self):
        """The run's dataset; if it moved or is gone, ids and scores only (the problem is kept to show)."""
        from embedscope.config import ConfigError
        from embedscope.data import Dataset, DataError
        from embedscope.results import ResultsError

        try:
            return read_dataset(self.run_dir, self.results)
        except (DataError, ConfigError, ResultsError, OSError, KeyError) as e:
            self.dataset_problem = f"dataset not reloaded ({e}): query and document texts and grades are missing"
            queries = {q: "" for run in self.runs.values() for q in run.scores}
            name = self.results.dataset.name or self.run_dir.name
            return Dataset(name=name, corpus={}, queries=queries, qrels={})

    def query_ids(self) -> list[str]:
        """The dataset's queries, in its order, then any query only the runs know."""
        ids = list(self.dataset.queries)
        seen = set(ids)
        for run in self.runs.values():
            ids += [q for q in run.scores if q not in seen and not seen.add(q)]
        return ids

    def pool(self, qid: str, k: int) -> list[str]:
        """Every model's top k for one query, merged (first seen first): the documents worth judging.
        Kept once made (the runs never change; every re-scoring lists every query's pool)."""
        found = self._pools.get((qid, k))
        if found is None:
            found = list(dict.fromkeys(did for name in self.models for did, _ in self.runs[name].ranked(qid, k)))
            self._pools[(qid, k)] = found
        return list(found)

    def query_list(self, judged: dict | None = None, k: int = 10, per_query: dict | None = None) -> list[dict]:
        """One row per query: its main-metric value per model, the spread, and how much of its pool is judged.

        pool = documents in any model's top k; graded = those with a grade (the dataset's or yours);
        judged = your judgments for the query. per_query overrides per_query.csv (rescored numbers).
        """
        judged = self.judgments.load() if judged is None else judged
        per_query = self.per_query if per_query is None else per_query
        rows = []
        for qid in self.query_ids():
            main = {m: per_query.get(m, {}).get(qid, {}).get(self.main_metric) for m in self.models}
            known = [v for v in main.values() if v is not None]
            qrels, mine = self.dataset.qrels.get(qid, {}), judged.get(qid, {})
            pool = self.pool(qid, k)
            rows.append({
                "id": qid,
                "text": self.dataset.queries.get(qid, ""),
                "metric": main,
                "spread": (max(known) - min(known)) if len(known) > 1 else None,
                "relevant": sum(1 for g in qrels.values() if g > 0),
                "judged": len(mine),
                "pool": len(pool),
                "graded": sum(1 for d in pool if d in qrels or d in mine),
            })
        return rows

    def side_by_side(self, qid: str, k: int = 10, max_chars: int | None = None, judged: dict | None = None,
                     per_query: dict | None = None) -> dict:
        """Every model's top-k for one query, each hit with its text, grade and mark."""
        self._check_query(qid)
        judged = (self.judgments.load() if judged is None else judged).get(qid, {})
        per_query = self.per_query if per_query is None else per_query
        qrels = self.dataset.qrels.get(qid, {})
        columns = []
        for name in self.models:
            hits = []
            for rank, (did, score) in enumerate(self.runs[name].ranked(qid, k), start=1):
                hits.append({"rank": rank, "doc_id": did, "score": score, **self.hit_marks(did, qrels, judged),
                             **self.document(did, max_chars)})
            columns.append({"model": name, "metrics": per_query.get(name, {}).get(qid, {}), "hits": hits})
        shown = {h["doc_id"] for c in columns for h in c["hits"]}
        missed = [did for did, g in qrels.items() if g > 0 and did not in shown]
        return {
            "id": qid, "text": self.dataset.queries.get(qid, ""), "k": k, "columns": columns,
            "relevant_not_shown": len(missed),
        }

    def pooled(self, qid: str, k: int = 10, max_chars: int | None = None, judged: dict | None = None,
               order=None) -> dict:
        """The blind judging list of one query: its pool without model names, ranks or scores.

        order(qid, doc_ids) -> doc_ids gives the order to judge in (active judging supplies one); pool
        documents it leaves out follow at the end. By default a shuffle seeded by the query id, so a
        reload shows the same list.
        """
        self._check_query(qid)
        judged = (self.judgments.load() if judged is None else judged).get(qid, {})
        pool = self.pool(qid, k)
        in_pool = set(pool)
        # the order's documents first (those in the pool), then any of the pool it left out
        ordered = [d for d in dict.fromkeys((order or shuffled)(qid, pool)) if d in in_pool]
        ordered += [d for d in shuffled(qid, pool) if d not in set(ordered)]
        docs = [{"doc_id": did, "judgment": judged.get(did), **self.document(did, max_chars),
                 "mark": "unjudged" if judged.get(did) is None else mark_for(judged[did], self.max_grade)}
                for did in ordered]
        return {"id": qid, "text": self.dataset.queries.get(qid, ""), "k": k, "docs": docs,
                "judged": sum(1 for d in docs if d["judgment"] is not None)}

    def document_view(self, did: str, k: int = 10, max_chars: int | None = None) -> dict:
        """One document and the queries it matters to: those whose top k has it (rank per model) or that grade it."""
        if did not in self.dataset.corpus and not any(did in s for r in self.runs.values() for s in r.scores.values()):
            raise KeyError(did)
        queries = []
        for qid in self.query_ids():
            ranks = {}
            for name in self.models:
                ranked = [d for d, _ in self.runs[name].ranked(qid, k)]
                if did in ranked:
                    ranks[name] = ranked.index(did) + 1
            grade = self.dataset.qrels.get(qid, {}).get(did)
            if ranks or grade is not None:
                queries.append({"id": qid, "text": self.dataset.queries.get(qid, ""), "ranks": ranks, "grade": grade})
        return {"doc_id": did, **self.document(did, max_chars), "k": k, "queries": queries}

    def _check_query(self, qid: str) -> None:
        if qid not in self.dataset.queries and not any(qid in r.scores for r in self.runs.values()):
            raise KeyError(qid)

    def hit_marks(self, did: str, qrels: dict, judged: dict) -> dict:
        grade, judgment = qrels.get(did), judged.get(did)
        mark = mark_for(judgment, self.max_grade) if judgment is not None else mark_for(grade, self.top_grade)
        return {"grade": grade, "judgment": judgment, "mark": mark, "symbol": MARKS[mark]}

    def document(self, did: str, max_chars: int | None) -> dict:
        doc = self.dataset.corpus.get(did)
        if doc is None:
            return {"title": "", "text": "", "missing": True}
        text = doc.text
        cut = max_chars is not None and len(text) > max_chars
        return {"title": doc.title, "text": text[:max_chars] + "…" if cut else text, "truncated": cut}
