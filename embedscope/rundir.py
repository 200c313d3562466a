"""Reading a run directory back: results.json (as typed records), the TREC runs, and the dataset it was made from.

A run directory appears only whole (embedscope.report.outputs), and its results.json lists every other file it
wrote with size and SHA-256 (`files`). Each file read through here is checked against that list first, so a
file cut short, edited or lost after the run is reported as such, never read as if it were the run's. Files
added later by other commands (report.html, perf.json, latency.json, judgments/, pool/, clusters/) are written
through `embedscope.files.write_file`, which records them in the same list; run directories written before the list existed
are read unchecked. `verify` checks a whole run directory against its list.
"""

from __future__ import annotations

from pathlib import Path

from embedscope.files import OutputError, write_file  # noqa: F401  (re-exported: the writer of run directories)
from embedscope.results import FILENAME, Results, ResultsError, sha256_of
from embedscope.runs import Run


class RunDirError(ResultsError):
    """A run directory whose files are not the ones its run wrote."""


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
