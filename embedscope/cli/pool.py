"""`embedscope pool`: pool every model's top hits, label the pool (LLM judge or `embedscope serve`), score on it."""

from __future__ import annotations

import json
from pathlib import Path

import click

LLM_LABELS = Path("judgments") / "llm-qrels.tsv"


@click.command("pool")
@click.option("--run-dir", type=click.Path(file_okay=False), help="A run directory from `embedscope run` (its runs are pooled).")
@click.option("--data", help="BEIR folder (instead of --run-dir: the models are run first).")
@click.option("--split", help="qrels split whose queries are used, when the folder has qrels [test].")
@click.option("--model", "-m", "models", multiple=True, help="Model spec to run and pool (repeatable), with --data.")
@click.option("--max-queries", type=int, help="Use a sample of this many queries.")
@click.option("--max-docs", type=int, help="Keep at most this many docs.")
@click.option("--depth", type=int, default=10, show_default=True, help="Pool depth: each model's top-DEPTH per query is judged.")
@click.option("--k", type=int, help="Metric cutoff [pool depth].")
@click.option("--judge-url", help="OpenAI-compatible server for the LLM judge, e.g. http://127.0.0.1:8000/v1.")
@click.option("--judge-model", help="Chat model name for the LLM judge.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--workers", type=int, default=4, show_default=True, help="Judge requests in flight at once.")
@click.option("--labels", type=click.Path(dir_okay=False), help="Extra labels (qrels TSV) to score on [RUN_DIR/judgments/qrels.tsv, the web UI's].")
@click.option("--output", "-o", default="embedscope-runs", show_default=True, help="Where a new run directory goes (with --data).")
@click.option("--cache", default=".embedscope-cache", show_default=True, help="Embedding cache; LLM judgments are cached in it too.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def command(run_dir, data, split, models, max_queries, max_docs, depth, k, judge_url, judge_model, api_key_env,
            workers, labels, output, cache, quiet):
    """Pool the top-DEPTH hits of every model, label the pool, and score each model on the labels.

    Writes RUN_DIR/pool/pool.tsv (the pairs to judge: judge them in `embedscope serve RUN_DIR` or with
    --judge-url/--judge-model), RUN_DIR/judgments/llm-qrels.tsv (LLM labels, BEIR qrels) and
    RUN_DIR/pool/evaluation.json. Human labels win over LLM labels for the same pair.
    """
    from embedscope import progress
    from embedscope.judgments import format_qrels, judgments_path, merge_qrels, read_judgments, write_durably
    from embedscope.noqrels import LLMJudge, depth_pool, evaluate_on_labels, judge_pool, write_pool
    from embedscope.noqrels.pooling import pool_size, unjudged
    from embedscope.rundir import read_dataset, read_runs

    if quiet:  # the command's own -q, as `embedscope -q`
        progress.configure(-1)
    k = k or depth
    if run_dir:
        runs = list(read_runs(run_dir).values())
        dataset = read_dataset(run_dir)
    else:
        run_dir, runs, dataset = _run_models(data, split, models, max_queries, max_docs, depth, output, cache, quiet)
    run_dir = Path(run_dir)
    pool = depth_pool(runs, depth)
    pool_file = write_pool(pool, run_dir / "pool" / "pool.tsv")
    click.echo(f"pool: {pool_size(pool):,} pairs over {len(pool):,} queries from {len(runs)} runs at depth {depth} "
               f"-> {pool_file}", err=True)

    human = read_judgments(labels) if labels else read_judgments(judgments_path(run_dir))
    llm_labels: dict[str, dict[str, int]] = {}
    stats = None
    if judge_url or judge_model:
        from embedscope.cli.generate import llm_client

        judge = LLMJudge(llm_client(judge_url, judge_model, api_key_env, "--judge-url/--judge-model"),
                         cache_path=Path(cache) / "judgments" / "llm-judgments.jsonl")
        llm_labels, stats = judge_pool(pool, dataset, judge, workers=workers, skip=human)
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
        (run_dir / "pool" / "evaluation.json").write_text(json.dumps(report, indent=2))
        return report
    metrics = [f"ndcg@{k}", f"precision@{k}", f"mrr@{k}", f"hit@{k}"]
    rows = evaluate_on_labels(runs, combined, metrics, k)
    report["models"] = rows
    (run_dir / "pool" / "evaluation.json").write_text(json.dumps(report, indent=2))
    _print_rows(rows, metrics, k)
    if left:
        click.echo(f"{pool_size(left):,} pooled pairs are still unjudged: they count as not relevant", err=True)
    click.echo(f"results in {run_dir / 'pool' / 'evaluation.json'}")
    return report


def _run_models(data, split, models, max_queries, max_docs, depth, output, cache, quiet):
    from embedscope.cli.errors import require_results
    from embedscope.data import load_from
    from embedscope.compare import compare
    from embedscope.report import new_run_dir, write_outputs

    if not data or not models:
        raise click.UsageError("give --run-dir, or --data with at least one --model")
    config = {"data": data, "split": split or "test", "max_queries": max_queries, "max_docs": max_docs}
    dataset = load_from(config)
    comparison = compare(dataset, list(models), k=depth, depth=max(depth, 100), cache_dir=cache,
                         log=lambda msg: click.echo(msg, err=True) if not quiet else None)
    require_results(comparison, partial_ok=False)  # a pool of some models only would mislead the judging
    comparison.settings["source"] = {key: config.get(key) for key in
                                     ("data", "split", "corpus", "queries", "qrels", "columns", "max_queries", "max_docs")}
    run_dir = write_outputs(comparison, new_run_dir(output, dataset.name))["run_dir"]
    return run_dir, [r.run for r in comparison.results], dataset


def _print_rows(rows: list[dict], metrics: list[str], k: int) -> None:
    columns = [*metrics, f"judged@{k}"]
    width = max(len(r["model"]) for r in rows) + 2
    click.echo("model".ljust(width) + "".join(c.rjust(14) for c in columns))
    for row in sorted(rows, key=lambda r: -r[metrics[0]]):
        click.echo(row["model"].ljust(width) + "".join(f"{row[c]:14.4f}" for c in columns))
