"""What a task comparison writes into its run directory, and its console tables.

results.json (same top-level keys as a retrieval run where they mean the same thing):
  task        {type, unit, settings}: the task type, what the statistics resample, the protocol's settings
  dataset     the data's summary: name, units, files, counts, notes (warned-and-counted problems)
  metrics     metric names, main first
  models      [{name, spec, info, metrics (null when the model cannot do the task), reason, details}]
  confidence_intervals, significance   from embedscope.tasks.stats (absent with no scored model)
per_unit.csv  one row per model and unit (row line, pair line or query): gold, prediction/similarity, ...
summary.md    the leaderboard and verdicts in Markdown
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedscope.report.markdown import fmt, table
from embedscope.report.outputs import atomic_write


def results_dict(comparison) -> dict:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": {"type": comparison.task.name, "unit": comparison.task.unit,
                 "settings": comparison.task.settings() if hasattr(comparison.task, "settings") else {}},
        "dataset": comparison.data.summary(),
        "metrics": comparison.metrics,
        "settings": comparison.settings,
        "models": [{"name": r.name, "spec": r.spec, "info": r.info, "metrics": r.scores, "reason": r.reason,
                    "details": r.outcome.details if r.outcome else None} for r in comparison.results],
        **(comparison.analysis or {}),
    }


def write_task_outputs(comparison, run_dir: Path) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"results": run_dir / "results.json", "per_unit": run_dir / "per_unit.csv", "summary": run_dir / "summary.md"}
    atomic_write(paths["results"], json.dumps(results_dict(comparison), indent=2, default=str))
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
