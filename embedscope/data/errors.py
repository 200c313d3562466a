from __future__ import annotations

from pathlib import Path

from embedscope.errors import EmbedscopeError


class DataError(EmbedscopeError, ValueError):
    """Bad input data. The message always names the file and, where it applies, the line (1-based, as an editor
    shows it) or, for Parquet, the row (1-based)."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, *, row: int | None = None):
        self.path = str(path)
        self.line = line
        self.row = row
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}: row {row}" if row is not None else self.path
        super().__init__(f"{where}: {message}")
