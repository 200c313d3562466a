from __future__ import annotations

from pathlib import Path

import click

from embedscope.config import load_config


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config; options below override it.")
@click.option("--task", help="Task: retrieval (default), classification, sts, pairs, clustering or reranking; options "
                             "follow like a model's, e.g. classification?samples_per_label=16.")
@click.option("--data", help="Dataset name (beir:scifact, or one added with `embedscope datasets add`) or BEIR folder: "
                            "corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv [beir:scifact]. For other tasks: a "
                            "table (CSV/TSV/JSONL/Parquet), a folder with one table per split, or a registered name.")
@click.option("--train", help="Training table for --task classification [the data folder's train table].")
@click.option("--no-header", "no_header", is_flag=True, default=None,
              help="Task tables (CSV/TSV) have no header row: columns are read in the task's role order.")
@click.option("--split", help="qrels split to evaluate [test].")
@click.option("--corpus", help="Corpus table (JSONL/CSV/Parquet) instead of --data.")
@click.option("--queries", help="Queries table, with --corpus.")
@click.option("--qrels", help="Qrels table or TSV, with --corpus (optional).")
@click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
              help="Column mapping for tables, e.g. doc_text=body, query_id=qid (repeatable).")
@click.option("--model", "-m", "models", multiple=True, help="Model spec (repeatable): minilm, wordllama, bm25, st:PATH, ...")
@click.option("--k", type=click.IntRange(min=1), help="Metric cutoff: nDCG@k, recall@k, ... [10].")
@click.option("--depth", type=click.IntRange(min=1), help="How many hits to retrieve per query [100].")
@click.option("--metric", "metrics", multiple=True, help="Metrics to report, e.g. ndcg@10 (repeatable).")
@click.option("--index", help="Vector index spec: exact, faiss:..., a vector database, or streaming[:IVF...] to search from the cache [exact].")
@click.option("--similarity", type=click.Choice(["cosine", "dot", "l2"]), help="Vector similarity [cosine].")
@click.option("--bad-vectors", type=click.Choice(["stop", "record"]),
              help="A model returns a NaN, infinite or (under cosine) all-zero vector: stop the run naming the text, "
                   "or record it as a failure and leave that text out [stop].")
@click.option("--judgments", multiple=True, type=click.Path(dir_okay=False),
              help="Extra graded qrels merged over the dataset's, e.g. RUN_DIR/judgments/qrels.tsv (repeatable).")
@click.option("--chunk-tokens", type=click.IntRange(min=1), help="Split documents into chunks of about N tokens; a doc scores as its best chunk.")
@click.option("--reference", "references", multiple=True, type=click.Path(),
              help="MTEB result JSON file or folder: published scores shown beside yours (repeatable).")
@click.option("--reference-task", help="MTEB task to compare with [guessed from the dataset name].")
@click.option("--reference-split", help="Published split to show, e.g. dev (C-MTEB) [test, else dev, else validation].")
@click.option("--reference-subset", help="Language subset of a multilingual task, e.g. zh [default, else the mean].")
@click.option("--max-queries", type=click.IntRange(min=1), help="Evaluate a sample of this many queries (quick look).")
@click.option("--max-docs", type=click.IntRange(min=1), help="Keep at most this many docs (judged docs always kept).")
@click.option("--max-rows", type=click.IntRange(min=1),
              help="Other tasks: evaluate only the first N rows, pairs or queries (quick look).")
@click.option("--fast", is_flag=True, default=None,
              help="Encode local transformer models with the fastest runtime within 0.5% nDCG@10 of fp32 (int8, bf16 "
                   "where the CPU has it), calibrated on your documents; its loss is measured on a sample first.")
@click.option("--output", "-o", help="Folder that receives run directories [embedscope-runs].")
@click.option("--cache", help="Embedding cache folder [.embedscope-cache].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages (as `embedscope -q`).")
@click.option("--verbose", "-v", count=True, help="Libraries' logs and errors' tracebacks (as `embedscope -v`).")
def command(config_path, columns, quiet, verbose, **options):
    """Compare models on a dataset: retrieve, score, and write a run directory."""
    from embedscope import progress
    from embedscope.cli.errors import exit_partial, require_results
    from embedscope.cache import EmbeddingCache
    from embedscope.compare import compare
    from embedscope.data import SOURCE_KEYS, load_from
    from embedscope.data.named import is_name
    from embedscope.report import new_run_dir, print_leaderboard, write_outputs

    if quiet or verbose:  # the command's own -q/-v, as `embedscope -q/-v`
        from embedscope.cli import errors

        progress.configure(-1 if quiet else verbose)
        errors.verbose = errors.verbose or verbose > 0
    quiet = progress.is_quiet()
    config = load_config(config_path)
    for key, value in options.items():
        if value not in (None, ()):
            config[key] = list(value) if isinstance(value, tuple) else value
    if columns:
        config["columns"] = dict(_pair(c) for c in columns)
    if (config.get("task") or "retrieval") != "retrieval":
        from embedscope.cli.task_run import run_task

        return run_task(config, given_data=bool(options.get("data") or config_path), quiet=quiet)
    dataset = load_from(config)
    if not quiet:
        click.echo(f"dataset {dataset.name}: {len(dataset.corpus):,} docs, {len(dataset.queries):,} queries", err=True)
    if not dataset.has_qrels:
        click.echo("no qrels: runs are written; for metrics, judge a pool (`embedscope pool`, `embedscope serve`)", err=True)
    # Checked before the work, so an unwritable output folder fails in a second, not after an hour of embedding;
    # the run directory itself appears only when complete.
    run_dir = new_run_dir(config["output"], dataset.name)
    cache = EmbeddingCache(config["cache"], bad_vectors=config.get("bad_vectors") or "stop")
    comparison = compare(
        dataset, config["models"], k=config["k"], depth=config["depth"], metrics=config.get("metrics"),
        cache_dir=cache, index=config["index"], similarity=config["similarity"],
        chunk_tokens=config.get("chunk_tokens"), fast=bool(config.get("fast")),
        log=lambda msg: click.echo(msg, err=True) if not quiet else None,
    )
    require_results(comparison)  # every model failed: nothing to write
    # Paths are recorded absolute, so the run directory can be read back (report, serve) from anywhere.
    # A dataset name stays a name, so the run directory reloads it through the data cache on any machine.
    source = {key: config.get(key) for key in SOURCE_KEYS}
    for key in ("data", "corpus", "queries", "qrels"):
        if config.get(key) and not (key == "data" and is_name(str(config[key]))):
            source[key] = str(Path(config[key]).resolve())
    if config.get("judgments"):
        source["judgments"] = [str(Path(p).resolve()) for p in config["judgments"]]
    comparison.settings["source"] = source
    comparison.settings["reference_paths"] = [str(Path(p).resolve()) for p in config.get("references") or []]
    for key in ("reference_task", "reference_split", "reference_subset"):
        comparison.settings[key] = config.get(key)
    run_dir = write_outputs(comparison, run_dir)["run_dir"]
    print_leaderboard(comparison)
    for result in comparison.results:
        for warning in result.info.get("warnings") or []:
            if "bad vectors" in warning:
                click.secho(f"{result.name}: {warning}", fg="yellow", err=True)
    click.echo(f"results in {run_dir}")
    exit_partial(comparison, run_dir)  # some models failed: their lines, and exit code 3
    return run_dir


def _pair(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep or not role or not name:
        raise click.BadParameter(f"'{text}' is not ROLE=NAME", param_hint="--column")
    return role, name
