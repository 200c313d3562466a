"""Reading a run directory back: results.json (as typed records), the TREC runs, and the dataset it was made from.

A run directory appears only whole (embedscope.report.outputs), and its results.json lists every other file it
wrote with size and SHA-256 (`files`). Each file read through here is checked against that list first, so a
file cut short, edited or lost after the run is reported as such, never read as if it were the run's. Files
added later by other commands (report.html, perf.json, latency.json, judgments/, pool/, clusters/) are written
through `write_file`, which records them in the same list; run directories written before the list existed
are read unchecked. `verify` checks a whole run directory against its list.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from embedscope.errors import EmbedscopeError
from embedscope.results import FILENAME, Results, ResultsError, sha256_of
from embedscope.runs import Run

LOCK = ".results.json.lock"  # serialises the writers that record files in results.json


class RunDirError(ResultsError):
    """A run directory whose files are not the ones its run wrote."""


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


def verify(run_dir: str | Path) -> list[str]:
    """Problems of a run directory, one line each ([] when whole): every file results.json lists is there with
    the size and SHA-256 recorded, and no file beside them goes unlisted (hidden and lock files aside)."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    problems = []
    for relative in sorted(results.files):
        try:
            checked_file(run_dir, relative, results)
        except RunDirError as e:
            problems.append(str(e))
    if results.files:
        for path in sorted(run_dir.rglob("*")):
            relative = path.relative_to(run_dir).as_posix()
            hidden = any(part.startswith(".") for part in path.relative_to(run_dir).parts)
            if path.is_file() and relative != FILENAME and relative not in results.files and not hidden \
                    and path.suffix != ".lock":  # writers' lock files (judgments/qrels.tsv.lock)
                problems.append(f"{path}: not written by embedscope (not in results.json's list of files)")
    return problems


def read_results(run_dir: str | Path) -> Results:
    """results.json as `embedscope.results.Results`, upgraded from an older layout if need be."""
    return Results.read(run_dir)


def checked_file(run_dir: str | Path, relative: str, results: Results | None = None) -> Path:
    """The path of `relative` in the run directory, after checking it against the size and SHA-256 that
    results.json recorded for it (when it recorded one)."""
    path = Path(run_dir) / relative
    results = results or read_results(run_dir)
    entry = results.files.get(relative)
    if not path.is_file():
        raise RunDirError(f"{path}: missing from the run directory" + (" (the run wrote it)" if entry else ""))
    if entry is None:
        return path
    size = path.stat().st_size
    if size != entry.bytes:
        raise RunDirError(f"{path}: {size:,} bytes where the run wrote {entry.bytes:,}; the file was cut short or "
                          f"changed after the run: run it again")
    if sha256_of(path) != entry.sha256:
        raise RunDirError(f"{path}: its checksum differs from the one the run recorded; the file was changed or "
                          f"damaged after the run: run it again")
    return path


def read_runs(run_dir: str | Path, results: Results | None = None) -> dict[str, Run]:
    """Each model's TREC run, by model name, from the run file results.json names for it (by the model's
    unique slug), checked against the file list; models that failed have none."""
    results = results or read_results(run_dir)
    return {m.name: Run.from_trec(checked_file(run_dir, m.run_file, results), name=m.name) for m in results.models
            if m.ok and m.run_file}


def read_dataset(run_dir: str | Path, results: Results | None = None):
    """The dataset the run was made from, reloaded from the source recorded in results.json."""
    from embedscope.data import load_from

    results = results or read_results(run_dir)
    if results.task != "retrieval":  # a task beyond retrieval: its texts, shaped as a dataset (for bench and cost)
        from embedscope.tasks.rundir import as_dataset

        return as_dataset(results)
    if results.settings.source is None:
        raise ResultsError(f"{Path(run_dir) / 'results.json'}: settings.source does not say where the dataset came from")
    return load_from(results.settings.source)
