"""`embedscope verify RUN_DIR`: is every file of a run directory the one embedscope wrote."""

from __future__ import annotations

import click


@click.command("verify")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def command(run_dir):
    """Check a run directory: every file its results.json lists, intact; nothing unlisted beside them.

    Each listed file (run files, summary, report, judgments, pool, cluster maps) must have the size and SHA-256
    recorded when it was written. Prints one line per problem with its path, then a summary; exit code 1 when
    any is found. Nothing is changed.
    """
    from embedscope.rundir import read_results, verify

    problems = verify(run_dir)
    for problem in problems:
        click.echo(problem)
    listed = len(read_results(run_dir).files)
    click.echo(f"{run_dir}: {listed} listed file(s); {len(problems)} problem(s)")
    if problems:
        raise click.exceptions.Exit(1)
