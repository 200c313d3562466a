"""Everything the report and the web app show, as one JSON document: the page reads nothing else.

The HTML report embeds this view (compressed) and the web app serves it from `api/view`, so both draw
the same sections from the same data. Its parts:

- meta, metrics, main_metric, glossary, marks (mark name -> symbol), models (run order = colour order)
- scores: what judgments change (leaderboard, significance, wins/ties/losses, trade-off plots, the query
  list with per-query values); `scores_view` alone is what the app refreshes after each judgment
- static sections: speed/footprint/cost tables, recommendation, published references, cluster maps
- docs: each document's id, title and text stored once; hits and map points refer to it by index
- explorer (report only): per query and model the top-k as [doc index, score] pairs, and per query the
  marks of the documents shown, so the report needs no server

Numbers stay raw here (rounded only where more digits carry no information: scores, per-query values,
map coordinates); the page formats every number in one place.
"""

from __future__ import annotations

import html
import math
import shlex
from datetime import datetime, timezone
from pathlib import Path

from embedscope.report import html_sections as sections
from embedscope.webui.explorer import MARKS, Explorer

VIEW_VERSION = 1
MAP_SCALE = 1000  # cluster-map coordinates become integers 0..MAP_SCALE (same scale on both axes)


class DocTable:
    """Documents stored once, by index: id, title and text (cut to max_chars, as the explorer shows them)."""

    def __init__(self, explorer: Explorer, max_chars: int | None):
        self.explorer, self.max_chars = explorer, max_chars
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.titles: list[str] = []
        self.texts: list[str] = []
        self.missing: list[int] = []

    def add(self, did: str, fallback: str = "") -> int:
        found = self.index.get(did)
        if found is not None:
            return found
        doc = self.explorer.document(did, self.max_chars)
        self.index[did] = len(self.ids)
        self.ids.append(did)
        self.titles.append(doc["title"])
        self.texts.append(doc["text"] or fallback)
        if doc.get("missing") and not fallback:
            self.missing.append(self.index[did])
        return self.index[did]

    def to_json(self) -> dict:
        return {"ids": self.ids, "titles": self.titles, "texts": self.texts, "missing": self.missing}


def json_safe(value):
    """The view with every non-finite float (NaN from a degenerate statistic) as null: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def kept_queries(rows: list[dict], max_queries: int | None) -> list[dict]:
    """All queries, or the max_queries the models disagree on most (in dataset order)."""
    if max_queries is None or len(rows) <= max_queries:
        return rows
    keep = {r["id"] for r in sorted(rows, key=lambda r: -(r["spread"] or 0))[:max_queries]}
    return [r for r in rows if r["id"] in keep]


def scores_view(explorer: Explorer, *, k: int, rescored: dict | None = None, perf: dict | None = None,
                max_queries: int | None = None, judged: dict | None = None) -> dict:
    """The parts that judgments change: leaderboard, verdicts, plots and the query list with per-query values."""
    from embedscope.report.rescore import results_with

    results = explorer.results
    now = results_with(results, rescored) if rescored else results
    before = {m.name: m.metrics or {} for m in results.models} if rescored else None
    per_query = rescored["per_query"] if rescored else explorer.per_query
    judged = explorer.judgments.load() if judged is None else judged
    rows = kept_queries(explorer.query_list(judged=judged, k=k, per_query=per_query), max_queries)
    models = sections.model_rows(now, perf)
    ids, values = [r["id"] for r in rows], {}
    for m in explorer.models:  # per query and metric, rounded: the largest part of what the app sends per judgment
        by_query = per_query.get(m, {})
        found = [by_query.get(q) or {} for q in ids]
        values[m] = {metric: [None if (v := f.get(metric)) is None else round(float(v), 4) for f in found]
                     for metric in explorer.metrics}
    return json_safe({
        "judged": ({"count": rescored["judgments"], "queries": rescored["queries"]} if rescored else
                   {"count": 0, "queries": 0}),
        "your_judgments": sum(len(r) for r in judged.values()),
        "leaderboard": sections.leaderboard(now, perf, before),
        "significance": sections.significance(now, results.significance if rescored else None),
        "win_tie_loss": sections.win_tie_loss(now),
        "tradeoffs": sections.tradeoffs(now, perf, models, sections.read_latency(explorer.run_dir)),
        "queries": [{key: r[key] for key in ("id", "text", "spread", "relevant", "judged", "pool", "graded")}
                    for r in rows],
        "per_query": values,
    })


def explorer_view(explorer: Explorer, queries: list[dict], docs: DocTable, k: int, judged: dict) -> dict:
    """Per query: each model's top k as flat [doc index, score, ...] and the marks of every document shown."""
    hits = {m: [] for m in explorer.models}
    marks, missed = [], []
    for row in queries:
        qid = row["id"]
        qrels, mine = explorer.dataset.qrels.get(qid, {}), judged.get(qid, {})
        shown: dict[int, list] = {}
        for name in explorer.models:
            flat = []
            for did, score in explorer.runs[name].ranked(qid, k):
                i = docs.add(did)
                flat += [i, _round(score)]
                if i not in shown:
                    m = explorer.hit_marks(did, qrels, mine)
                    shown[i] = [i, m["grade"], m["judgment"], m["mark"]]
            hits[name].append(flat)
        marks.append([v for entry in shown.values() for v in entry])
        missed.append(sum(1 for did, g in qrels.items() if g > 0 and docs.index.get(did) not in shown))
    return {"k": k, "hits": hits, "marks": marks, "missed": missed}


