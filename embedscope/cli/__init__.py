"""The `embedscope` command. Each subcommand lives in its own module here."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

COMMANDS = ["run", "datasets", "models", "report", "serve", "sweep", "show", "db_bench", "bench", "recommend", "generate", "pool", "judge_next", "mine", "finetune", "embed", "cluster", "pipeline"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="embedscope")
def cli() -> None:
    """Choose the right text-embedding model for your own data."""
    # Libraries underneath log at INFO and draw their own bars; ours are the ones that matter.
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


for _name in COMMANDS:
    cli.add_command(importlib.import_module(f"embedscope.cli.{_name}").command)


def main() -> None:
    from embedscope.cli.errors import run_cli

    sys.exit(run_cli(cli))
