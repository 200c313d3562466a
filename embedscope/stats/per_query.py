"""Per-query analysis: who wins where, which queries split the models, and what each model returned.

`side_by_side` returns plain data (for the console, the HTML report and the web UI alike): every model's
top-k for one query, each hit labelled against the qrels:

    relevant      ✅  the top grade of the dataset (1 with binary qrels, 2 on NFCorpus)
    partial       ⚪  a lower positive grade
    not_relevant  ❌  judged with grade 0 (or below)
    unjudged      ?   not in the qrels for this query
"""

from __future__ import annotations

import itertools

import numpy as np

MARKS = {"relevant": "✅", "partial": "⚪", "not_relevant": "❌", "unjudged": "?"}
# Differences this small are float noise, not a win.
TIE_TOLERANCE = 1e-9
SNIPPET_CHARS = 160


def top_grade(qrels: dict[str, dict[str, int]]) -> int:
    """The grade that counts as fully relevant: the highest grade anywhere in the qrels (at least 1)."""
    return max([g for rels in qrels.values() for g in rels.values()] + [1])


def relevance_label(grade: int | None, top: int) -> str:
    if grade is None:
        return "unjudged"
    if grade <= 0:
        return "not_relevant"
    return "relevant" if grade >= top else "partial"


def win_tie_loss(names: list[str], scores: np.ndarray) -> list[dict]:
    """For each pair (i < j), on how many queries a scores above, equal to, or below b. scores: n x models."""
    out = []
    for i, j in itertools.combinations(range(len(names)), 2):
        d = scores[:, i] - scores[:, j]
        out.append({"a": names[i], "b": names[j], "wins": int((d > TIE_TOLERANCE).sum()),
                    "ties": int((np.abs(d) <= TIE_TOLERANCE).sum()), "losses": int((d < -TIE_TOLERANCE).sum())})
    return out


def disagreements(names: list[str], query_ids: list[str], scores: np.ndarray, top: int = 10,
                  queries: dict[str, str] | None = None) -> list[dict]:
    """The `top` queries with the largest spread (best minus worst model) of the metric, largest first."""
    if scores.size == 0 or len(names) < 2:
        return []
    spread = scores.max(axis=1) - scores.min(axis=1)
    order = sorted(range(len(query_ids)), key=lambda q: (-spread[q], query_ids[q]))[:top]
    out = []
    for q in order:
        if spread[q] <= TIE_TOLERANCE:
            break
        row = scores[q]
        out.append({
            "query_id": query_ids[q],
            "query": (queries or {}).get(query_ids[q], ""),
            "spread": float(spread[q]),
            "scores": {name: float(v) for name, v in zip(names, row)},
            "best": names[int(np.argmax(row))],
            "worst": names[int(np.argmin(row))],
        })
    return out


def _snippet(text: str, chars: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def side_by_side(dataset, runs, query_id: str, k: int = 10, metric_values: dict[str, float] | None = None,
                 chars: int = SNIPPET_CHARS) -> dict:
    """Each model's top-k for one query, hits labelled relevant / partial / not_relevant / unjudged.

    runs: a list of Run or a {name: Run} mapping, in display order. metric_values: optional {model: score}
    shown with each model. Also lists the judged relevant docs that no model put in its top-k ("missed").
    `chars`: how much of each document's text is kept.
    """
    runs = dict(runs) if isinstance(runs, dict) else {r.name: r for r in runs}
    if query_id not in dataset.queries and query_id not in dataset.qrels:
        raise ValueError(f"query '{query_id}' is not in dataset {dataset.name}")
    rels = dataset.qrels.get(query_id, {})
    top = top_grade(dataset.qrels)
    found: set[str] = set()
    models = []
    for name, run in runs.items():
        hits = []
        for rank, (doc_id, score) in enumerate(run.ranked(query_id, k), start=1):
            grade = rels.get(doc_id)
            label = relevance_label(grade, top)
            doc = dataset.corpus.get(doc_id)
            hits.append({"rank": rank, "doc_id": doc_id, "score": float(score), "grade": grade, "label": label,
                         "mark": MARKS[label], "title": doc.title if doc else "",
                         "text": _snippet(doc.text, chars) if doc else ""})
            found.add(doc_id)
        entry = {"name": name, "hits": hits,
                 "relevant_found": sum(h["label"] in ("relevant", "partial") for h in hits)}
        if metric_values and name in metric_values:
            entry["metric_value"] = float(metric_values[name])
        models.append(entry)
    missed = [{"doc_id": d, "grade": g, "label": relevance_label(g, top), "mark": MARKS[relevance_label(g, top)],
               "title": dataset.corpus[d].title if d in dataset.corpus else "",
               "text": _snippet(dataset.corpus[d].text, chars) if d in dataset.corpus else ""}
              for d, g in sorted(rels.items(), key=lambda kv: (-kv[1], kv[0])) if g > 0 and d not in found]
    return {"query_id": query_id, "query": dataset.queries.get(query_id, ""), "k": k, "top_grade": top,
            "relevant_total": sum(g > 0 for g in rels.values()), "models": models, "missed": missed}


def marks_line(dataset, run, query_id: str, k: int = 10, top: int | None = None) -> str:
    """The top-k of one run for one query as a row of marks, e.g. '✅❌?⚪…' (compact, for Markdown).
    top: the dataset's top grade, when the caller has it (it reads every judgment)."""
    rels, top = dataset.qrels.get(query_id, {}), top_grade(dataset.qrels) if top is None else top
    return "".join(MARKS[relevance_label(rels.get(d), top)] for d, _ in run.ranked(query_id, k))
