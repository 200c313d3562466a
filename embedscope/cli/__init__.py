"""The `embedscope` command. Each subcommand lives in its own module here, imported only when it runs.

`embedscope --help` lists the subcommands from the one-line summaries below, without importing a single
subcommand module (tests/test_cli_surface.py checks each summary equals its command's own); a subcommand module
imports only click and the shared options at the top, and everything heavy inside the command, so a fully cached
run starts fast too (tests/test_startup.py).
"""

from __future__ import annotations

import importlib
import sys

import click

# name -> (module under embedscope.cli, the command's one-line summary, as `embedscope --help` lists it)
COMMANDS = {
    "run": ("run", "Compare models on a dataset: retrieve, score, and write a run directory."),
    "datasets": ("datasets", "List named datasets: cached or registered here, and the BEIR sets that can be fetched "
                             "(size, licence)."),
    "models": ("models", "List model kinds, what each needs, bundled offline models and known model cards."),
    "doctor": ("doctor", "Say what this machine can run (models, runtimes, CPU instructions, servers, browser) and "
                         "why not."),
    "report": ("report", "Write one self-contained HTML report of a run directory (opens offline)."),
    "serve": ("serve", "Browse queries, compare models side by side and judge hits in a local web app."),
    "sweep": ("sweep", "Quality vs storage and speed: compressed vectors and approximate (faiss) indexes."),
    "show": ("show", "Side-by-side top-k of every model for chosen queries of a run directory."),
    "db-bench": ("db_bench", "Load one model's embeddings into vector databases and compare nDCG@10, recall vs "
                             "exact, QPS and load time."),
    "bench": ("bench", "Measure encode throughput, query latency, memory, footprint and cost for each model."),
    "recommend": ("recommend", "Pick the best model of a run directory under constraints."),
    "generate-queries": ("generate", "Generate queries from documents so a corpus without qrels can be evaluated."),
    "pool": ("pool", "Pool the top-DEPTH hits of every model, label the pool, and score each model on the labels."),
    "judge-next": ("judge_next", "Rank the unjudged (query, document) pairs of a run directory's pool by how much "
                                 "judging them can change the comparison of its models."),
    "mine": ("mine", "Mine hard negatives and write {query, pos, neg} JSONL training data."),
    "finetune": ("finetune", "Fine-tune a model and promote it only if it is significantly better on held-out "
                             "queries."),
    "embed": ("embed", "Embed a corpus into the cache, resumably, on one machine or a cluster."),
    "cluster": ("cluster", "Cluster the corpus in a model's embedding space and map it in 2-D (self-contained "
                           "HTML)."),
    "pipeline": ("pipeline", "Score pipelines against a plain baseline: delta, wins/losses, paired t and "
                             "randomization tests."),
    "cache": ("cache", "Inspect the embedding cache."),
    "server": ("server", "Start, stop and list local vector-database servers (Milvus, Redis, PostgreSQL) on "
                         "127.0.0.1."),
    "verify": ("verify", "Check a run directory: every file its results.json lists, intact; nothing unlisted "
                         "beside them."),
}

# What `embedscope --version` reports beside embedscope itself: the libraries whose version changes numbers or speed.
KEY_DEPENDENCIES = ("click", "numpy", "torch", "transformers", "sentence-transformers", "model2vec", "faiss-cpu",
                    "onnxruntime", "openvino", "nncf", "bm25s", "pytrec-eval-terrier", "ranx", "scikit-learn",
                    "lancedb", "qdrant-edge-py", "pymilvus", "pgserver", "redis", "plotly")


def version(name: str) -> str | None:
    """An installed distribution's version, read from its metadata (nothing is imported), or None."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import platform

    click.echo(f"embedscope {version('embedscope') or 'unknown'} (Python {platform.python_version()}, "
               f"{platform.system()} {platform.machine()})")
    width = max(len(n) for n in KEY_DEPENDENCIES)
    for name in KEY_DEPENDENCIES:
        click.echo(f"  {name:<{width}}  {version(name) or 'not installed'}")
    ctx.exit()


class LazyGroup(click.Group):
    """Subcommands imported on first use; the listing comes from COMMANDS' summaries."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"embedscope.cli.{COMMANDS[name][0]}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version of embedscope and of the libraries it runs on, and exit.")
@click.option("--verbose", "-v", count=True, help="Show libraries' logs and errors' tracebacks (-vv: debug).")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and results only: no progress bars or messages.")
def cli(verbose: int, quiet: bool) -> None:
    """Choose the right text-embedding model for your own data."""
    from embedscope import progress
    from embedscope.cli import errors

    # What shows on the console: our messages and one bar per long step; libraries' logs and bars only with -v.
    progress.configure(-1 if quiet else verbose)
    errors.verbose = verbose > 0


def main() -> None:
    from embedscope.cli.errors import run_cli

    sys.exit(run_cli(cli))
