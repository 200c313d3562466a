"""`embedscope show`: what each model returned for a query, side by side, hits marked against the qrels."""

from __future__ import annotations

import click

from embedscope.cli import options



@options.command("show", aliases=(options.Alias("-q", "--query", options.not_an_option), options.Alias("--k", "--hits"),
                                  options.Alias("--model", "--only"), options.Alias("-m", "--only")))
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--query", "query_ids", multiple=True, metavar="QID", help="Query id to show (repeatable).")
@click.option("--disagreements", "-d", type=click.IntRange(min=1), default=3, show_default=True,
              help="Without --query: show this many queries the models disagree on most.")
@options.HITS
@click.option("--width", type=click.IntRange(min=10), default=70, show_default=True,
              help="Characters of each hit shown (its title, then its text).")
@click.option("--only", "models", multiple=True, metavar="NAME", help="Only these models of the run (repeatable) [all].")
@options.shared("metrics", config=False)
def command(settings, run_dir, query_ids, disagreements, hits, width, models):
    """Side-by-side top-k of every model for chosen queries of a run directory.

    Each hit is marked ✅ relevant (top grade), ⚪ partly relevant (lower grade), ❌ judged not relevant,
    ? unjudged. The per-query scores and disagreements use the first --metric [the run's main metric].
    """
    metric, k = (settings.get("metrics") or [None])[0], hits

    from embedscope.metrics import canonical, evaluate
    from embedscope.rundir import read_dataset, read_results, read_runs
    from embedscope.stats import disagreements as most_disagreed
    from embedscope.stats import side_by_side
    from embedscope.stats.analysis import score_matrix
    from embedscope.stats.per_query import SNIPPET_CHARS

    results = read_results(run_dir)
    if results.task != "retrieval":
        show_task_run(run_dir, results.task, bool(query_ids))
        return
    runs = read_runs(run_dir, results)
    if models:
        unknown = [m for m in models if m not in runs]
        if unknown:
            raise click.BadParameter(f"{', '.join(unknown)} not in this run; it has {', '.join(runs)}",
                                     param_hint="--only")
        runs = {m: runs[m] for m in models}
    dataset = read_dataset(run_dir, results)
    metric = canonical(metric or results.main_metric)
    order = results.significance.order if results.significance else [m.name for m in results.ranked()]
    names = [n for n in order if n in runs] + [n for n in runs if n not in order]
    evaluations = {n: evaluate(dataset.qrels, runs[n], [metric]) for n in names} if dataset.has_qrels else {}
    values = {n: e.per_query[metric] for n, e in evaluations.items()}
    if query_ids:
        missing = [q for q in query_ids if q not in dataset.queries]
        if missing:
            raise click.BadParameter(f"not in dataset {dataset.name}: {', '.join(missing)}", param_hint="--query")
        chosen = list(query_ids)
    elif evaluations:
        qids = next(iter(evaluations.values())).query_ids
        matrix = score_matrix([evaluations[n] for n in names], metric, qids)
        chosen = [d["query_id"] for d in most_disagreed(names, qids, matrix, disagreements)]
        if not chosen:
            click.echo(f"all models score the same {metric} on every query; name one with --query")
            return
    else:
        raise click.UsageError("this run has no qrels, so there is nothing to rank by: name queries with --query")
    from embedscope.report.console import wide_console

    console = wide_console()
    for qid in chosen:
        view = side_by_side(dataset, {n: runs[n] for n in names}, qid, k,
                            {n: v[qid] for n, v in values.items() if qid in v}, chars=max(width, SNIPPET_CHARS))
        print_side_by_side(view, metric, console, width)


def show_task_run(run_dir, task: str, asked_for_queries: bool) -> None:
    """A run of a task beyond retrieval has no ranked hits to put side by side: its summary, and where the
    per-unit scores are."""
    from pathlib import Path

    from rich.markdown import Markdown

    from embedscope.report.console import wide_console

    if asked_for_queries:
        raise click.UsageError(f"this is a {task} run: --query shows retrieval hits side by side; its per-unit "
                               f"scores are in {Path(run_dir) / 'per_unit.csv'}")
    summary = Path(run_dir) / "summary.md"
    if summary.is_file():
        wide_console().print(Markdown(summary.read_text(encoding="utf-8")))
    click.echo(f"a {task} run: per-unit scores in {Path(run_dir) / 'per_unit.csv'}; "
               f"`embedscope report {run_dir}` writes its HTML report")


def print_side_by_side(view: dict, metric: str, console, width: int = 70) -> None:
    """`width`: characters of each hit shown, its title then its text (a title alone is often not enough)."""
    from rich.markup import escape
    from rich.table import Table

    title = f"query {view['query_id']}: {view['query']}"
    caption = f"{view['relevant_total']} judged relevant; ✅ relevant ⚪ partly relevant ❌ not relevant ? unjudged"
    t = Table(title=escape(title), caption=caption, header_style="bold", show_lines=True)
    t.add_column("#", justify="right")
    for model in view["models"]:
        score = f"\n{metric} {model['metric_value']:.3f}" if "metric_value" in model else ""
        t.add_column(escape(model["name"]) + score, overflow="fold", ratio=1)
    for i in range(view["k"]):
        cells = []
        for model in view["models"]:
            if i < len(model["hits"]):
                h = model["hits"][i]
                label = " · ".join(part for part in (h["title"], h["text"]) if part)
                label = label if len(label) <= width else label[:width - 1] + "…"
                cells.append(f"{h['mark']} {escape(label)} [dim]({escape(h['doc_id'])})[/]")
            else:
                cells.append("")
        if any(cells):
            t.add_row(str(i + 1), *cells)
    console.print(t)
    if view["missed"]:
        missed = ", ".join(f"{m['mark']} {m['doc_id']}" for m in view["missed"][:10])
        more = f" and {len(view['missed']) - 10} more" if len(view["missed"]) > 10 else ""
        console.print(f"judged relevant but in no model's top-{view['k']}: {escape(missed)}{more}")
