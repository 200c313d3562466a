"""Writing a file whole or not at all, and keeping a run directory's list of files true.

`write_file` is the one atomic writer of every output: a temp file beside the target, flushed to disk, renamed
over it. A file written into a finished run directory (report.html, perf.json, latency.json, judgments/,
pool/, clusters/) is also recorded in that directory's results.json list of files (size and SHA-256), so
readers (embedscope.rundir) check it like the run's own files. This module sits below every layer (it imports
only the results schema's file name and checksum), so loaders and the judgment store can use it too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from embedscope.errors import EmbedscopeError
from embedscope.results import FILENAME, sha256_of

LOCK = ".results.json.lock"  # serialises the writers that record files in results.json


class OutputError(EmbedscopeError, OSError):
    """A file or run directory that cannot be written (unwritable folder, full disk). Nothing partial is left."""


def write_file(path: str | Path, data: str | bytes) -> Path:
    """The one way a file is written into a run directory (and the atomic writer of every other output):
    a temp file beside the target, flushed to disk, renamed over it, so a crash or a full disk never leaves
    half a file and the error names the file. When the file lies inside a finished run directory (a folder up
    to three levels above with a results.json that lists its files), its size and SHA-256 are recorded in that
    list too, under a lock and with results.json itself replaced atomically, so readers check it like the
    run's own files and two writers never lose each other's entries."""
    path = Path(path)
    run_dir = _run_dir_of(path)
    if run_dir is None:
        _replace(path, data)
        return path
    from filelock import FileLock

    with FileLock(str(run_dir / LOCK)):
        _replace(path, data)
        results = run_dir / FILENAME
        try:
            record = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return path  # not readable as a record of files: the file is written, nothing to list it in
        record["files"][path.resolve().relative_to(run_dir.resolve()).as_posix()] = {
            "bytes": path.stat().st_size, "sha256": sha256_of(path)}
        _replace(results, json.dumps(record, indent=2, ensure_ascii=False))
    return path


def _run_dir_of(path: Path) -> Path | None:
    """The finished run directory holding `path`: the nearest folder above it (three levels at most) whose
    results.json keeps a list of files. None for results.json itself and for anything elsewhere."""
    if path.name == FILENAME:
        return None
    for folder in [path.parent, *list(path.parent.parents)[:2]]:
        candidate = folder / FILENAME
        if candidate.is_file():
            return folder if _lists_files(candidate) else None
    return None


def _lists_files(results: Path) -> bool:
    try:
        return isinstance(json.loads(results.read_text(encoding="utf-8")).get("files"), dict)
    except (OSError, ValueError, AttributeError):
        return False


def _replace(path: Path, data: str | bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, EmbedscopeError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}; nothing was written") from None
        raise
