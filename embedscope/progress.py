"""Progress bars for long work (rich), quiet when output is not a terminal or when asked."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
_enabled = True


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


@contextlib.contextmanager
def task(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yields advance(n). Draws a bar on a terminal; elsewhere (CI logs) stays silent."""
    if not _enabled or not sys.stderr.isatty() or total <= 0:
        yield lambda n: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
    ) as progress:
        tid = progress.add_task(description, total=total)
        yield lambda n: progress.advance(tid, n)
