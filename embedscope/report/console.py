from __future__ import annotations

from rich.console import Console
from rich.table import Table

from embedscope.report.markdown import header, leaderboard_rows


def print_leaderboard(comparison, console: Console | None = None) -> None:
    # Logs and pipes get a wide table rather than columns cut to '…'.
    console = console or Console(width=None if Console().is_terminal else 200)
    ds = comparison.dataset.summary()
    t = Table(title=f"{ds['name']}: {ds['queries']} queries, {ds['documents']:,} documents", header_style="bold")
    for i, name in enumerate(header(comparison)):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in leaderboard_rows(comparison):
        t.add_row(*row)
    console.print(t)
