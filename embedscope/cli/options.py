"""The command line's one vocabulary: every option the subcommands share, defined once.

Each shared option has one name, at most one short flag, one meaning, one default and one help text, and every
subcommand that takes data and models declares its options through `shared(...)`, so `embedscope run --k` and
`embedscope pool --k` cannot drift apart (tests/test_cli_surface.py walks every command to hold them to that).

Defaults live in one place, embedscope/defaults.yaml (what `embedscope run` with no options does); an option left
out on the command line takes its value from `--config FILE` (the same keys as the options), then from there.

Old spellings of renamed options keep working for one release: the command rewrites them to the new name and
prints one deprecation warning on stderr (`Alias`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import click

from embedscope.config import defaults, read_config

DEFAULTS = defaults()


def _default(key: str) -> str:
    value = DEFAULTS.get(key)
    return f" [{', '.join(value) if isinstance(value, list) else value}]" if value is not None else ""


SIMILARITY = click.Choice(["cosine", "dot", "l2"])

# key (the config file's key too) -> the option. Defaults are None on the command line: an option left out falls
# back to --config, then to defaults.yaml, which the help text shows in [brackets].
OPTIONS: dict[str, Callable] = {
    "config": click.option(
        "--config", "config", type=click.Path(dir_okay=False),
        help="YAML file of settings, keyed like these options (data, models, k, ...); options given here override it."),
    "data": click.option(
        "--data", help="Dataset: a name (beir:scifact, or one added with `embedscope datasets add`) or a BEIR folder "
                       "(corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv)" + _default("data") + "."),
    "split": click.option("--split", help="qrels split to evaluate" + _default("split") + "."),
    "corpus": click.option("--corpus", help="Corpus table (JSONL/CSV/Parquet) instead of --data."),
    "queries": click.option("--queries", help="Queries table, with --corpus."),
    "qrels": click.option("--qrels", help="Qrels table or TSV, with --corpus (optional)."),
    "columns": click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
                            help="Column mapping for tables, e.g. doc_text=body, query_id=qid (repeatable)."),
    "judgments": click.option(
        "--judgments", multiple=True, type=click.Path(dir_okay=False),
        help="Extra graded qrels merged over the dataset's, e.g. RUN_DIR/judgments/qrels.tsv (repeatable)."),
    "max_queries": click.option("--max-queries", type=click.IntRange(min=1),
                                help="Evaluate a sample of this many queries (quick look)."),
    "max_docs": click.option("--max-docs", type=click.IntRange(min=1),
                             help="Keep at most this many docs (judged docs always kept)."),
    "filters": click.option(
        "--filter", "filters", multiple=True, metavar="FIELD=VALUE",
        help="Only documents whose corpus field FIELD equals VALUE, or word=WORD: whose text contains WORD (whole "
             "word, any case); repeatable (all must match)."),
    "models": click.option(
        "--model", "-m", "models", multiple=True,
        help="Model spec (repeatable): minilm, wordllama, bm25, st:PATH, openai:NAME, precomputed:FILE, "
             "hybrid:bm25+minilm, ... (see the spec reference) [run: " + ", ".join(DEFAULTS["models"]) +
             "; commands that study one model's vectors: minilm]."),
    "k": click.option("--k", type=click.IntRange(min=1), help="Metric cutoff: nDCG@k, recall@k, ..." + _default("k") + "."),
    "depth": click.option("--depth", type=click.IntRange(min=1), help="Hits retrieved per query" + _default("depth") + "."),
    "metrics": click.option(
        "--metric", "metrics", multiple=True,
        help="Metric, e.g. ndcg@10 or recall@100 (repeatable; the first one leads) [the command's usual ones]."),
    "index": click.option(
        "--index", help="Vector index spec: exact, faiss:FACTORY?PARAMS, streaming:FACTORY, or a vector database "
                        "(qdrant, pgvector:ivfflat, ...)" + _default("index") + "."),
    "similarity": click.option("--similarity", type=SIMILARITY, help="Vector similarity" + _default("similarity") + "."),
    "cache": click.option("--cache", help="Embedding cache folder" + _default("cache") + "."),
    "output": click.option("--output", "-o", help="Folder that receives run directories" + _default("output") + "."),
    "quiet": click.option("--quiet", "-q", is_flag=True, default=None,
                          help="Warnings and results only: no progress bars or messages (as `embedscope -q`)."),
    "verbose": click.option("--verbose", "-v", count=True,
                            help="Libraries' logs and errors' tracebacks (as `embedscope -v`)."),
}

# Commands that show a finished run directory: how many hits of each model they show.
HITS = click.option("--hits", type=click.IntRange(1, 1000), default=10, show_default=True,
                    help="Hits shown per model.")

# The option groups most commands take, in the order `--help` lists them.
DATA = ("data", "split", "corpus", "queries", "qrels", "columns", "judgments", "max_queries", "max_docs")
# Commands whose searches can be restricted to the documents matching --filter.
FILTERED = (*DATA, "filters")
CONSOLE = ("quiet", "verbose")
STORAGE = ("cache", "output")


def shared(*keys: str, fallback: dict | None = None, config: bool = True) -> Callable:
    """Add the shared options `keys` (and --config, -q, -v) to a command; its callback receives them resolved into
    one `settings` dict: options given > --config file > defaults.yaml. `fallback` replaces defaults.yaml's values
    for this command (e.g. a single dense model where the default comparison has BM25 too). Commands that read a
    finished run directory take no --config (`config=False`)."""
    names = [*(["config"] if config else []), *keys, *(k for k in CONSOLE if k not in keys)]

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def callback(*args, **kwargs):
            given = {key: kwargs.pop(key) for key in names}
            return fn(*args, settings=resolve(given, fallback), **kwargs)

        for key in reversed(names):
            callback = OPTIONS[key](callback)
        return callback

    return wrap


def resolve(given: dict, fallback: dict | None = None) -> dict:
    """The settings a command runs with: defaults.yaml < fallback < --config file < options given. Applies -q/-v."""
    from embedscope import progress
    from embedscope.cli import errors

    quiet, verbose = given.pop("quiet", None), given.pop("verbose", 0)
    if quiet or verbose:  # the command's own -q/-v, as `embedscope -q/-v`
        progress.configure(-1 if quiet else verbose)
        errors.verbose = errors.verbose or verbose > 0
    config_path = given.pop("config", None)
    settings = defaults() | (fallback or {})
    named = set()  # the keys the user set, on the command line or in the config file
    if config_path:
        from_file = read_config(config_path)
        settings |= from_file
        named |= set(from_file)
    for key, value in given.items():
        if value not in (None, ()):
            settings[key] = list(value) if isinstance(value, tuple) else value
            named.add(key)
    if isinstance(settings.get("columns"), list):
        settings["columns"] = dict(_pair(c) for c in settings["columns"])
    if isinstance(settings.get("metrics"), str):
        settings["metrics"] = [settings["metrics"]]
    if settings.get("index"):  # a malformed index spec stops here, before any data is read or text embedded
        from embedscope.specs import index_spec

        index_spec(settings["index"])
    settings["quiet"] = progress.is_quiet()
    settings["given_data"] = bool(given.get("data") or given.get("corpus") or config_path)
    settings["named"] = named
    return settings


def merge(settings: dict, own: dict) -> dict:
    """`settings` with a command's own options that were given (they override the config file's keys)."""
    return settings | {k: (list(v) if isinstance(v, tuple) else v) for k, v in own.items() if v not in (None, ())}


def _pair(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep or not role or not name:
        raise click.BadParameter(f"'{text}' is not ROLE=NAME", param_hint="--column")
    return role, name


def say(settings: dict) -> Callable[[str], None]:
    """Progress messages on stderr, silent under -q."""
    return (lambda msg: None) if settings.get("quiet") else (lambda msg: click.echo(msg, err=True))


def compare_models(dataset, models: list, settings: dict, **overrides):
    """`compare` run with the shared settings: k, depth, metrics, cache, index, similarity, chunking."""
    from embedscope.compare import compare

    args = {"k": settings["k"], "depth": settings["depth"], "metrics": settings.get("metrics"),
            "cache_dir": settings["cache"], "index": settings["index"], "similarity": settings["similarity"],
            "chunk_tokens": settings.get("chunk_tokens"), "fast": bool(settings.get("fast")), "log": say(settings)}
    return compare(dataset, models, **(args | overrides))


def one_model(settings: dict, command: str) -> str:
    """The single model spec of a command that studies one model's vectors."""
    models = settings["models"]
    if len(models) != 1:
        raise click.UsageError(f"{command} studies one model: give one --model (got {len(models)})")
    return models[0]


