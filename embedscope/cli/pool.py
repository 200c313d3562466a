"""`embedscope pool`: pool every model's top hits, label the pool (LLM judge or `embedscope serve`), score on it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from embedscope.cli import options

LLM_LABELS = Path("judgments") / "llm-qrels.tsv"


@dataclasses.dataclass
class Judge:
    """The LLM judge: an OpenAI-compatible chat server."""

    judge_url: str | None
    judge_model: str | None
    api_key_env: str
    workers: int


@options.command("pool", aliases=(options.Alias("--labels", "--judgments"), options.Alias("--depth", "--pool-depth")))
@options.shared(*options.DATA, "models", "k", *options.STORAGE, fallback={"models": []})
@click.option("--run-dir", type=click.Path(file_okay=False), help="A run directory from `embedscope run` (its runs are pooled).")
@click.option("--pool-depth", "depth", type=click.IntRange(min=1), default=10, show_default=True,
              help="Each model's top hits per query that go into the pool to be judged.")
@click.option("--judge-url", help="OpenAI-compatible server for the LLM judge, e.g. http://127.0.0.1:8000/v1.")
@click.option("--judge-model", help="Chat model name for the LLM judge.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--workers", type=int, default=4, show_default=True, help="Judge requests in flight at once.")
@options.gather("judging", Judge)
def command(settings, run_dir, depth, judging):
    """Pool the top-DEPTH hits of every model, label the pool, and score each model on the labels.

    Without --run-dir the --model specs are run on the data first. Writes RUN_DIR/pool/pool.tsv (the pairs to
    judge: judge them in `embedscope serve RUN_DIR` or with --judge-url/--judge-model),
    RUN_DIR/judgments/llm-qrels.tsv (LLM labels, BEIR qrels) and RUN_DIR/pool/evaluation.json. Human labels
    (--judgments [RUN_DIR/judgments/qrels.tsv, the web app's]) win over LLM labels for the same pair; --k is the
    metric cutoff [the pool depth]. LLM judgments are cached in --cache.
    """
    from embedscope.judgments import format_qrels, judgments_path, merge_qrels, read_judgments, write_durably
    from embedscope.noqrels import LLMJudge, depth_pool, evaluate_on_labels, judge_pool, write_pool
    from embedscope.noqrels.pooling import pool_size, unjudged
    from embedscope.files import write_file
    from embedscope.rundir import read_dataset, read_runs

    k = settings["k"] if "k" in settings["named"] else depth
    cache, labels = settings["cache"], settings.get("judgments") or []
    judge_url, judge_model = judging.judge_url, judging.judge_model
    judge = None
    if judge_url or judge_model:
        from embedscope.cli.generate import llm_client

        judge = LLMJudge(llm_client(judge_url, judge_model, judging.api_key_env, "--judge-url/--judge-model"),
                         cache_path=Path(cache) / "judgments" / "llm-judgments.jsonl")
        if not run_dir:
            judge.check()  # before the models run: their work is not lost to a bad judge URL or key
    if run_dir:
        runs = list(read_runs(run_dir).values())
        dataset = read_dataset(run_dir)
    else:
        run_dir, runs, dataset = _run_models(settings, depth)
    run_dir = Path(run_dir)
    pool = depth_pool(runs, depth)
    pool_file = write_pool(pool, run_dir / "pool" / "pool.tsv")
    click.echo(f"pool: {pool_size(pool):,} pairs over {len(pool):,} queries from {len(runs)} runs at depth {depth} "
               f"-> {pool_file}", err=True)

    human: dict[str, dict[str, int]] = {}
    for path in labels or [judgments_path(run_dir)]:
        human = merge_qrels(human, read_judgments(path))
    llm_labels: dict[str, dict[str, int]] = {}
    stats = None
    if judge is not None:
        llm_labels, stats = judge_pool(pool, dataset, judge, workers=judging.workers, skip=human)
        write_durably(run_dir / LLM_LABELS, format_qrels(llm_labels))
        click.echo(f"LLM judge {judge.name}: {stats['judged']} new, {stats['cached']} cached, "
                   f"{stats['failed']} unparseable (left unjudged) -> {run_dir / LLM_LABELS}", err=True)
    combined = merge_qrels(llm_labels, human)
    left = unjudged(pool, combined)
    report = {"depth": depth, "k": k, "pool_pairs": pool_size(pool), "pool_queries": len(pool),
              "labels": {"human": sum(map(len, human.values())), "llm": sum(map(len, llm_labels.values()))},
              "unjudged_pool_pairs": pool_size(left), "judge": stats, "models": []}
    if not any(g > 0 for rels in combined.values() for g in rels.values()):
        click.echo(f"no relevant labels yet: judge the pool in `embedscope serve {run_dir}` "
                   "or with --judge-url/--judge-model, then rerun with --run-dir")
        write_file(run_dir / "pool" / "evaluation.json", json.dumps(report, indent=2))
        return report
    metrics = [f"ndcg@{k}", f"precision@{k}", f"mrr@{k}", f"hit@{k}"]
    rows = evaluate_on_labels(runs, combined, metrics, k)
    report["models"] = rows
    write_file(run_dir / "pool" / "evaluation.json", json.dumps(report, indent=2))
    _print_rows(rows, metrics, k)
    if left:
        click.echo(f"{pool_size(left):,} pooled pairs are still unjudged: they count as not relevant", err=True)
    click.echo(f"results in {run_dir / 'pool' / 'evaluation.json'}")
    return report


def _run_models(settings: dict, depth: int):
    from embedscope.cli.errors import require_results
    from embedscope.data import load_from
    from embedscope.report import new_run_dir, write_outputs

    if not settings["models"]:
        raise click.UsageError("give --run-dir, or --data with at least one --model")
    source = {**settings, "judgments": None}  # human labels are scored on below, not merged into the data
    dataset = load_from(source)
    comparison = options.compare_models(dataset, settings["models"], settings, k=depth,
                                        depth=max(depth, settings["depth"]))
    require_results(comparison, partial_ok=False)  # a pool of some models only would mislead the judging
    comparison.settings["source"] = {key: source.get(key) for key in
                                     ("data", "split", "corpus", "queries", "qrels", "columns", "max_queries", "max_docs")}
    run_dir = write_outputs(comparison, new_run_dir(settings["output"], dataset.name))["run_dir"]
    return run_dir, [r.run for r in comparison.results], dataset


def _print_rows(rows: list[dict], metrics: list[str], k: int) -> None:
    columns = [*metrics, f"judged@{k}"]
    width = max(len(r["model"]) for r in rows) + 2
    click.echo("model".ljust(width) + "".join(c.rjust(14) for c in columns))
    for row in sorted(rows, key=lambda r: -r[metrics[0]]):
        click.echo(row["model"].ljust(width) + "".join(f"{row[c]:14.4f}" for c in columns))
