from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedscope.report.markdown import (
    VERDICT_HEADER,
    disagreement_rows,
    header,
    leaderboard_rows,
    trust_notes,
    verdict_rows,
)


def wide_console() -> Console:
    """A console for tables: a terminal's own width; logs and pipes get 200 columns rather than cells cut to '…'."""
    return Console(width=None if Console().is_terminal else 200)


def print_leaderboard(comparison, console: Console | None = None) -> None:
    console = console or wide_console()
    ds = comparison.dataset.summary()
    t = Table(title=f"{ds['name']}: {ds['queries']} queries, {ds['documents']:,} documents", header_style="bold")
    for i, name in enumerate(header(comparison)):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in leaderboard_rows(comparison):
        t.add_row(*row)
    console.print(t)
    for note in trust_notes(comparison):
        console.print(f"[yellow]{escape(note)}[/]")
    for r in comparison.results:
        if not r.ok:
            console.print(f"[red]✗ {escape(r.name)} failed:[/] {escape(r.reason or '')}")
    analysis = getattr(comparison, "analysis", None)
    if analysis is None and any(r.evaluation for r in comparison.results) and len(comparison.results) > 1:
        from embedscope.stats import analyse

        analysis = analyse(comparison)
    if analysis:
        print_significance(analysis, console)
    if analysis and analysis.get("references"):
        print_references(analysis["references"], console)


def print_significance(analysis: dict, console: Console | None = None) -> None:
    """The verdict table of the main metric, its warnings, and the queries the models disagree on most."""
    console = console or wide_console()
    sig = analysis.get("significance")
    if not sig or not sig["pairs"]:
        return
    t = Table(title=f"{sig['main_metric']}: paired randomization test, Holm-corrected, alpha {sig['alpha']}",
              header_style="bold")
    for i, name in enumerate(VERDICT_HEADER):
        t.add_column(name, justify="left" if i < 3 else "right")
    for row, pair in zip(verdict_rows(analysis), (p for p in sig["pairs"] if p["metric"] == sig["main_metric"])):
        row = [escape(cell) for cell in row]  # model names and query text are not markup
        t.add_row(*row[:2], f"[green]{row[2]}[/]" if pair["significant"] else row[2], *row[3:])
    console.print(t)
    for warning in sig["warnings"]:
        console.print(f"[yellow]⚠ {escape(warning)}[/]")
    head, rows = disagreement_rows(analysis, limit=3)
    if rows:
        d = Table(title="queries the models disagree on most (see `embedscope show RUN_DIR --query QID`)",
                  header_style="bold")
        for i, name in enumerate(head):
            d.add_column(escape(name), justify="right" if i == 2 else "left", overflow="fold")
        for row in rows:
            d.add_row(*[escape(cell) for cell in row])
        console.print(d)


def print_references(section: dict, console: Console) -> None:
    split = f", {section['split']} split" if section.get("split") else ""
    t = Table(title=f"published {section['metric']} ({section['task']}{split}) vs your data", header_style="bold")
    for name in ("model", "published", "your data", "source"):
        t.add_column(name, justify="left" if name in ("model", "source") else "right", no_wrap=True)
    for r in section["models"]:
        mark = " †" if r.get("trained_on") else ""
        t.add_row(r["model"], "—" if r["reference"] is None else f"{r['reference']:.4f}{mark}", f"{r['own']:.4f}{mark}",
                  r["source"] or "—")
    for r in section["reference_only"]:
        value = r["metrics"].get(section["metric"])
        t.add_row(f"{r['model']} (reference only)", "—" if value is None else f"{value:.4f}", "not run here", r["source"])
    console.print(t)
    for r in section["models"]:
        if r.get("trained_on"):
            console.print(f"[yellow]† {escape(r['model'])} was trained on {', '.join(r['trained_on'])} (declared by its "
                          "authors): these scores are not zero-shot[/]")
    ag = section["agreement"]
    if ag["kendall_tau"] is not None:
        console.print(f"rank agreement over {len(ag['rows'])} models: Kendall's tau {ag['kendall_tau']:.2f}")
    if ag["warning"]:
        console.print(f"[yellow]⚠ {escape(ag['warning'])}[/yellow]")
    if ag.get("note"):  # why differing orders made no warning
        console.print(f"note: {escape(ag['note'])}")
