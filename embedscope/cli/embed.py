"""`embedscope embed`: fill the embedding cache for a corpus, locally or on a Dask or Ray cluster.

Later `embedscope run` with the same model and cache finds every vector cached and embeds nothing. Stopping
(Ctrl-C, a lost worker, --max-shards) keeps the shards already written; run the same command again to finish.
"""

from __future__ import annotations

import dataclasses
import re

import click

from embedscope.cli import options


@dataclasses.dataclass
class Engine:
    """Where the texts are embedded."""

    engine: str
    workers: int
    address: str | None
    gpus_per_worker: float | None


@dataclasses.dataclass
class Export:
    """Vectors written out for use as precomputed:FILE."""

    export_docs: str | None
    export_queries: str | None
    column: str | None


def _not_a_mapping(value: str | None) -> bool:
    return value is not None and "=" not in value


@options.command("embed", aliases=(options.Alias("--column", "--export-column", _not_a_mapping),))
@options.shared(*options.DATA, "models", "cache", fallback={"models": ["minilm"]})
@click.option("--engine", type=click.Choice(["local", "dask", "ray"]), default="local", show_default=True,
              help="Where to embed: this process, a Dask cluster or a Ray cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Workers (Dask processes / Ray actors), each with its own copy of the model.")
@click.option("--address", help="Join a running cluster: Dask scheduler 'tcp://HOST:8786', Ray 'auto' or "
                                "'ray://HOST:10001'. Without it a local cluster is started on 127.0.0.1.")
@click.option("--gpus-per-worker", type=float, help="Ray: GPUs per actor [1 when the cluster has GPUs, else 0].")
@click.option("--shard-size", type=click.IntRange(min=1), default=2048, show_default=True,
              help="Texts per task; each finished task is one cache shard.")
@click.option("--max-shards", type=click.IntRange(min=1), help="Stop after N shards (run again to continue).")
@click.option("--no-queries", is_flag=True, help="Embed documents only.")
@click.option("--export", "export_docs", type=click.Path(dir_okay=False),
              help="Also write the document vectors to this Parquet file (a column per model: run again with another "
                   "model to add its column), for use as precomputed:FILE.")
@click.option("--export-queries", type=click.Path(dir_okay=False), help="The same for the query vectors.")
@click.option("--export-column", "column", help="Vector column name in the exported files [emb_ + the model's name].")
@options.gather("where", Engine)
@options.gather("export", Export)
def command(settings, where, shard_size, max_shards, no_queries, export) -> None:
    """Embed a corpus into the cache, resumably, on one machine or a cluster.

    The cache must be reachable from every worker (a shared filesystem on a cluster); --max-docs embeds only the
    first N documents.
    """
    from embedscope.cache import EmbeddingCache
    from embedscope.data import load_from
    from embedscope.distributed import embed, make_engine

    if where.address and where.engine == "local":
        raise click.UsageError("--address joins a cluster; use it with --engine dask or --engine ray")
    if where.gpus_per_worker is not None and where.engine != "ray":
        raise click.UsageError("--gpus-per-worker applies to --engine ray")
    spec, cache, max_docs = options.one_model(settings, "embed"), settings["cache"], settings.get("max_docs")
    dataset = load_from({**settings, "max_docs": None})  # the first N documents, not a sample around the judged ones
    documents = dataset.doc_texts[:max_docs] if max_docs else dataset.doc_texts
    texts = {"document": documents} if no_queries else {"document": documents, "query": dataset.query_texts}
    store = EmbeddingCache(cache, shard_size=shard_size)
    extra = {"gpus_per_worker": where.gpus_per_worker} if where.gpus_per_worker is not None else {}
    with make_engine(where.engine, workers=where.workers, address=where.address, **extra) as runner:
        click.echo(f"embedding with {spec} on {runner.describe()}", err=True)
        report = embed(runner, spec, texts, store, shard_size=shard_size, max_tasks=max_shards)
    work = report.plan
    click.echo(f"model fingerprint {report.fingerprint}", err=True)
    for role in work.unique:
        click.echo(f"{role}: {work.unique[role]:,} unique texts, {work.cached[role]:,} were cached", err=True)
    rate = f" ({report.texts_per_second:,.0f} texts/s)" if report.encoded else ""
    click.echo(f"embedded {report.encoded:,} texts in {len(report.results)} shard(s), {report.seconds:.1f}s{rate}")
    left = sum(work.unique.values()) - sum(work.cached.values()) - report.encoded
    if left:
        click.echo(f"{left:,} texts left: run the same command again to continue", err=True)
    else:
        click.echo(f"cache complete: {store.root / report.fingerprint}")
    exports = [(path, role, ids, role_texts) for path, role, ids, role_texts in (
        (export.export_docs, "document", dataset.doc_ids[: len(documents)], documents),
        (export.export_queries, "query", dataset.query_ids, dataset.query_texts)) if path]
    if exports and left:
        raise click.UsageError("the cache is not complete yet: run the command again before exporting")
    for path, role, ids, role_texts in exports:
        import numpy as np

        from embedscope.cache import text_key
        from embedscope.models.precomputed import write_vectors

        cached = store.load(report.fingerprint, role)
        name = export.column or "emb_" + re.sub(r"[^A-Za-z0-9_]+", "_", spec.split("?")[0]).strip("_")
        write_vectors(path, ids, np.stack([cached[text_key(t)] for t in role_texts]), name)
        click.echo(f"{role} vectors written to {path}, column {name}", err=True)
