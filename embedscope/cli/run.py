from __future__ import annotations

from pathlib import Path

import click

from embedscope.cli import options


@options.command("run")
@options.shared(*options.FILTERED, "models", "k", "depth", "metrics", "index", "similarity", *options.STORAGE)
@click.option("--task", help="Task: retrieval (default), classification, sts, pairs, clustering or reranking; options "
                             "follow like a model's, e.g. classification?samples_per_label=16.")
@click.option("--train", help="Training table for --task classification [the data folder's train table].")
@click.option("--no-header", "no_header", is_flag=True, default=None,
              help="Task tables (CSV/TSV) have no header row: columns are read in the task's role order.")
@click.option("--max-rows", type=click.IntRange(min=1),
              help="Other tasks: evaluate only the first N rows, pairs or queries (quick look).")
@click.option("--bad-vectors", type=click.Choice(["stop", "record"]),
              help="A model returns a NaN, infinite or (under cosine) all-zero vector: stop the run naming the text, "
                   "or record it as a failure and leave that text out [stop].")
@click.option("--chunk-tokens", type=click.IntRange(min=1), help="Split documents into chunks of about N tokens; a doc scores as its best chunk.")
@click.option("--reference", "references", multiple=True, type=click.Path(),
              help="MTEB result JSON file or folder: published scores shown beside yours (repeatable).")
@click.option("--reference-task", help="MTEB task to compare with [guessed from the dataset name].")
@click.option("--reference-split", help="Published split to show, e.g. dev (C-MTEB) [test, else dev, else validation].")
@click.option("--reference-subset", help="Language subset of a multilingual task, e.g. zh [default, else the mean].")
@click.option("--fast", is_flag=True, default=None,
              help="Encode local transformer models with the fastest runtime within 0.5% nDCG@10 of fp32 (int8, bf16 "
                   "where the CPU has it), calibrated on your documents; its loss is measured on a sample first.")
def command(settings, **run_only):
    """Compare models on a dataset: retrieve, score, and write a run directory.

    Every option can also be set in a YAML file given with --config, under the same name (models: [...], k: 10).
    """
    from embedscope.cli.errors import exit_partial, require_results
    from embedscope.cache import EmbeddingCache
    from embedscope.compare import compare
    from embedscope.data import SOURCE_KEYS, load_from
    from embedscope.data.named import is_name
    from embedscope.report import new_run_dir, print_leaderboard, write_outputs

    config = options.merge(settings, run_only)  # run's own options are config keys too
    quiet = config["quiet"]
    if (config.get("task") or "retrieval") != "retrieval":
        from embedscope.cli.task_run import run_task

        return run_task(config, given_data=config["given_data"], quiet=quiet)
    dataset = load_from(config)
    if not quiet:
        click.echo(f"dataset {dataset.name}: {len(dataset.corpus):,} docs, {len(dataset.queries):,} queries", err=True)
        if config.get("filters"):
            click.echo(f"filter {' '.join(config['filters'])}: every model searches only these "
                       f"{len(dataset.corpus):,} matching docs", err=True)
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