def _scaled(points: list[dict]) -> tuple[list[int], list[int]]:
    """x and y as integers 0..MAP_SCALE, one scale for both axes so the map keeps its shape."""
    if not points:
        return [], []
    xs, ys = [float(p["x"]) for p in points], [float(p["y"]) for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    return ([round((x - min(xs)) / span * MAP_SCALE) for x in xs], [round((y - min(ys)) / span * MAP_SCALE) for y in ys])


def cluster_views(explorer: Explorer, docs: DocTable, queries: list[dict]) -> list[dict]:
    """The maps `embedscope cluster --run-dir` left in clusters/, with per-cluster quality, as points by index."""
    position = {r["id"]: i for i, r in enumerate(queries)}
    out = []
    for i, path in enumerate(sorted((explorer.run_dir / "clusters").glob("*.json"))):
        if path.name.endswith("_report.json"):
            continue
        data = sections.read_json(path)
        if not data or not isinstance(data.get("documents"), list):
            continue
        report = sections.read_json(path.with_name(f"{path.stem}_report.json")) or {}
        points = data["documents"] + list(data.get("queries") or [])
        xs, ys = _scaled(points)
        n = len(data["documents"])
        metric = next((key[: -len("_by_cluster")] for key in report if key.endswith("_by_cluster")), None)
        sizes = report.get("sizes") or {}
        by_cluster = [{"cluster": int(c), "mean": sections.finite(v.get("mean")), "queries": v.get("queries"),
                       "size": sizes.get(str(c), sizes.get(c))}
                      for c, v in (report.get(f"{metric}_by_cluster") or {}).items() if isinstance(v, dict)]
        query_points = data.get("queries") or []
        out.append({
            "id": f"clusters-{i}", "title": report.get("title") or path.stem, "model": report.get("model"),
            "method": report.get("method"), "clusters": report.get("clusters"),
            "silhouette": sections.finite(report.get("silhouette")), "noise": report.get("noise"),
            "metric": metric, "metric_mean": sections.finite(report.get(metric)) if metric else None,
            "by_cluster": by_cluster,
            "docs": {"d": [docs.add(str(p["id"]), html.unescape(str(p.get("text", "")))) for p in data["documents"]],
                     "x": xs[:n], "y": ys[:n], "c": [int(p.get("cluster", -1)) for p in data["documents"]]},
            "queries": {"id": [str(p["id"]) for p in query_points], "x": xs[n:], "y": ys[n:],
                        "c": [int(p.get("cluster", -1)) for p in query_points],
                        "q": [position.get(str(p["id"]), -1) for p in query_points],
                        "text": [explorer.dataset.queries.get(str(p["id"])) or html.unescape(str(p.get("text", "")))
                                 for p in query_points]},
        })
    return out


def build_view(explorer: Explorer, *, k: int = 10, max_chars: int | None = 600, max_queries: int | None = None,
               hits: bool = True, rescored: dict | None = None, mode: str = "report") -> dict:
    """The whole page's data. hits=False leaves out the explorer's top-k (the app asks per query instead)."""
    results = explorer.results
    perf = sections.read_perf(explorer.run_dir)
    judged = explorer.judgments.load()
    docs = DocTable(explorer, max_chars)
    scores = scores_view(explorer, k=k, rescored=rescored, perf=perf, max_queries=max_queries, judged=judged)
    settings = results.settings
    view = {
        "version": VIEW_VERSION,
        "mode": mode,
        "title": f"embedscope report: {results.dataset.name or explorer.run_dir.name}",
        "meta": {"dataset": results.dataset.model_dump(), "k": settings.k, "depth": settings.depth,
                 "index": settings.index, "similarity": settings.similarity, "created": results.created,
                 "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "run_dir": str(explorer.run_dir)},
        "k": k,
        "metrics": explorer.metrics,
        "main_metric": explorer.main_metric,
        "models": explorer.models,
        "glossary": {**sections.GLOSSARY, **{m: sections.glossary_for(m) for m in explorer.metrics}},
        "marks": MARKS,
        "grades": explorer.grades(),  # the judging scale, highest first (0-2, or 0-3 for data graded 0-3)
        "warnings": sections.warnings(results) + ([explorer.dataset_problem] if explorer.dataset_problem else []),
        "references": sections.references(results),
        "perf_tables": sections.perf_tables(perf),
        "recommendation": sections.recommendation(results, perf),
        "regenerate": regenerate_command(explorer.run_dir),
        **scores,
    }
    view["explorer"] = explorer_view(explorer, scores["queries"], docs, k, judged) if hits else None
    view["clusters"] = cluster_views(explorer, docs, scores["queries"])
    view["docs"] = docs.to_json()
    return json_safe(view)


def regenerate_command(run_dir: Path) -> str:
    """The one command that writes the report with the judgments of this run directory merged."""
    return f"embedscope report {shlex.quote(str(run_dir))} --with-judgments"
