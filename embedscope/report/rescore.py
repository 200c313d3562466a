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
    return Rescorer(explorer).rescore(judgments)


class Rescorer:
    """Re-scoring kept between judgments (the web app holds one): a new set of judgments re-evaluates only the
    queries whose judgments changed, and the statistics add in only the queries whose scores changed
    (embedscope.stats.resampled). The numbers are those of a full re-scoring."""

    def __init__(self, explorer):
        from embedscope.stats.resampled import KeptDraws

        self.explorer = explorer
        self.draws = KeptDraws()
        self._extra: dict[str, dict[str, int]] = {}
        self._values: dict[str, dict[str, dict[str, float]]] | None = None  # model -> qid -> metric -> value

    def _evaluate(self, qrels: dict, qids) -> dict[str, dict[str, dict[str, float]]]:
        """model -> qid -> metric -> value for the evaluable queries among qids."""
        from embedscope.metrics import evaluate

        part = {q: qrels[q] for q in qids if q in qrels}
        out = {}
        for name in self.explorer.models:
            found = evaluate(part, self.explorer.runs[name], self.explorer.metrics).per_query
            values: dict[str, dict[str, float]] = {}
            for metric, by_query in found.items():
                for qid, value in by_query.items():
                    values.setdefault(qid, {})[metric] = value
            out[name] = values
        return out

    def prepare(self) -> None:
        """Evaluate every query and draw the resamples before the first judgment, so that it is quick too."""
        if self._values is None and self.explorer.metrics and self.explorer.dataset.qrels:
            self._update({}, self.explorer.dataset.qrels)
            self._analyse(self.explorer.dataset.qrels)

    def rescore(self, judgments: dict[str, dict[str, int]] | None = None) -> dict | None:
        explorer = self.explorer
        extra = judgments_in(explorer.dataset, explorer.judgments.load() if judgments is None else judgments)
        count = sum(len(rels) for rels in extra.values())
        if not count or not explorer.metrics:
            return None
        qrels = merge_qrels(explorer.dataset.qrels, extra)
        self._update(extra, qrels)
        results, analysis, order = self._analyse(qrels)
        per_query = {name: {q: dict(self._values[name][q]) for q in order} for name in explorer.models}
        return {"judgments": count, "queries": len(extra), "models": {r.name: r.evaluation.mean for r in results},
                "per_query": per_query, "confidence_intervals": analysis.get("confidence_intervals"),
                "significance": analysis.get("significance"), "per_query_stats": analysis.get("per_query")}

    def _update(self, extra: dict, qrels: dict) -> None:
        """Per-query values for these qrels: every query the first time, then those whose judgments changed."""
        if self._values is None:
            self._values = self._evaluate(qrels, qrels)
        else:
            changed = {q for q in {*extra, *self._extra} if extra.get(q) != self._extra.get(q)}
            fresh = self._evaluate(qrels, changed)
            for name, values in self._values.items():
                for qid in changed:
                    values.pop(qid, None)
                values.update(fresh[name])
        self._extra = {q: dict(rels) for q, rels in extra.items()}

    def _analyse(self, qrels: dict):
        from embedscope.compare import Comparison, Result
        from embedscope.metrics import Evaluation
        from embedscope.metrics.evaluate import evaluated_queries
        from embedscope.stats import analyse

        explorer = self.explorer
        order = evaluated_queries(qrels)  # the query order a full evaluation gives (the statistics depend on it)
        results = []
        for name in explorer.models:
            values = self._values[name]
            per_query = {m: {q: values[q][m] for q in order} for m in explorer.metrics}
            results.append(Result(name, explorer.results.model(name).spec, explorer.runs[name],
                                  Evaluation(name, per_query)))
        dataset = dataclasses.replace(explorer.dataset, qrels=qrels)
        settings = explorer.results.settings.model_dump()
        comparison = Comparison(dataset, explorer.metrics, results, int(settings.get("k") or 10), settings)
        return results, analyse(comparison, draws=self.draws), order



def results_with(results: Results, rescored: dict) -> Results:
    """results.json as it would read with the judgments merged (the report's sections read this)."""
    data = results.to_dict()
    data["models"] = [{**m, "metrics": rescored["models"].get(m["name"], m.get("metrics"))} for m in data["models"]]
    data["confidence_intervals"] = rescored["confidence_intervals"]
    data["significance"] = rescored["significance"]
    data["per_query"] = rescored["per_query_stats"]
    return Results.from_dict(data, "results.json with your judgments")
