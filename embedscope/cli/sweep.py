"""`embedscope sweep compression|ann`: one model's cached vectors searched many ways, scored on the task."""

from __future__ import annotations

import click

from embedscope.cli import options


SHARED = (*options.DATA, "models", "similarity", *options.STORAGE)


def _vectors(config: dict):
    """The dataset and, per model, its document and query vectors from the embedding cache (embedded once)."""
    from embedscope.data import load_from
    from embedscope.models.preflight import load_checked
    from embedscope.runs.context import RetrievalContext
    from embedscope.runs.dense import dense_vectors

    dataset = load_from(config)
    if not dataset.has_qrels:
        raise ValueError(f"dataset {dataset.name} has no qrels: sweeps score each option on the task")
    click.echo(f"dataset {dataset.name}: {len(dataset.corpus):,} docs, {len(dataset.queries):,} queries", err=True)
    context = RetrievalContext(config["cache"], similarity=config["similarity"])
    models = load_checked(config["models"])  # every model built and checked first; all problems at once
    for model in models:
        docs, queries, _ = dense_vectors(model, dataset, context)
        yield dataset, model.name, docs, queries


def _numbers(text: str | None, option: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a comma-separated list of whole numbers", param_hint=option)


def _run_dir(config: dict, dataset):
    from embedscope.report import new_run_dir

    return new_run_dir(config["output"], dataset.name)


@click.group("sweep")
def command() -> None:
    """Quality vs storage and speed: compressed vectors and approximate (faiss) indexes."""


@command.command("compression", cls=options.Command)
@options.shared(*SHARED, "depth", "metrics", fallback={"models": ["minilm"]})
@click.option("--dims", help="Matryoshka truncation dims, comma-separated [512,256,128,64 below the model's].")
@click.option("--option", "compressions", multiple=True,
              help="Options to score instead of the defaults (repeatable): float16, int8, binary, binary+rescore, "
                   "binary+rescore-float, dim256, dim256+int8, ...")
@click.option("--rescore", type=click.IntRange(1), default=4, show_default=True,
              help="Binary rescoring: candidates fetched by Hamming per hit kept.")
@click.option("--resamples", type=click.IntRange(100), default=10_000, show_default=True,
              help="Bootstrap resamples for the interval of each delta.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
def compression(settings, dims, compressions, rescore, resamples, seed):
    """nDCG lost to float16, int8, binary (with/without rescoring) and Matryoshka truncation, vs float32.

    --metric defaults to ndcg@10 and recall@100.
    """
    from embedscope.sweeps import compression_sweep, default_options, parse_option
    from embedscope.sweeps.compression import MATRYOSHKA_DIMS, Bootstrap
    from embedscope.report.outputs import staged
    from embedscope.sweeps.report import print_compression, write_compression

    config, depth = settings, settings["depth"]
    dim_list = _numbers(dims, "--dims") or list(MATRYOSHKA_DIMS)
    metrics = settings.get("metrics") or ["ndcg@10", "recall@100"]
    given = [parse_option(c, rescore) for c in compressions]  # bad options fail before any embedding
    sweeps, dataset = [], None
    for dataset, name, docs, queries in _vectors(config):
        chosen = given or default_options(docs.shape[1], dim_list, rescore)
        click.echo(f"[{name}] {len(chosen)} options over {docs.shape[1]}-dim vectors", err=True)
        sweep = compression_sweep(dataset, docs, queries, model=name, options=chosen, similarity=config["similarity"],
                                  metrics=metrics, depth=depth, bootstrap=Bootstrap(resamples, seed=seed))
        print_compression(sweep)
        sweeps.append(sweep)
    settings = {"similarity": config["similarity"], "depth": depth, "rescore": rescore, "resamples": resamples,
                "seed": seed, "models": config["models"], "data": config.get("data"), "split": config.get("split"),
                "max_queries": config.get("max_queries"), "max_docs": config.get("max_docs")}
    with staged(_run_dir(config, dataset)) as out:
        write_compression(out.folder, dataset, sweeps, settings)
    run_dir = out.path
    click.echo(f"results in {run_dir}")
    return run_dir


@command.command("ann", cls=options.Command, aliases=(options.Alias("--index", "--index-spec"),))
@options.shared(*SHARED, "k", fallback={"models": ["minilm"]})
@click.option("--grid", "grid_name", type=click.Choice(["default", "quick"]), default="default", show_default=True,
              help="Index grid: HNSW32 x efSearch, IVF-Flat and IVF-PQ x nprobe, sized to the corpus.")
@click.option("--index-spec", "indexes", multiple=True,
              help="Index specs to sweep instead of the grid (repeatable), e.g. faiss:HNSW32?efSearch=64.")
@click.option("--threads", type=click.IntRange(0), default=1, show_default=True,
              help="faiss threads while timing (0 = all cores).")
@click.option("--min-seconds", type=float, default=0.2, show_default=True,
              help="Each QPS figure is the best of passes lasting this long in all.")
def ann(settings, grid_name, indexes, threads, min_seconds):
    """Recall vs QPS, build time and memory of faiss HNSW / IVF-Flat / IVF-PQ, plus task nDCG.

    --k is the cutoff of recall vs exact search and of nDCG@k.
    """
    from embedscope.sweeps import ann_sweep
    from embedscope.sweeps.ann import Timing
    from embedscope.report.outputs import staged
    from embedscope.sweeps.report import print_ann, write_ann

    config, k = settings, settings["k"]
    sweeps, dataset = [], None
    for dataset, name, docs, queries in _vectors(config):
        click.echo(f"[{name}] sweeping {'given indexes' if indexes else grid_name + ' grid'}", err=True)
        sweep = ann_sweep(dataset, docs, queries, model=name, specs=list(indexes) or None, grid_name=grid_name,
                          similarity=config["similarity"], k=k, timing=Timing(threads or None, min_seconds))
        print_ann(sweep)
        sweeps.append(sweep)
    settings = {"similarity": config["similarity"], "k": k, "grid": None if indexes else grid_name,
                "indexes": list(indexes), "threads": threads, "min_seconds": min_seconds, "models": config["models"],
                "data": config.get("data"), "split": config.get("split"),
                "max_queries": config.get("max_queries"), "max_docs": config.get("max_docs")}
    with staged(_run_dir(config, dataset)) as out:
        write_ann(out.folder, dataset, sweeps, settings)
    run_dir = out.path
    click.echo(f"results in {run_dir}")
    return run_dir
