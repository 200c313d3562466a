from __future__ import annotations

from pathlib import Path

import click

from embedscope.config import ConfigError, load_config


def load_data(config: dict):
    from embedscope.data import load_beir, load_tables

    if config.get("corpus"):
        if not config.get("queries"):
            raise ConfigError("--corpus needs --queries too")
        dataset = load_tables(config["corpus"], config["queries"], config.get("qrels"),
                              columns=config.get("columns"), name=config.get("name"))
    else:
        if not config.get("data"):
            raise ConfigError("name a dataset with --data DIR (BEIR folder) or --corpus/--queries tables")
        dataset = load_beir(config["data"], split=config.get("split", "test"), name=config.get("name"))
    if config.get("max_queries") or config.get("max_docs"):
        dataset = dataset.subset(config.get("max_queries"), config.get("max_docs"))
    if config.get("judgments"):
        dataset = add_judgments(dataset, config["judgments"])
    return dataset


def add_judgments(dataset, paths):
    """Merge judged pairs (graded qrels, e.g. saved by `embedscope serve`) into the dataset's qrels.

    A judgment replaces the dataset's grade for the same pair. Pairs whose query or document is not in
    this dataset (another subset, another corpus) cannot be scored here and are left out, with a note.
    """
    import dataclasses

    from embedscope.data import DataError
    from embedscope.judgments import merge_qrels, read_judgments

    extra, dropped = {}, 0
    for path in [paths] if isinstance(paths, str) else paths:
        if not Path(path).exists():
            raise DataError(path, "judgments file not found")
        for qid, rels in read_judgments(path).items():
            for did, grade in rels.items():
                if qid in dataset.queries and did in dataset.corpus:
                    extra.setdefault(qid, {})[did] = grade
                else:
                    dropped += 1
    if dropped:
        click.echo(f"judgments: {dropped} pair(s) name queries or documents not in this dataset; left out", err=True)
    return dataclasses.replace(dataset, qrels=merge_qrels(dataset.qrels, extra))


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config; options below override it.")
@click.option("--data", help="BEIR folder: corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv.")
@click.option("--split", help="qrels split to evaluate [test].")
@click.option("--corpus", help="Corpus table (JSONL/CSV/Parquet) instead of --data.")
@click.option("--queries", help="Queries table, with --corpus.")
@click.option("--qrels", help="Qrels table or TSV, with --corpus (optional).")
@click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
              help="Column mapping for tables, e.g. doc_text=body, query_id=qid (repeatable).")
@click.option("--model", "-m", "models", multiple=True, help="Model spec (repeatable): minilm, wordllama, bm25, st:PATH, ...")
@click.option("--k", type=int, help="Metric cutoff: nDCG@k, recall@k, ... [10].")
@click.option("--depth", type=int, help="How many hits to retrieve per query [100].")
@click.option("--metric", "metrics", multiple=True, help="Metrics to report, e.g. ndcg@10 (repeatable).")
@click.option("--index", help="Vector index spec: exact, faiss:..., a vector database, or streaming[:IVF...] to search from the cache [exact].")
@click.option("--similarity", type=click.Choice(["cosine", "dot", "l2"]), help="Vector similarity [cosine].")
@click.option("--judgments", multiple=True, type=click.Path(dir_okay=False),
              help="Extra graded qrels merged over the dataset's, e.g. RUN_DIR/judgments/qrels.tsv (repeatable).")
@click.option("--chunk-tokens", type=int, help="Split documents into chunks of about N tokens; a doc scores as its best chunk.")
@click.option("--reference", "references", multiple=True, type=click.Path(),
              help="MTEB result JSON file or folder: published scores shown beside yours (repeatable).")
@click.option("--reference-task", help="MTEB task to compare with [guessed from the dataset name].")
@click.option("--max-queries", type=int, help="Evaluate a sample of this many queries (quick look).")
@click.option("--max-docs", type=int, help="Keep at most this many docs (judged docs always kept).")
@click.option("--output", "-o", help="Folder that receives run directories [embedscope-runs].")
@click.option("--cache", help="Embedding cache folder [.embedscope-cache].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def command(config_path, columns, quiet, **options):
    """Compare models on a dataset: retrieve, score, and write a run directory."""
    from embedscope import progress
    from embedscope.compare import compare
    from embedscope.report import new_run_dir, print_leaderboard, write_outputs

    progress.set_enabled(not quiet)
    config = load_config(config_path)
    for key, value in options.items():
        if value not in (None, ()):
            config[key] = list(value) if isinstance(value, tuple) else value
    if columns:
        config["columns"] = dict(_pair(c) for c in columns)
    dataset = load_data(config)
    click.echo(f"dataset {dataset.name}: {len(dataset.corpus):,} docs, {len(dataset.queries):,} queries", err=True)
    if not dataset.has_qrels:
        click.echo("no qrels: runs are written; for metrics, judge a pool (`embedscope pool`, `embedscope serve`)", err=True)
    # Made before the work, so an unwritable output folder fails in a second, not after an hour of embedding.
    run_dir = new_run_dir(config["output"], dataset.name)
    try:
        comparison = compare(
            dataset, config["models"], k=config["k"], depth=config["depth"], metrics=config.get("metrics"),
            cache_dir=config["cache"], index=config["index"], similarity=config["similarity"],
            chunk_tokens=config.get("chunk_tokens"), log=lambda msg: click.echo(msg, err=True) if not quiet else None,
        )
    except BaseException:
        if not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    # Paths are recorded absolute, so the run directory can be read back (report, serve) from anywhere.
    source = {key: config.get(key) for key in ("split", "columns", "max_queries", "max_docs")}
    for key in ("data", "corpus", "queries", "qrels"):
        source[key] = str(Path(config[key]).resolve()) if config.get(key) else None
    if config.get("judgments"):
        source["judgments"] = [str(Path(p).resolve()) for p in config["judgments"]]
    comparison.settings["source"] = source
    comparison.settings["reference_paths"] = [str(Path(p).resolve()) for p in config.get("references") or []]
    comparison.settings["reference_task"] = config.get("reference_task")
    write_outputs(comparison, run_dir)
    print_leaderboard(comparison)
    click.echo(f"results in {run_dir}")
    return run_dir


def _pair(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep or not role or not name:
        raise click.BadParameter(f"'{text}' is not ROLE=NAME", param_hint="--column")
    return role, name
