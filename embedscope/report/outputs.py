"""Everything a comparison writes into its run directory.

results.json is one `embedscope.results.Results` record: the comparison's models with their metrics, and the
statistics of `embedscope.stats.analyse` ("confidence_intervals", "significance", "per_query"; absent
without qrels). Its layout is documented in docs/reference/results-schema.md.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from embedscope.references import reference_section
from embedscope.report.markdown import summary_markdown
from embedscope.results import SCHEMA_VERSION, Results
from embedscope.stats import analyse


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def atomic_write(path: Path, text: str) -> None:
    """Write to a temp file beside the target, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_run_dir(root: str | Path, dataset_name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{safe_name(dataset_name)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise OSError(f"cannot create output directory {path}: {e.strerror or e}") from None
    return path


def results_record(comparison, analysis: dict | None = None) -> Results:
    """The comparison as the one results.json record (validated here, so a writer cannot drift from it)."""
    models = [{"name": r.name, "spec": r.spec, "status": r.status, "reason": r.reason,
               "info": r.info, "run": r.run.meta, "metrics": r.evaluation.mean if r.evaluation else None,
               "run_file": f"runs/{safe_name(r.name)}.trec" if r.ok else None}
              for r in comparison.results]
    data = {"schema_version": SCHEMA_VERSION, "dataset": comparison.dataset.summary(), "metrics": comparison.metrics,
            "settings": comparison.settings, "models": models, **(analysis or {})}
    return Results.from_dict(_plain(data))


def _plain(value):
    """JSON values only: numpy scalars and arrays, paths and other objects become numbers, lists or text."""
    return json.loads(json.dumps(value, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def per_query_rows(comparison):
    for r in comparison.results:
        if not r.evaluation:
            continue
        for qid in r.evaluation.query_ids:
            yield {"model": r.name, "query_id": qid, **{m: r.evaluation.per_query[m][qid] for m in comparison.metrics}}


def write_outputs(comparison, run_dir: Path) -> dict[str, Path]:
    run_dir = Path(run_dir)
    (run_dir / "runs").mkdir(parents=True, exist_ok=True)
    paths = {"results": run_dir / "results.json", "per_query": run_dir / "per_query.csv",
             "summary": run_dir / "summary.md"}
    # Kept on the comparison so the console shows the same numbers without computing them again.
    analysis = comparison.analysis = analyse(comparison)
    references = reference_section(comparison, comparison.settings.get("reference_paths") or (),
                                   comparison.settings.get("reference_task"), significance=analysis.get("significance"))
    if references:
        analysis["references"] = references
    atomic_write(paths["results"], results_record(comparison, analysis).to_json())
    with open(paths["per_query"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["model", "query_id", *comparison.metrics])
        writer.writeheader()
        writer.writerows(per_query_rows(comparison))
    for r in comparison.results:
        if r.ok:
            r.run.to_trec(run_dir / "runs" / f"{safe_name(r.name)}.trec")
    atomic_write(paths["summary"], summary_markdown(comparison, analysis))
    return paths
