"""`embedscope recommend RUN_DIR`: the best model under your constraints, and why not the others."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from embedscope.cli import options


@dataclasses.dataclass
class Limits:
    """The constraints a recommended model must meet."""

    max_latency_ms: float | None
    max_cost: float | None
    max_dim: int | None
    language: str | None


@options.command("recommend")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--max-latency-ms", type=float, help="Single-query latency limit (measured p95, ms).")
@click.option("--max-cost", type=float, help="Budget in USD to embed --scale texts.")
@click.option("--max-dim", type=int, help="Largest vector dimension allowed.")
@click.option("--language", help="Language the model must declare (ISO code like en, zh; multilingual models qualify).")
@click.option("--scale", type=int, help="Texts the budget covers [the run's corpus size].")
@click.option("--latency-queries", type=int, default=50, show_default=True,
              help="Single queries timed per model whose latency is not measured yet (0: measure nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendation as JSON.")
@options.shared("metrics", config=False)
@options.gather("limits", Limits)
def command(settings, run_dir, limits, scale, latency_queries, as_json):
    """Pick the best model of a run directory under constraints.

    Latency is measured here for every model that has none yet (dense, precomputed, BM25 and pipelines: one
    query at a time, from text to top-k) and kept in RUN_DIR/latency.json. Costs come from perf.json
    (`embedscope bench --run-dir`); BM25 embeds nothing and costs nothing to index. Quality is the first
    --metric [the run's main metric].
    """
    metric = (settings.get("metrics") or [None])[0]
    max_cost = limits.max_cost
    from embedscope.perf.tables import print_recommendation
    from embedscope.recommend import candidates_from, recommend
    from embedscope.rundir import read_results

    results = read_results(run_dir)
    perf_path = Path(run_dir) / "perf.json"
    perf = json.loads(perf_path.read_text(encoding="utf-8")) if perf_path.exists() else None
    if max_cost is not None and perf is None:
        raise click.UsageError(f"{perf_path} not found: --max-cost needs the cost table; make it with "
                               f"`embedscope bench --run-dir {run_dir}` (it prices every embedding model of the run)")
    if metric and metric not in results.metrics:
        raise click.BadParameter(f"{metric} not in this run ({', '.join(results.metrics)})", param_hint="--metric")
    import functools

    from embedscope.rundir import read_dataset

    dataset_of = functools.cache(lambda: read_dataset(run_dir, results))  # read once, only if needed
    latency = measured_latency(run_dir, results, perf, latency_queries, dataset_of)
    if scale is None and results.task != "retrieval" and not (perf or {}).get("dataset"):
        scale = len(dataset_of().corpus)  # a task run prices embedding its own texts by default
    candidates, metric, scale = candidates_from(results, perf, metric=metric, scale=scale, latency=latency)
    advice = recommend(candidates, **dataclasses.asdict(limits))
    advice |= {"metric": metric, "scale": scale}
    if as_json:
        click.echo(json.dumps(advice, indent=2))
    else:
        print_recommendation(advice)


def measured_latency(run_dir, results, perf: dict | None, queries: int, dataset_of) -> dict:
    """latency.json, completed for the models that have no single-query retrieval latency yet (in a run of another
    task: the latency of embedding one text, since nothing is searched). dataset_of() gives the run's dataset."""
    from embedscope.perf.latency import query_latency
    from embedscope.perf.speed import measure_latency
    from embedscope.runs.context import RetrievalContext

    path = Path(run_dir) / "latency.json"
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    timed = {m["name"] for m in (perf or {}).get("models", []) if m.get("retrieval")}
    todo = [m for m in results.ok_models if m.name not in known and m.name not in timed]
    if not todo or queries <= 0:
        return known
    try:
        dataset = dataset_of()
    except (ValueError, OSError) as e:
        return known | {m.name: {"unknown": f"latency not measured: the run's dataset cannot be reloaded ({e})"}
                        for m in todo}
    settings = results.settings
    context = RetrievalContext.of(settings.cache or None, index=settings.index, similarity=settings.similarity,
                                  chunk_tokens=settings.chunk_tokens)
    from embedscope.models import load_model

    for m in todo:
        click.echo(f"[{m.name}] timing {min(queries, len(dataset.queries))} single queries", err=True)
        try:
            model = load_model(m.spec)
            model.name = m.name
            if results.task == "retrieval":
                known[m.name] = query_latency(model, dataset, context, queries=queries, k=settings.k or 10)
            elif not hasattr(model, "encode_queries"):
                known[m.name] = {"unknown": f"{m.name} embeds no text, so it has no encoding latency"}
            else:
                known[m.name] = {"query_latency_ms": measure_latency(model.encode_queries,
                                                                    (dataset.query_texts or dataset.doc_texts)[:queries],
                                                                    warmup=3),
                                 "method": "one text at a time, embedded (a task run has no search)"}
        except ValueError as e:
            known[m.name] = {"unknown": f"latency not measured: {e}"}
    from embedscope.report.outputs import atomic_write

    atomic_write(path, json.dumps(known, indent=2))
    return known
