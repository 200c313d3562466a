"""The report of a task beyond retrieval (`embedscope run --task classification|sts|pairs|clustering|reranking`).

Same page, same view layout as a retrieval report (embedscope/report/view.py), with what such a run has: a
sortable leaderboard of the task's metrics with their confidence intervals, the texts per second and the models
that cannot do the task (and why), the paired verdicts over the task's unit, and the protocol. No per-query
explorer, judging or cluster map: a task's units are rows, pairs or queries scored as a whole.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from embedscope.report import html_sections as sections
from embedscope.results import Results

TASK_GLOSSARY = {
    "accuracy": "Accuracy of a logistic-regression probe on the frozen embeddings (MTEB's protocol).",
    "f1": "Macro-averaged F1 of the logistic-regression probe: every label counts the same.",
    "f1_weighted": "F1 of the logistic-regression probe, averaged with each label weighted by its test rows.",
    "knn_accuracy": "Accuracy of a k-nearest-neighbour probe (cosine) on the frozen embeddings.",
    "knn_f1": "Macro-averaged F1 of the k-nearest-neighbour probe.",
    "cosine_spearman": "Spearman rank correlation of cosine similarity with the gold scores (MTEB's STS metric).",
    "cosine_pearson": "Pearson correlation of cosine similarity with the gold scores.",
    "cosine_ap": "Average precision of the duplicate pairs when ranked by cosine similarity (MTEB's metric).",
    "cosine_f1": "F1 at the best cosine threshold.",
    "cosine_accuracy": "Accuracy at the best cosine threshold.",
    "cosine_precision": "Precision at the threshold of best F1.",
    "cosine_recall": "Recall at the threshold of best F1.",
    "v_measure": "V-measure of KMeans clusters (k = number of labels) against the gold labels.",
    "nmi": "Normalized mutual information of the clusters and the gold labels.",
    "ari": "Adjusted Rand index of the clusters against the gold labels (0 = chance).",
    "map": "Mean average precision of each query's candidates ranked by cosine similarity.",
    "mrr@10": "Mean reciprocal rank of the first relevant candidate in the top 10.",
}


def glossary_for(metric: str) -> str:
    return TASK_GLOSSARY.get(metric) or sections.glossary_for(metric)


def without_empty_columns(found: dict | None) -> dict | None:
    """The table without the columns no row has a value in (a statistic this task does not compute)."""
    if not found:
        return found
    keep = [c for c in found["columns"] if c["kind"] == "model" or any(r.get(c["key"]) is not None for r in found["rows"])]
    return {**found, "columns": keep}


def leaderboard(results: Results, perf: dict | None) -> dict | None:
    """Every model, best first by the main metric: the task's metrics with their CIs, speed, and those that cannot."""
    metrics = list(results.metrics)
    timed = sections.perf_models(perf)
    rows = []
    for m in results.ranked():
        info = m.info
        speed = sections.finite(info.get("texts_per_second"))
        embedded = info.get("embedding") or {}
        bench = sections.finite(((timed.get(m.name) or {}).get("speed") or {}).get("docs_per_second"))
        row = {"model": m.name, "status": "ok" if m.ok else "cannot do this task",
               "texts_per_second": bench or speed, "seconds": sections.finite(info.seconds),
               "dim": sections.finite(info.dim), "reason": m.reason or "",
               "speed_source": ("embedscope bench" if bench else "encoding in this run" if speed else
                                "not timed: every text came from the cache or the vectors were given" if embedded
                                else "not timed")}
        for metric in metrics:
            row[metric] = sections.finite((m.metrics or {}).get(metric))
            ci = sections.confidence_interval(results, m.name, metric)
            if ci:
                row["ci:" + metric] = ci
        rows.append(row)
    unit = (results.settings.get("task") or {}).get("unit") or results.settings.get("unit") or "units"
    columns = [sections.column("model", "model", "model")]
    columns += [sections.column(m, m, "metric", glossary_for(m)) for m in metrics]
    columns += [sections.column("texts_per_second", "speed (texts/s)", "rate",
                                "Texts embedded per second in this run (or by embedscope bench)."),
                sections.column("seconds", "run time (s)", "s", "Wall time of this model on the task."),
                sections.column("dim", "dims", "int", "Vector dimensions."),
                sections.column("status", "status", "text"),
                sections.column("reason", "why not", "text", "Why a model cannot do this task.",
                                hidden=all(not r["reason"] for r in rows))]
    has_ci = any(k.startswith("ci:") for r in rows for k in r)
    note = ("Best value per metric in bold." +
            (f" Brackets: 95% confidence interval, resampling {unit}." if has_ci else ""))
    return sections.table("leaderboard", "Leaderboard", columns, rows, note)


def significance(results: Results) -> dict | None:
    """The verdicts on the main metric: paired tests over the task's unit, Holm-corrected across pairs."""
    found = sections.significance(results)
    if not found:
        return None
    tests = {(p.a, p.b): getattr(p, "test", None) for p in results.significance.main_pairs()}
    for row in found["rows"]:
        row["test"] = tests.get((row["a"], row["b"]))
    found["columns"].insert(4, sections.column("test", "test", "text", "The paired test behind the p-value."))
    for c in found["columns"]:  # this task's p-value comes from the test its row names
        if c["key"] == "difference":
            c["help"] = "A's score minus B's on the whole test set; brackets: its 95% bootstrap interval."
        if c["key"] == "p_randomization_holm":
            c["label"], c["help"] = "p (Holm)", sections.GLOSSARY["p"] + " Decides the verdict."
    sig = results.significance
    unit = (results.settings.get("task") or {}).get("unit") or "units"
    found["note"] = f"{sig.main_metric}, {sig.queries:,} {unit}, alpha {sig.alpha}; {sig.test}"
    return without_empty_columns(found)


def task_view(run_dir: str | Path, results: Results) -> dict:
    """The whole page's data for a task run directory (the keys of embedscope.report.view.build_view's view)."""
    from embedscope.report.view import VIEW_VERSION, json_safe
    from embedscope.webui.explorer import MARKS

    run_dir = Path(run_dir)
    perf = sections.read_perf(run_dir)
    task = results.settings.get("task") or {}
    dataset = results.dataset.model_dump()
    title = f"embedscope report: {results.dataset.name or run_dir.name} — {results.task}"
    protocol = task.get("protocol") or {}
    return json_safe({
        "version": VIEW_VERSION,
        "mode": "report",
        "title": title,
        "task": {"type": results.task, "unit": task.get("unit") or results.settings.get("unit"),
                 "protocol": protocol, "notes": list(dataset.get("notes") or [])},
        "meta": {"dataset": dataset, "k": None, "depth": None, "index": None, "similarity": None,
                 "created": results.created, "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "run_dir": str(run_dir)},
        "k": None,
        "metrics": list(results.metrics),
        "main_metric": results.main_metric,
        "models": [m.name for m in results.models],
        "glossary": {**sections.GLOSSARY, **{m: glossary_for(m) for m in results.metrics}},
        "marks": MARKS,
        "grades": [],
        "warnings": sections.warnings(results),
        "references": sections.references(results),
        "perf_tables": sections.perf_tables(perf),
        "recommendation": None,
        "regenerate": "",
        "judged": {"count": 0, "queries": 0},
        "your_judgments": 0,
        "leaderboard": leaderboard(results, perf),
        "significance": significance(results),
        "win_tie_loss": None,
        "tradeoffs": [],
        "queries": [],
        "per_query": {},
        "explorer": None,
        "clusters": [],
        "docs": {"ids": [], "titles": [], "texts": [], "missing": []},
    })
