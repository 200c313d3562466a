"""`embedscope bench`: speed, footprint and cost of models on a dataset, on this machine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from embedscope.cli import options


@dataclasses.dataclass
class LoadTest:
    """--load-test: an OpenAI-compatible server hit by concurrent clients."""

    load_url: str | None
    load_model: str
    batch: int
    concurrency: int
    n_requests: int
    duration: float


def _json_file(value: str | None) -> bool:
    return value is not None and value.endswith(".json")


@options.command("bench", aliases=(options.Alias("-o", "--perf-file", _json_file),
                                   options.Alias("--output", "--perf-file", _json_file)))
@options.shared(*options.DATA, "models", *options.STORAGE)
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory: take its dataset and models, write perf.json there.")
@click.option("--perf-file", type=click.Path(dir_okay=False),
              help="Write the perf JSON here [RUN_DIR/perf.json, or perf.json in a new run directory under --output].")
@click.option("--latency-queries", type=int, default=100, show_default=True, help="Single-query calls timed for latency.")
@click.option("--prices", "prices_path", type=click.Path(dir_okay=False), help="Your own price table (layout of the bundled prices.yaml).")
@click.option("--scale", "scales", type=int, multiple=True, help="Corpus sizes for the cost table [10k 100k 1M 2.5M + yours].")
@click.option("--versus", help="API row for the break-even column [the cheapest API].")
@click.option("--load-test", "load_url", help="Also load-test an OpenAI-compatible server on loopback, e.g. http://127.0.0.1:8000/v1.")
@click.option("--load-model", default="default", show_default=True, help="Model name sent to --load-test.")
@click.option("--batch-size", "batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Texts per --load-test request.")
@click.option("--concurrency", type=int, default=4, show_default=True, help="Requests in flight during --load-test.")
@click.option("--requests", "n_requests", type=int, default=200, show_default=True, help="Requests sent by --load-test (at most).")
@click.option("--duration", type=float, default=30.0, show_default=True, help="Seconds --load-test runs (at most).")
@options.gather("load", LoadTest)
def command(settings, run_dir, perf_file, latency_queries, prices_path, scales, versus, load):
    """Measure encode throughput, query latency, memory, footprint and cost for each model.

    --max-docs times encoding on that many documents; costs still use the whole corpus. With --load-test and no
    -m, only the server is load-tested (with the dataset's queries as texts): no local model is loaded.
    """
    from embedscope.perf.bench import bench
    from embedscope.perf.cost import SCALES, load_prices
    from embedscope.perf.tables import print_perf
    from embedscope.report.outputs import atomic_write, new_run_dir, staged
    from embedscope.runs.context import RetrievalContext

    log = options.say(settings)
    models = settings["models"] if "models" in settings["named"] else None
    if run_dir:
        from embedscope.rundir import read_dataset, read_results

        results = read_results(run_dir)
        dataset = read_dataset(run_dir, results)
        models = models or [m.spec for m in results.ok_models]
        # retrievers are timed as the run searched: its cache, index and similarity
        run = results.settings
        context = RetrievalContext.of(run.cache or None, index=run.index, similarity=run.similarity)
    else:
        from embedscope.data import load_from

        dataset = load_from({**settings, "max_docs": None})  # costs are for the whole corpus
        context = RetrievalContext(settings["cache"])
        if models is None and not load.load_url:
            models = settings["models"]
    if models:
        perf = bench(dataset, list(models), prices=load_prices(prices_path), scales=scales or SCALES,
                     latency_queries=latency_queries, max_docs=settings.get("max_docs"), reference_api=versus, log=log,
                     context=context)
    else:  # a load test alone: the served model is the one measured
        from embedscope.perf.bench import server_only

        perf = server_only(dataset)
    if load.load_url:
        from embedscope.perf.loadtest import load_test

        log(f"load test: {load.concurrency} concurrent clients, {load.batch} text(s) per request, up to "
            f"{load.n_requests} requests / {load.duration:g} s against {load.load_url}")
        perf["load_test"] = load_test(load.load_url, dataset.query_texts, model=load.load_model, batch=load.batch,
                                      concurrency=load.concurrency, requests=load.n_requests, duration_s=load.duration)
    text = json.dumps(perf, indent=2, default=str)
    if perf_file or run_dir:
        target = Path(perf_file) if perf_file else Path(run_dir) / "perf.json"
        atomic_write(target, text)
    else:
        with staged(new_run_dir(settings["output"], f"bench-{dataset.name}")) as out:
            (out.folder / "perf.json").write_text(text, encoding="utf-8")
        target = out.path / "perf.json"
    print_perf(perf)
    click.echo(f"perf results in {target}")
