"""Reading a run directory back: results.json, the TREC runs, and the dataset it was made from."""

from __future__ import annotations

import json
from pathlib import Path

from embedscope.runs import Run


def read_results(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a run directory (no results.json); make one with `embedscope run`")
    return json.loads(path.read_text(encoding="utf-8"))


def read_runs(run_dir: str | Path) -> dict[str, Run]:
    results = read_results(run_dir)
    return {m["name"]: Run.from_trec(Path(run_dir) / m["run_file"], name=m["name"]) for m in results["models"]}


def read_dataset(run_dir: str | Path):
    """The dataset the run was made from, reloaded from the paths recorded in results.json."""
    from embedscope.data import load_from

    return load_from(read_results(run_dir)["settings"]["source"])
