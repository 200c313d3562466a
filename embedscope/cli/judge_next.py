"""`embedscope judge-next RUN_DIR`: the pairs to judge next so the comparison of the models settles soonest."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from embedscope.cli import options

TEXT_WIDTH = 60


@options.command("judge-next")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--n", "count", type=click.IntRange(min=1), default=10, show_default=True, help="Pairs to list.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="A pair is settled once its 1-alpha interval excludes zero (or MTC's bound does).")
@click.option("--max-grade", type=click.IntRange(min=1), default=2, show_default=True,
              help="Highest grade a judge can give (the web app's scale: 2 relevant, 1 partly, 0 not).")
@click.option("--strategy", type=click.Choice(["mtc", "variance"]), default="mtc", show_default=True,
              help="mtc: summed |weight| over open pairs; variance: share of each open pair's variance.")
@click.option("--watch", is_flag=True, help="Stay open and print again whenever judgments are saved.")
@click.option("--every", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="With --watch: seconds between looks at the judgment files.")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON (verdicts and next pairs).")
@options.shared("metrics", config=False)
def command(settings, run_dir, count, alpha, max_grade, strategy, watch, every, as_json):
    """Rank the unjudged (query, document) pairs of a run directory's pool by how much judging them can change the
    comparison of its models.

    The pool is RUN_DIR's depth-k pool; each pair of models' verdict is shown, with its interval and whether it is
    settled.

    Judgments are read from RUN_DIR/judgments/qrels.tsv (written by `embedscope serve`) and
    RUN_DIR/judgments/llm-qrels.tsv (`embedscope pool --judge-url`); the dataset's qrels (a generated query's
    source document) count too. Judge the listed pairs in `embedscope serve RUN_DIR` (active mode shows the
    same order) and run again, or keep this open with --watch. The first --metric (ndcg@k or precision@k) is the
    one compared [ndcg at the run's k].
    """
    metric = (settings.get("metrics") or [None])[0]
    from embedscope.noqrels.active import LLM_LABELS, for_run_dir, run_dir_labels
    from embedscope.rundir import read_dataset

    dataset = _dataset(run_dir, read_dataset)
    try:
        active = for_run_dir(run_dir, dataset=dataset, metric=metric, alpha=alpha, max_grade=max_grade,
                             strategy=strategy)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    show = _print_json if as_json else _print_state
    show(active, dataset, count, run_dir)
    if not watch:
        return active.state(count)
    files = [Path(run_dir) / "judgments" / "qrels.tsv", Path(run_dir) / LLM_LABELS]
    seen = _stamps(files)
    try:
        while True:
            time.sleep(every)
            now = _stamps(files)
            if now != seen:
                seen = now
                active.set_labels(run_dir_labels(run_dir), dataset.qrels if dataset is not None else None)
                show(active, dataset, count, run_dir)
    except KeyboardInterrupt:
        return active.state(count)


def _dataset(run_dir, read_dataset):
    from embedscope.errors import EmbedscopeError

    try:
        return read_dataset(run_dir)
    except (EmbedscopeError, OSError, KeyError) as e:
        click.echo(f"warning: dataset not reloaded ({e}); showing ids only, without the dataset's own labels", err=True)
        return None


def _stamps(files: list[Path]) -> list[tuple[float, int] | None]:
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append(None)
    return out


def _print_json(active, dataset, count, run_dir) -> None:
    state = active.state(count)
    for pair in state["next"]:
        pair.update(_texts(dataset, pair["query_id"], pair["doc_id"]))
    click.echo(json.dumps(state, ensure_ascii=False), nl=True)


def _texts(dataset, qid: str, did: str) -> dict:
    if dataset is None:
        return {"query": "", "title": ""}
    doc = dataset.corpus.get(did)
    return {"query": dataset.queries.get(qid, ""), "title": (doc.title or doc.text[:TEXT_WIDTH]) if doc else ""}


def _cut(text: str, width: int = TEXT_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_state(active, dataset, count, run_dir) -> None:
    from rich.markup import escape
    from rich.table import Table

    from embedscope.report.console import wide_console

    console = wide_console()
    state = active.state(count)
    level = int(round((1 - active.alpha) * 100))
    given = f", {state['given']:,} of them labelled with the data" if state["given"] else ""
    title = f"{active.metric}: verdicts with {state['judged']:,} of {state['pool']:,} pooled pairs labelled{given}"
    t = Table(title=title, header_style="bold")
    for name in ("A", "B", "verdict", "now", f"estimate ({level}% interval)", "P(order holds)", "can still end in",
                 "settled"):
        t.add_column(name, justify="left" if name in ("A", "B", "verdict", "settled") else "right")
    for v in state["verdicts"]:
        settled = {"bound": "yes: no judgment left can flip it", "interval": f"yes: {level}% interval excludes 0"}
        t.add_row(escape(v["a"]), escape(v["b"]), escape(v["verdict"]), f"{v['current']:+.4f}",
                  f"{v['estimate']:+.4f} ({v['low']:+.4f} to {v['high']:+.4f})", f"{v['probability']:.3f}",
                  f"{v['bound_low']:+.4f} to {v['bound_high']:+.4f}",
                  settled.get(v["settled_by"], f"no ({v['unjudged']:,} pairs can move it)"))
    console.print(t)
    console.print("now: the difference with unjudged pairs counted as not relevant; estimate: once the pool is judged")
    if state["settled"]:
        console.print(f"[green]settled: every pair of models has its verdict ({state['judgments']:,} judgments) — "
                      "you can stop judging[/]")
        if state["next"]:
            console.print("to go on anyway, these would be next:")
    else:
        console.print(f"{state['settled_pairs']} of {state['pairs']} pairs of models settled; judge these next "
                      f"(in `embedscope serve {run_dir}`, active mode):")
    if not state["next"]:
        console.print("every pooled pair is judged")
        return
    n = Table(header_style="bold")
    for name in ("#", "query", "document", "weight", "P(relevant)", "ranks", "query text", "document"):
        n.add_column(name, justify="right" if name in ("#", "weight", "P(relevant)") else "left", overflow="fold")
    for i, pair in enumerate(state["next"], start=1):
        texts = _texts(dataset, pair["query_id"], pair["doc_id"])
        ranks = " ".join(f"{m}:{r}" for m, r in pair["ranks"].items() if r is not None)
        n.add_row(str(i), escape(pair["query_id"]), escape(pair["doc_id"]), f"{pair['weight']:.3f}",
                  f"{pair['probability']:.2f}", escape(ranks), escape(_cut(texts["query"])),
                  escape(_cut(texts["title"])))
    console.print(n)
