"""The run's numbers again, with your judgments merged into the qrels: no re-embedding, no re-search.

`embedscope serve` shows these while you judge, and `embedscope report RUN_DIR --with-judgments` writes
them into the report. The merge is the one `embedscope run --judgments` makes (a judgment replaces the
dataset's grade of the same pair; pairs outside this dataset are left out), and the metrics and statistics
are the same functions, so all three agree.
"""

from __future__ import annotations

import dataclasses

from embedscope.judgments import merge_qrels
from embedscope.results import Results


def judgments_in(dataset, judgments: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The judged pairs this dataset can score: its queries, its documents."""
    extra = {qid: {did: g for did, g in rels.items() if did in dataset.corpus}
             for qid, rels in judgments.items() if qid in dataset.queries}
    return {qid: rels for qid, rels in extra.items() if rels}


def rescore(explorer, judgments: dict[str, dict[str, int]] | None = None) -> dict | None:
    """Means, per-query values, confidence intervals and verdicts with the judgments merged; None without any.

    Returns {"judgments": n, "models": {model: {metric: mean}}, "per_query": {model: {qid: {metric: value}}},
    "confidence_intervals": ..., "significance": ..., "per_query_stats": ...} (the stats in results.json's layout).
    """
    from embedscope.compare import Comparison, Result
    from embedscope.metrics import evaluate
    from embedscope.stats import analyse

    extra = judgments_in(explorer.dataset, explorer.judgments.load() if judgments is None else judgments)
    count = sum(len(rels) for rels in extra.values())
    if not count or not explorer.metrics:
        return None
    dataset = dataclasses.replace(explorer.dataset, qrels=merge_qrels(explorer.dataset.qrels, extra))
    results = [Result(name, explorer.results.model(name).spec, explorer.runs[name],
                      evaluate(dataset.qrels, explorer.runs[name], explorer.metrics)) for name in explorer.models]
    settings = explorer.results.settings.model_dump()
    comparison = Comparison(dataset, explorer.metrics, results, int(settings.get("k") or 10), settings)
    analysis = analyse(comparison)
    per_query = {r.name: {} for r in results}
    for r in results:
        for metric, values in r.evaluation.per_query.items():
            for qid, value in values.items():
                per_query[r.name].setdefault(qid, {})[metric] = value
    return {"judgments": count, "queries": len(extra), "models": {r.name: r.evaluation.mean for r in results},
            "per_query": per_query, "confidence_intervals": analysis.get("confidence_intervals"),
            "significance": analysis.get("significance"), "per_query_stats": analysis.get("per_query")}


def results_with(results: Results, rescored: dict) -> Results:
    """results.json as it would read with the judgments merged (the report's sections read this)."""
    data = results.to_dict()
    data["models"] = [{**m, "metrics": rescored["models"].get(m["name"], m.get("metrics"))} for m in data["models"]]
    data["confidence_intervals"] = rescored["confidence_intervals"]
    data["significance"] = rescored["significance"]
    data["per_query"] = rescored["per_query_stats"]
    return Results.from_dict(data, "results.json with your judgments")