def gather(name: str, cls: type) -> Callable:
    """Pass the options named like `cls`'s fields as one `cls` instance, argument `name`: a callback takes a few
    small parameter objects, not twenty loose options."""
    keys = [f.name for f in dataclasses.fields(cls)]

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def callback(*args, **kwargs):
            kwargs[name] = cls(**{key: kwargs.pop(key) for key in keys})
            return fn(*args, **kwargs)

        return callback

    return wrap


# ---- old spellings ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Alias:
    """`old` on this command's command line means `new` now (for one more release, with a warning). `when`, if
    given, decides from the token after `old` whether this use is the old meaning (a short flag whose letter now
    means something else)."""

    old: str
    new: str
    when: Callable[[str | None], bool] | None = None


_warned: set[tuple[str, str, str]] = set()


def deprecated(command: str, old: str, new: str) -> None:
    """One warning per old spelling and process, on stderr (shown under -q too: it is a warning)."""
    if (command, old, new) in _warned:
        return
    _warned.add((command, old, new))
    click.secho(f"warning: `embedscope {command} {old}` is deprecated and goes in the next release; use {new}",
                fg="yellow", err=True)


def rewrite(command: str, args: list[str], aliases: tuple[Alias, ...]) -> list[str]:
    """The command line with old spellings replaced by their new names (each warned about once)."""
    if not aliases:
        return args
    out, i = [], 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + args[i:]
        name, eq, value = token.partition("=")
        alias = next((a for a in aliases if a.old == (name if eq else token)), None)
        following = value if eq else (args[i + 1] if i + 1 < len(args) else None)
        if alias is not None and (alias.when is None or alias.when(following)):
            deprecated(command, alias.old, alias.new)
            token = alias.new + (eq + value if eq else "")
        out.append(token)
        i += 1
    return out


class Command(click.Command):
    """A command that still understands its options' old spellings (`aliases`)."""

    def __init__(self, *args, aliases: tuple[Alias, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.aliases = tuple(aliases)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite(_path(ctx), args, self.aliases))


def _path(ctx: click.Context) -> str:
    """'sweep ann' for `embedscope sweep ann`, however the program itself was started (python -m embedscope)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names)) or ctx.info_name or ""


def command(name: str, aliases: tuple[Alias, ...] = (), **kwargs) -> Callable:
    """`click.command` with old spellings of its options (see `Alias`)."""
    return click.command(name, cls=Command, aliases=aliases, **kwargs)


def not_an_option(token: str | None) -> bool:
    """The token after a short flag is a value (not another option, not an existing folder)."""
    return token is not None and not token.startswith("-") and not os.path.isdir(token)


def describe(option: click.Option) -> dict[str, Any]:
    """What must be identical wherever a shared option appears (tests/test_cli_surface.py)."""
    return {"opts": sorted(option.opts), "secondary": sorted(option.secondary_opts), "type": repr(option.type),
            "multiple": option.multiple, "default": option.default, "is_flag": option.is_flag,
            "count": option.count, "help": option.help, "dest": option.name}
