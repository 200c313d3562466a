"""Reading a run directory back: results.json (as typed records), the TREC runs, and the dataset it was made from."""

from __future__ import annotations

from pathlib import Path

from embedscope.results import Results, ResultsError
from embedscope.runs import Run


def read_results(run_dir: str | Path) -> Results:
    """results.json as `embedscope.results.Results`, upgraded from an older layout if need be."""
    return Results.read(run_dir)


def read_runs(run_dir: str | Path, results: Results | None = None) -> dict[str, Run]:
    """Each model's TREC run, by model name; models that failed have none."""
    results = results or read_results(run_dir)
    return {m.name: Run.from_trec(Path(run_dir) / m.run_file, name=m.name) for m in results.models
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
