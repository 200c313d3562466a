"""Sweep results on the console (rich tables) and in a run directory (sweep.json, per-query CSV, figures).

A sweep's run directory holds sweep.json, not results.json: results.json is the comparison schema
(embedscope.results) that the report, the web app and recommend read."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from embedscope.report.outputs import atomic_write
from embedscope.report.console import wide_console
from embedscope.sweeps.figures import compression_figure, recall_qps_figure, write_html


def _console() -> Console:
    return wide_console()


def _mib(n: int) -> str:
    return f"{n / 2**20:,.2f}"


def print_compression(sweep, console: Console | None = None) -> None:
    console = console or _console()
    main = sweep.metrics[0]
    base = sweep.baseline
    t = Table(title=f"{sweep.model}: compression vs float32 exact ({base['dim']} dims, "
                    f"{main} {base['metrics'][main]:.4f})", header_style="bold")
    for name in ("option", "dim", "bytes/vec", "saved", main, f"Δ {main}", "95% CI", *(f"Δ {m}" for m in sweep.metrics[1:])):
        t.add_column(name, justify="left" if name == "option" else "right", no_wrap=True)
    for r in sweep.rows:
        low, high = r["ci"][main]
        style = "red" if high < 0 else ("green" if low > 0 else None)
        size = f"{r['bytes_per_vector']:,}" + (f" +{r['extra_bytes_per_vector']:,}" if r["extra_bytes_per_vector"] else "")
        t.add_row(r["option"], str(r["dim"]), size, f"{r['saved_pct']:.1f}%", f"{r['metrics'][main]:.4f}",
                  f"{r['delta'][main]:+.4f}", f"[{low:+.4f}, {high:+.4f}]",
                  *(f"{r['delta'][m]:+.4f}" for m in sweep.metrics[1:]), style=style)
    console.print(t)
    if any(r["extra_bytes_per_vector"] for r in sweep.rows):
        console.print("+N: float vectors kept beside the index (e.g. on disk) for rescoring", style="dim")


def print_ann(sweep, console: Console | None = None) -> None:
    console = console or _console()
    k, main = sweep.k, sweep.metrics[0]
    threads = sweep.settings.get("threads") or "all"
    t = Table(title=f"{sweep.model}: approximate search ({sweep.settings['documents']:,} docs, "
                    f"{sweep.settings['queries']:,} queries, {threads} thread(s))", header_style="bold")
    for name in ("index", f"recall@{k}", main, "QPS batch", "QPS 1-by-1", "build s", "MiB", "bytes/vec"):
        t.add_column(name, justify="left" if name == "index" else "right", no_wrap=True)
    for r in sweep.rows:
        t.add_row(r["spec"].removeprefix("faiss:"), f"{r[f'recall@{k}']:.4f}", f"{r['metrics'].get(main, float('nan')):.4f}",
                  f"{r['qps_batch']:,.0f}", f"{r['qps_single']:,.0f}", f"{r['build_seconds']:.2f}",
                  _mib(r["index_bytes"]), f"{r['bytes_per_vector']:,}")
    console.print(t)


def _results(kind: str, dataset, sweeps, settings: dict) -> dict:
    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": kind,
            "dataset": dataset.summary(), "settings": settings, "sweeps": [s.to_dict() for s in sweeps]}


def write_compression(run_dir: str | Path, dataset, sweeps, settings: dict) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"results": run_dir / "sweep.json", "per_query": run_dir / "per_query.csv",
             "figure": run_dir / "compression.html"}
    atomic_write(paths["results"], json.dumps(_results("sweep-compression", dataset, sweeps, settings), indent=2))
    with open(paths["per_query"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "option", "query_id", *sweeps[0].metrics])
        for s in sweeps:
            for option, per_metric in s.per_query.items():
                qids = list(per_metric[s.metrics[0]])
                for q in qids:
                    writer.writerow([s.model, option, q, *(per_metric[m][q] for m in s.metrics)])
    write_html(compression_figure(sweeps), paths["figure"])
    return paths


def write_ann(run_dir: str | Path, dataset, sweeps, settings: dict) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"results": run_dir / "sweep.json", "figure": run_dir / "recall_qps.html"}
    atomic_write(paths["results"], json.dumps(_results("sweep-ann", dataset, sweeps, settings), indent=2))
    write_html(recall_qps_figure(sweeps, sweeps[0].k), paths["figure"])
    return paths
