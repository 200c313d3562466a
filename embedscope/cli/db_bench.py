"""`embedscope db-bench`: the same embeddings loaded into several vector databases, each scored alike."""

from __future__ import annotations

import json
import math

import click

from embedscope.cli import options


DEFAULT_BACKENDS = ("exact", "lancedb", "qdrant", "milvus-lite", "pgvector", "redis")


@options.command("db-bench", aliases=(options.Alias("-b", "--backend"),))
@options.shared(*options.FILTERED, "models", "k", "similarity", *options.STORAGE, fallback={"models": ["minilm"]})
@click.option("--backend", "backends", multiple=True,
              help="Vector database or index spec (repeatable): exact, lancedb, qdrant, milvus-lite, "
                   "milvus?host=HOST&port=PORT, pgvector, redis, optionally with :INDEX (qdrant:flat, "
                   "pgvector:ivfflat, ...). [all local ones]")
@click.option("--text-filter", "words", multiple=True, metavar="WORD",
              help="Only documents whose text contains WORD (whole word, any case); repeatable (all must match).")
def command(settings, backends, words):
    """Load one model's embeddings into vector databases and compare nDCG@10, recall vs exact, QPS and load time.

    --k is the cutoff of recall@k against exact search.
    """
    from embedscope.data import load_from
    from embedscope.data.load import filter_metadata, parse_filter
    from embedscope.index.db.base import TEXT_FIELD
    from embedscope.sweeps.databases import evaluate_backend
    from embedscope.models import load_model
    from embedscope.report.outputs import new_run_dir, staged
    from embedscope.runs.context import RetrievalContext
    from embedscope.runs.dense import dense_vectors

    model_spec, similarity, k = options.one_model(settings, "db-bench"), settings["similarity"], settings["k"]
    cache, output = settings["cache"], settings["output"]
    filters = [*(settings.get("filters") or []), *(f"word={w}" for w in words)]
    dataset = load_from({**settings, "filters": None})  # the databases filter: each holds the whole corpus
    click.echo(f"dataset {dataset.name}: {len(dataset.corpus):,} docs, {len(dataset.queries):,} queries", err=True)
    docs, queries, _ = dense_vectors(load_model(model_spec), dataset, RetrievalContext(cache, similarity=similarity))
    filter = parse_filter(filters) if filters else None
    # the databases store the text and only the fields the filter names (a corpus's other fields may not be
    # valid column names everywhere)
    named = {*filter.tags, TEXT_FIELD} if filter else {TEXT_FIELD}
    metadata = [{k: v for k, v in m.items() if k in named} for m in filter_metadata(dataset)]
    if filter:
        matching = int(filter.mask(metadata).sum())
        click.echo(f"filter on ({' '.join(filters)}): {matching:,} of {len(docs):,} documents match", err=True)
        if not matching:
            raise click.ClickException("the filter matches no document")

    results, failures = [], {}
    for spec in backends or DEFAULT_BACKENDS:
        click.echo(f"{spec}: loading {len(docs):,} vectors and searching", err=True)
        try:
            result = evaluate_backend(dataset, docs, queries, spec, similarity, k, metadata=metadata, filter=filter)
        except Exception as e:  # one backend that cannot start must not hide the others' numbers
            failures[spec] = f"{type(e).__name__}: {e}"
            click.secho(f"{spec}: failed: {failures[spec]}", fg="red", err=True)
            continue
        result.pop("run")
        results.append(result)

    payload = {"dataset": dataset.summary(), "model": model_spec, "similarity": similarity, "k": k,
               "filter": filters, "results": results, "failures": failures}
    with staged(new_run_dir(output, f"db-bench-{dataset.name}")) as out:
        (out.folder / "db_bench.json").write_text(json.dumps(payload, indent=2, default=_json_default))
    run_dir = out.path
    print_table(results, k, title=f"{dataset.name} · {model_spec} · {similarity}")
    click.echo(f"results in {run_dir}")
    if not results:
        raise click.ClickException("no backend could be evaluated")
    return run_dir


def print_table(results: list[dict], k: int, title: str = "") -> None:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for name in ("backend spec", "index used", "nDCG@10", f"recall@{k} vs exact", "QPS", "load s"):
        table.add_column(name, justify="left" if name in ("backend spec", "index used") else "right")
    for r in results:
        asked, used = r["index_requested"], r["index_used"]
        flag = "" if _same_index(asked, used) else f" [yellow](asked {asked})[/]"
        table.add_row(r["spec"], f"{used}{flag}", _fmt(r["ndcg@10"]), _fmt(r[f"recall@{k}_vs_exact"]),
                      f"{r['qps']:,.0f}", f"{r['load_seconds']:.2f}")
    from embedscope.report.console import wide_console

    wide_console().print(table)


def _same_index(asked: str, used: str) -> bool:
    asked, used = str(asked).upper().replace("_", ""), str(used).upper().replace("_", "")
    return not asked or asked in used or (asked == "FLAT" and ("EXACT" in used or "SCAN" in used))


def _fmt(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _json_default(value):
    try:
        return value.item()
    except AttributeError:
        return str(value)
