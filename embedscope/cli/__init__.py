"""The `embedscope` command. Each subcommand lives in its own module here.

Subcommand modules import only click at the top and everything heavy inside the command, so `embedscope --help`
and a fully cached run start fast (tests/test_startup.py holds them to that).
"""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS = ["run", "datasets", "models", "report", "serve", "sweep", "show", "db_bench", "bench", "recommend", "generate", "pool", "judge_next", "mine", "finetune", "embed", "cluster", "pipeline", "cache"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="embedscope")
@click.option("--verbose", "-v", count=True, help="Show libraries' logs and errors' tracebacks (-vv: debug).")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and results only: no progress bars or messages.")
def cli(verbose: int, quiet: bool) -> None:
    """Choose the right text-embedding model for your own data."""
    from embedscope import progress
    from embedscope.cli import errors

    # What shows on the console: our messages and one bar per long step; libraries' logs and bars only with -v.
    progress.configure(-1 if quiet else verbose)
    errors.verbose = verbose > 0


for _name in COMMANDS:
    cli.add_command(importlib.import_module(f"embedscope.cli.{_name}").command)


def main() -> None:
    from embedscope.cli.errors import run_cli

    sys.exit(run_cli(cli))
