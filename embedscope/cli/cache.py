"""`embedscope cache verify`: is every cached vector intact, and if not, what is wrong where."""

from __future__ import annotations

import click


@click.group("cache")
def command() -> None:
    """Inspect the embedding cache."""


@command.command("verify")
@click.argument("cache", required=False, type=click.Path(file_okay=False))
def verify(cache):
    """Check every shard of a cache [.embedscope-cache]: checksum, model and role it belongs to, finite values,
    one dimension per model. Prints one line per problem with its path; exit code 1 when any is found."""
    from pathlib import Path

    from embedscope import progress
    from embedscope.cache.verify import verify_cache
    from embedscope.config import defaults

    root = Path(cache or defaults()["cache"])
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a cache directory", param_hint="CACHE")
    total = sum(1 for _ in root.glob("*/*/shard-*.parquet"))
    with progress.task("verifying shards", total) as advance:
        report = verify_cache(root, on_shard=advance)
    for problem in report.problems:
        click.echo(f"{problem.path}: {problem.what}")
    click.echo(report.summary())
    if report.problems:
        raise click.exceptions.Exit(1)
