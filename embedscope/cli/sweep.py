"""`embedscope sweep compression|ann`: one model's cached vectors searched many ways, scored on the task."""

from __future__ import annotations

import click


def _shared_options(fn):
    """Data, model and output options both sweeps take."""
    options = [
        click.option("--data", help="BEIR folder: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv [SciFact]."),
        click.option("--split", help="qrels split to evaluate [test]."),
        click.option("--model", "-m", "models", multiple=True,
                     help="Dense model spec (repeatable): minilm, tokenlearn, st:PATH, ... [minilm]."),
        click.option("--similarity", type=click.Choice(["cosine", "dot", "l2"]), help="Vector similarity [cosine]."),
        click.option("--max-queries", type=int, help="Evaluate a sample of this many queries."),
        click.option("--max-docs", type=int, help="Keep at most this many docs (judged docs always kept)."),
        click.option("--output", "-o", help="Folder that receives run directories [embedscope-runs]."),
        click.option("--cache", help="Embedding cache folder [.embedscope-cache]."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _config(options: dict) -> dict:
    from embedscope.config import load_config

    config = load_config(None)
    config["models"] = ["minilm"]
    for key, value in options.items():
        if value not in (None, ()):
            config[key] = list(value) if isinstance(value, tuple) else value
    return config


def _vectors(config: dict, quiet: bool):
    """The dataset and, per model, its document and query vectors from the embedding cache (embedded once)."""
    from embedscope import progress
    from embedscope.data import load_from
    from embedscope.models.preflight import load_checked
    from embedscope.runs.context import RetrievalContext
    from embedscope.runs.dense import dense_vectors

    if quiet:  # the command's own -q, as `embedscope -q`
        progress.configure(-1)
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


@command.command("compression")
@_shared_options
@click.option("--dims", help="Matryoshka truncation dims, comma-separated [512,256,128,64 below the model's].")
@click.option("--option", "compressions", multiple=True,
              help="Options to score instead of the defaults (repeatable): float16, int8, binary, binary+rescore, "
                   "binary+rescore-float, dim256, dim256+int8, ...")
@click.option("--rescore", type=click.IntRange(1), default=4, show_default=True,
              help="Binary rescoring: candidates fetched by Hamming per hit kept.")
@click.option("--metric", "metrics", multiple=True, help="Metrics, the first one headlines [ndcg@10, recall@100].")
@click.option("--depth", type=int, default=100, show_default=True, help="Hits retrieved per query.")
@click.option("--resamples", type=click.IntRange(100), default=10_000, show_default=True,
              help="Bootstrap resamples for the interval of each delta.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
def compression(dims, compressions, rescore, metrics, depth, resamples, seed, quiet, **options):
    """nDCG lost to float16, int8, binary (with/without rescoring) and Matryoshka truncation, vs float32."""
    from embedscope.sweeps import compression_sweep, default_options, parse_option
    from embedscope.sweeps.compression import MATRYOSHKA_DIMS
    from embedscope.report.outputs import staged
    from embedscope.sweeps.report import print_compression, write_compression

    config = _config(options)
    dim_list = _numbers(dims, "--dims") or list(MATRYOSHKA_DIMS)
    metrics = list(metrics) or ["ndcg@10", "recall@100"]
    given = [parse_option(c, rescore) for c in compressions]  # bad options fail before any embedding
    sweeps, dataset = [], None
    for dataset, name, docs, queries in _vectors(config, quiet):
        chosen = given or default_options(docs.shape[1], dim_list, rescore)
        click.echo(f"[{name}] {len(chosen)} options over {docs.shape[1]}-dim vectors", err=True)
        sweep = compression_sweep(dataset, docs, queries, model=name, options=chosen, similarity=config["similarity"],
                                  metrics=metrics, depth=depth, resamples=resamples, seed=seed)
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


@command.command("ann")
@_shared_options
@click.option("--grid", "grid_name", type=click.Choice(["default", "quick"]), default="default", show_default=True,
              help="Index grid: HNSW32 x efSearch, IVF-Flat and IVF-PQ x nprobe, sized to the corpus.")
@click.option("--index", "indexes", multiple=True,
              help="Index specs to sweep instead of the grid (repeatable), e.g. faiss:HNSW32,efSearch=64.")
@click.option("--k", type=int, default=10, show_default=True, help="Cutoff for recall vs exact and nDCG@k.")
@click.option("--threads", type=click.IntRange(0), default=1, show_default=True,
              help="faiss threads while timing (0 = all cores).")
@click.option("--min-seconds", type=float, default=0.2, show_default=True,
              help="Each QPS figure is the best of passes lasting this long in all.")
def ann(grid_name, indexes, k, threads, min_seconds, quiet, **options):
    """Recall vs QPS, build time and memory of faiss HNSW / IVF-Flat / IVF-PQ, plus task nDCG."""
    from embedscope.sweeps import ann_sweep
    from embedscope.report.outputs import staged
    from embedscope.sweeps.report import print_ann, write_ann

    config = _config(options)
    sweeps, dataset = [], None
    for dataset, name, docs, queries in _vectors(config, quiet):
        click.echo(f"[{name}] sweeping {'given indexes' if indexes else grid_name + ' grid'}", err=True)
        sweep = ann_sweep(dataset, docs, queries, model=name, specs=list(indexes) or None, grid_name=grid_name,
                          similarity=config["similarity"], k=k, threads=threads or None, min_seconds=min_seconds)
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
