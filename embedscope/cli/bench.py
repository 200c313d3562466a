"""`embedscope bench`: speed, footprint and cost of models on a dataset, on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("bench")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory: take its dataset and models, write perf.json there.")
@click.option("--data", help="BEIR folder (instead of --run-dir).")
@click.option("--split", default="test", show_default=True, help="qrels split, with --data.")
@click.option("--model", "-m", "models", multiple=True, help="Model spec (repeatable); default: the run directory's models.")
@click.option("--max-docs", type=int, help="Time encoding on at most this many documents (costs still use the whole corpus).")
@click.option("--latency-queries", type=int, default=100, show_default=True, help="Single-query calls timed for latency.")
@click.option("--prices", "prices_path", type=click.Path(dir_okay=False), help="Your own price table (layout of the bundled prices.yaml).")
@click.option("--scale", "scales", type=int, multiple=True, help="Corpus sizes for the cost table [10k 100k 1M 2.5M + yours].")
@click.option("--versus", help="API row for the break-even column [the cheapest API].")
@click.option("--load-test", "load_url", help="Also load-test an OpenAI-compatible server on loopback, e.g. http://127.0.0.1:8000/v1.")
@click.option("--load-model", default="default", show_default=True, help="Model name sent to --load-test.")
@click.option("--concurrency", type=int, default=4, show_default=True, help="Requests in flight during --load-test.")
@click.option("--requests", "n_requests", type=int, default=200, show_default=True, help="Requests sent by --load-test (at most).")
@click.option("--duration", type=float, default=30.0, show_default=True, help="Seconds --load-test runs (at most).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write perf JSON here [RUN_DIR/perf.json or perf.json].")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
def command(run_dir, data, split, models, max_docs, latency_queries, prices_path, scales, versus, load_url, load_model,
            concurrency, n_requests, duration, output, quiet):
    """Measure encode throughput, query latency, memory, footprint and cost for each model."""
    from embedscope.perf.bench import bench
    from embedscope.perf.cost import SCALES, load_prices
    from embedscope.perf.tables import print_perf

    from embedscope.runs.context import RetrievalContext

    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    context = RetrievalContext()
    if run_dir:
        from embedscope.rundir import read_dataset, read_results

        results = read_results(run_dir)
        dataset = read_dataset(run_dir, results)
        models = models or tuple(m.spec for m in results.ok_models)
        # retrievers are timed as the run searched: its cache, index and similarity
        settings = results.settings
        context = RetrievalContext.of(settings.cache or None, index=settings.index, similarity=settings.similarity)
    elif data:
        from embedscope.data import load

        dataset = load(data, split=split)
    else:
        raise click.UsageError("name the data: --run-dir RUN_DIR or --data BEIR_FOLDER")
    if not models:
        raise click.UsageError("name at least one --model")
    prices = load_prices(prices_path)
    perf = bench(dataset, list(models), prices=prices, scales=scales or SCALES, latency_queries=latency_queries,
                 max_docs=max_docs, reference_api=versus, log=log, context=context)
    if load_url:
        from embedscope.perf.loadtest import load_test

        log(f"load test: {concurrency} concurrent clients, up to {n_requests} requests / {duration:g} s against {load_url}")
        perf["load_test"] = load_test(load_url, dataset.query_texts, model=load_model, concurrency=concurrency,
                                      requests=n_requests, duration_s=duration)
    target = Path(output) if output else (Path(run_dir) / "perf.json" if run_dir else Path("perf.json"))
    from embedscope.report.outputs import atomic_write

    atomic_write(target, json.dumps(perf, indent=2, default=str))
    print_perf(perf)
    click.echo(f"perf results in {target}")
