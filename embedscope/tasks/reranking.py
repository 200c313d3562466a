"""Reranking: each query with its candidates and 0/1 labels; candidates ordered by cosine similarity to the query.

Two layouts: one row per (query, candidate, label), grouped by query_id when there is one, else by query text;
or MTEB's, one row per query with lists `positive` and `negative` (JSONL or Parquet).

As MTEB's RerankingEvaluator: queries are embedded as queries, candidates as documents; per query, AP is
scikit-learn's average_precision_score over the cosines and MRR@10 the reciprocal rank of the first relevant
candidate within the top 10; MAP and MRR@10 are their means. A query without a relevant candidate, or without an
irrelevant one, has no ranking to judge: MTEB skips it, and so does this, counting it in a note.

Unit for the statistics: queries (both metrics are means over queries: paired randomization test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import average_precision_score

from embedscope.data.errors import DataError
from embedscope.tasks.base import Embed, Outcome, TaskData, TaskSource, normalize
from embedscope.tasks.tables import (binary_value, dataset_name, read_task_table, resolve_columns, split_table,
                                     text_value)

MRR_AT = 10


@dataclass
class RerankData(TaskData):
    queries: list[str] = field(default_factory=list)
    candidates: list[list[str]] = field(default_factory=list)
    relevant: list[np.ndarray] = field(default_factory=list)


def _text_list(table, row, column: str, role: str) -> list[str]:
    value = row.values.get(column)
    if value is None:
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise DataError(table.path, f"{role} must be a list of texts", row.line)
    out = [str(v) for v in value]
    if any(not v.strip() for v in out):
        raise DataError(table.path, f"empty text in {role}", row.line)
    return out


class RerankingTask:
    name = "reranking"
    metrics = ("map", f"mrr@{MRR_AT}")
    unit = "queries (bootstrap resamples of queries)"
    roles = {"query": ["query", "question"], "candidate": ["candidate", "text", "document", "passage", "doc"],
             "label": ["label", "relevant", "score", "relevance"]}

    def load(self, source: TaskSource) -> TaskData:
        path = split_table(source.data, source.split)
        table = read_task_table(path, header=source.header, expected=list(self.roles.values()))
        groups: dict[str, tuple[str, list[str], list[int], str]] = {}
        if {"positive", "negative"} <= set(table.columns):  # MTEB's layout
            query_col = resolve_columns(table, {"query": self.roles["query"]}, _only(source.columns, "query"))["query"]
            for row in table.rows:
                query = text_value(table, row, query_col, "query")
                pos = _text_list(table, row, "positive", "positive")
                neg = _text_list(table, row, "negative", "negative")
                groups[str(row.line)] = (query, pos + neg, [1] * len(pos) + [0] * len(neg), str(row.line))
        else:
            roles = dict(self.roles)
            if "query_id" in (source.columns or {}) or "query_id" in table.columns or "qid" in table.columns:
                roles["query_id"] = ["query_id", "qid"]
            cols = resolve_columns(table, roles, source.columns)
            for row in table.rows:
                query = text_value(table, row, cols["query"], "query")
                key = str(row.values.get(cols["query_id"])) if "query_id" in cols else query
                candidate = text_value(table, row, cols["candidate"], "candidate (a pair with an empty side)")
                label = binary_value(table, row, cols["label"], "label")
                group = groups.setdefault(key, (query, [], [], str(row.line)))
                if group[0] != query:
                    raise DataError(path, f"query id '{key}' has two different query texts", row.line)
                group[1].append(candidate)
                group[2].append(label)
        queries, candidates, relevant, units = [], [], [], []
        skipped = 0
        for query, cands, labels, unit in groups.values():
            labels = np.asarray(labels, dtype=int)
            if not labels.any() or labels.all():
                skipped += 1
                continue
            queries.append(query)
            candidates.append(cands)
            relevant.append(labels)
            units.append(unit)
        notes = []
        if skipped:
            notes.append(f"{skipped} of {len(groups)} queries have no relevant or no irrelevant candidate: "
                         "nothing to rank, left out (as MTEB does)")
        if source.max_rows and source.max_rows < len(queries):
            notes.append(f"first {source.max_rows} of {len(queries)} queries evaluated (--max-rows)")
            queries, candidates, relevant, units = (x[: source.max_rows] for x in (queries, candidates, relevant, units))
        if not queries:
            raise DataError(path, "no query has both a relevant and an irrelevant candidate")
        return RerankData(name=source.name or dataset_name(path, source.split), units=units,
                          files={"data": str(path.resolve())}, notes=notes,
                          counts={"queries": len(queries), "candidates": sum(map(len, candidates)),
                                  "queries_left_out": skipped},
                          queries=queries, candidates=candidates, relevant=relevant)

    def score(self, data: RerankData, embed: Embed) -> Outcome:
        q = normalize(embed(data.queries, "query"))
        flat = [c for cands in data.candidates for c in cands]
        d = normalize(embed(flat, "document"))
        ap, mrr, rows, start = [], [], [], 0
        for i, (labels, unit) in enumerate(zip(data.relevant, data.units)):
            sims = d[start : start + len(labels)] @ q[i]
            start += len(labels)
            ap.append(float(average_precision_score(labels, sims)))
            top = np.argsort(-sims, kind="stable")[:MRR_AT]
            hits = np.flatnonzero(labels[top])
            mrr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
            rows.append({"unit": unit, "query": data.queries[i], "candidates": len(labels), "ap": ap[-1],
                         f"mrr@{MRR_AT}": mrr[-1]})
        per_unit = {"map": np.asarray(ap), f"mrr@{MRR_AT}": np.asarray(mrr)}

        def metrics(idx: np.ndarray) -> dict[str, float]:
            return {name: float(values[idx].mean()) for name, values in per_unit.items()}

        return Outcome(scores=metrics(np.arange(len(ap))), resample=metrics, per_unit=per_unit, rows=rows)


def _only(columns: dict[str, str] | None, *roles: str) -> dict[str, str]:
    return {k: v for k, v in (columns or {}).items() if k in roles}
