"""`embedscope recommend RUN_DIR`: the best model under your constraints, and why not the others."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("recommend")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--max-latency-ms", type=float, help="Single-query latency limit (measured p95, ms).")
@click.option("--max-cost", type=float, help="Budget in USD to embed --scale texts.")
@click.option("--max-dim", type=int, help="Largest vector dimension allowed.")
@click.option("--language", help="Language the model must declare (ISO code like en, zh; multilingual models qualify).")
@click.option("--scale", type=int, help="Texts the budget covers [the run's corpus size].")
@click.option("--metric", help="Quality metric [the run's main metric].")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendation as JSON.")
def command(run_dir, max_latency_ms, max_cost, max_dim, language, scale, metric, as_json):
    """Pick the best model of a run directory under constraints (needs perf.json from `embedscope bench --run-dir`)."""
    from embedscope.recommend import candidates_from, recommend
    from embedscope.perf.tables import print_recommendation
    from embedscope.rundir import read_results

    results = read_results(run_dir)
    perf_path = Path(run_dir) / "perf.json"
    needs_perf = max_latency_ms is not None or max_cost is not None
    if not perf_path.exists():
        if needs_perf:
            raise click.UsageError(f"{perf_path} not found: run `embedscope bench --run-dir {run_dir}` first "
                                   "(latency and cost limits need measurements)")
        perf = None
    else:
        perf = json.loads(perf_path.read_text(encoding="utf-8"))
    if metric and metric not in results.metrics:
        raise click.BadParameter(f"{metric} not in this run ({', '.join(results.metrics)})", param_hint="--metric")
    candidates, metric, scale = candidates_from(results, perf, metric=metric, scale=scale)
    advice = recommend(candidates, max_latency_ms=max_latency_ms, max_cost=max_cost, max_dim=max_dim, language=language)
    advice |= {"metric": metric, "scale": scale}
    if as_json:
        click.echo(json.dumps(advice, indent=2))
    else:
        print_recommendation(advice)
