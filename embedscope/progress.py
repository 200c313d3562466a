"""What the user sees while work runs: one progress bar per long step, and log lines.

Library code reports through `logging` and draws bars through `task`; only the command line decides what shows
(`configure`): by default embedscope's own messages and other libraries' warnings, with `-q` warnings only and no
bars, with `-v` every library's log too. Bars are drawn only on a terminal, never into a pipe or a CI log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator

_enabled = True
_live = None  # the rich Progress being drawn, if any: log lines then print above it instead of through it

# Libraries that draw their own bars or chat at INFO when loading a model: quiet unless -v.
_OWN_BARS_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
                 "TF_CPP_MIN_LOG_LEVEL": "2"}


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def is_quiet() -> bool:
    """Whether -q is in force: messages are for warnings and results only."""
    return logging.getLogger("embedscope").getEffectiveLevel() > logging.INFO


def bars_shown() -> bool:
    return _enabled and sys.stderr.isatty()


@contextlib.contextmanager
def task(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields advance(n). Draws a bar on a terminal (total None: a step whose length is unknown, drawn as a
    pulse); elsewhere (pipes, CI logs) and with -q stays silent."""
    global _live
    if not bars_shown() or (total is not None and total <= 0) or _live is not None:  # one bar at a time
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    ) as progress:
        _live = progress
        try:
            tid = progress.add_task(description, total=total)
            yield lambda n: progress.advance(tid, n)
        finally:
            _live = None


class _Handler(logging.Handler):
    """Log lines on stderr: embedscope's as plain sentences, other libraries' with their name; above a live bar."""

    def __init__(self, library_level: int):
        super().__init__(logging.NOTSET)
        self.library_level = library_level

    def filter(self, record: logging.LogRecord) -> bool:
        # Libraries set their own loggers to DEBUG (bm25s, jieba do at import): the threshold is applied here.
        if record.name == "embedscope" or record.name.startswith("embedscope."):
            return record.levelno >= logging.getLogger("embedscope").getEffectiveLevel()
        return record.levelno >= self.library_level

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.name == "py.warnings":  # "file:line: Category: text" then the source line: keep the first
                message = message.strip().splitlines()[0]
            if not (record.name == "embedscope" or record.name.startswith("embedscope.")):
                message = f"{record.name}: {message}"
            if record.levelno >= logging.WARNING and not message.startswith(("warning", "error")):
                message = f"{logging.getLevelName(record.levelno).lower()}: {message}"
            if record.exc_info and logging.getLogger("embedscope").getEffectiveLevel() <= logging.DEBUG:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            if _live is not None:
                _live.console.print(message, markup=False, highlight=False)
            else:
                sys.stderr.write(message + "\n")
                sys.stderr.flush()
        except Exception:  # a log line must never break the work
            self.handleError(record)


def configure(verbosity: int = 0) -> None:
    """Set what the command line shows: -1 quiet (-q), 0 normal, 1 verbose (-v), 2 debug (-vv)."""
    set_enabled(verbosity >= 0)
    if verbosity < 1:
        for key, value in _OWN_BARS_ENV.items():
            os.environ.setdefault(key, value)
        import warnings

        # Deprecation and future warnings from libraries underneath are for their developers, not for a user.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    ours = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}.get(verbosity, logging.DEBUG)
    libraries = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    root.addHandler(_Handler(libraries))
    root.setLevel(libraries)  # propagation ignores levels above: embedscope's records still reach the handler
    logging.getLogger("embedscope").setLevel(ours)
    logging.captureWarnings(True)  # warnings.warn from libraries go through the same filter
