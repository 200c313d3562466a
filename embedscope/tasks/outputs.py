"""What a task comparison writes into its run directory, and its console tables.

results.json: `embedscope.results.Results` (see results_record): task = the task type; dataset = the data's summary
  (units, files, counts, notes: warned-and-counted problems); a model that cannot do the task has status "failed"
  and its reason
per_unit.csv  one row per model and unit (row line, pair line or query): gold, prediction/similarity, ...
summary.md    the leaderboard and verdicts in Markdown
"""

from __future__ import annotations

import csv
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedscope.report.markdown import fmt, table
from embedscope.report.outputs import atomic_write


def results_record(comparison):
    """The comparison as `embedscope.results.Results`, the one schema of results.json: `task` names the task type,
    `settings.task` its protocol and unit, each model's `run.details` its task-specific numbers. The task's
    statistics fill the same records as retrieval's: `queries` counts the task's units (`unit` says which), and a
    pair's `p_randomization` comes from the test its `test` field names."""
    from embedscope.results import ConfidenceIntervals, DatasetSummary, ModelResult, Pair, Results, Settings, Significance

    analysis = comparison.analysis or {}
    ci = sig = None
    if analysis.get("confidence_intervals"):
        c = analysis["confidence_intervals"]
        ci = ConfidenceIntervals(method=f"{c['method']}; unit: {c['unit']}", confidence=c["confidence"],
                                 resamples=c["resamples"], seed=c["seed"], queries=c["units"], models=c["models"],
                                 unit=c["unit"])
        g = analysis["significance"]
        pairs = [Pair(metric=p["metric"], a=p["a"], b=p["b"], mean_a=p["mean_a"], mean_b=p["mean_b"],
                      difference=p["difference"], difference_low=p["difference_low"],
                      difference_high=p["difference_high"], p_randomization=p["p"], p_randomization_holm=p["p_holm"],
                      p_ttest=None, p_ttest_holm=None, significant=p["significant"], better=p["better"],
                      verdict=p["verdict"], minimum_detectable_effect=None, queries_needed=None, test=p["test"])
                 for p in g["pairs"]]
        sig = Significance(main_metric=g["main_metric"], alpha=g["alpha"], test=g["test"], second_opinion="none",
                           permutations=g["permutations"], seed=g["seed"], queries=g["units"], order=g["order"],
                           pairs=pairs, warnings=g["warnings"])
    task = comparison.task
    settings = dict(comparison.settings)
    settings["task"] = {"type": task.name, "unit": task.unit,
                        "protocol": task.settings() if hasattr(task, "settings") else {}}
    models = []
    for r in comparison.results:
        run = {"kind": "embedding", "details": r.outcome.details} if r.outcome else {}
        models.append(ModelResult(name=r.name, spec=r.spec, status="ok" if r.outcome else "failed",
                                  reason=r.reason, info=r.info, run=run, metrics=r.scores))
    summary = comparison.data.summary()
    return Results(task=task.name, dataset=DatasetSummary(**summary), metrics=comparison.metrics,
                   settings=Settings(**settings), models=models, confidence_intervals=ci, significance=sig)


def write_task_outputs(comparison, run_dir: Path) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"results": run_dir / "results.json", "per_unit": run_dir / "per_unit.csv", "summary": run_dir / "summary.md"}
    atomic_write(paths["results"], results_record(comparison).to_json())
    rows = [{"model": r.name, **row} for r in comparison.results if r.outcome for row in r.outcome.rows]
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["model", "unit"]
    with open(paths["per_unit"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(paths["summary"], summary_markdown(comparison))
    return paths


def ordered(comparison) -> list:
    main = comparison.main_metric
    return sorted(comparison.results, key=lambda r: -(r.scores or {}).get(main, float("-inf")))


def leaderboard(comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows: the main metric with its interval, the other metrics, speed; models that cannot, last."""
    cis = (comparison.analysis or {}).get("confidence_intervals", {}).get("models", {})
    main, rest = comparison.main_metric, comparison.metrics[1:]
    head = ["model", f"{main} (95% CI)", *rest, "texts/s", "seconds"]
    rows = []
    for r in ordered(comparison):
        if r.scores is None:
            rows.append([r.name, f"cannot do {comparison.task.name}", *["—"] * len(rest), "—", "—"])
            continue
        ci = cis.get(r.name, {}).get(main)
        main_cell = fmt(r.scores.get(main)) + (f" ({ci['low']:.4f}–{ci['high']:.4f})" if ci else "")
        speed = r.info.get("texts_per_second")
        rows.append([r.name, main_cell, *[fmt(r.scores.get(m)) for m in rest],
                     f"{speed:,.0f}" if speed else "cached", f"{r.info.get('seconds', 0):.1f}"])
    return head, rows


def verdicts(comparison, metric: str | None = None) -> tuple[list[str], list[list[str]]]:
    sig = (comparison.analysis or {}).get("significance")
    if not sig:
        return [], []
    metric = metric or sig["main_metric"]
    head = ["A", "B", "verdict", "difference (95% CI)", "test", "p (Holm)"]
    rows = [[p["a"], p["b"], p["verdict"],
             f"{p['difference']:+.4f} ({p['difference_low']:+.4f} to {p['difference_high']:+.4f})", p["test"],
             f"{p['p']:.4f} ({p['p_holm']:.4f})"] for p in sig["pairs"] if p["metric"] == metric]
    return head, rows


def title(comparison) -> str:
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in comparison.data.counts.items())
    return f"{comparison.data.name} — {comparison.task.name}: {counts}"


def summary_markdown(comparison) -> str:
    lines = [f"# {title(comparison)}", ""]
    for note in comparison.data.notes:
        lines.append(f"- note: {note}")
    lines += ["", table(*leaderboard(comparison)), ""]
    for r in comparison.results:
        if r.reason:
            lines.append(f"- {r.name}: {r.reason}")
    head, rows = verdicts(comparison)
    if rows:
        sig = comparison.analysis["significance"]
        lines += ["", f"## {sig['main_metric']}: paired tests over {comparison.task.unit}, Holm-corrected, "
                      f"alpha {sig['alpha']}", "", table(head, rows)]
        lines += [f"- {w}" for w in sig["warnings"]]
    return "\n".join(lines) + "\n"


def print_task_leaderboard(comparison, console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 200)
    head, rows = leaderboard(comparison)
    t = Table(title=escape(title(comparison)), header_style="bold")
    for i, name in enumerate(head):
        t.add_column(escape(name), justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        t.add_row(*[escape(c) for c in row])
    console.print(t)
    for note in comparison.data.notes:
        console.print(f"[yellow]note: {escape(note)}[/]")
    for r in comparison.results:
        if r.reason:
            console.print(f"[yellow]{escape(r.name)}: {escape(r.reason)}[/]")
    head, rows = verdicts(comparison)
    if rows:
        sig = comparison.analysis["significance"]
        v = Table(title=escape(f"{sig['main_metric']}: paired tests over {comparison.task.unit}, Holm-corrected"),
                  header_style="bold")
        for i, name in enumerate(head):
            v.add_column(name, justify="left" if i < 3 else "right")
        for row, pair in zip(rows, (p for p in sig["pairs"] if p["metric"] == sig["main_metric"])):
            row = [escape(c) for c in row]
            v.add_row(*row[:2], f"[green]{row[2]}[/]" if pair["significant"] else row[2], *row[3:])
        console.print(v)
        for w in sig["warnings"]:
            console.print(f"[yellow]⚠ {escape(w)}[/]")
