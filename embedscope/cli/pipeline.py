from __future__ import annotations

import json

import click

from embedscope.cli import options


@options.command("pipeline")
@options.shared(*options.DATA, "models", "k", "depth", "metrics", "index", "similarity", *options.STORAGE,
                fallback={"models": []})
@click.option("--baseline", "-b", default="minilm", show_default=True, help="Plain model the pipelines are tested against.")
@click.option("--alpha-sweep", "sweep", help="Two stages 'FIRST+SECOND' to fuse at alpha = 0, 0.1, ..., 1 (min-max).")
def command(settings, baseline, sweep):
    """Score pipelines against a plain baseline: delta, wins/losses, paired t and randomization tests.

    Each --model is a pipeline spec: hybrid:bm25+minilm, rerank:minilm>cross-encoder:PATH,
    cluster-filter:minilm?clusters=20.
    """
    from embedscope.cli.errors import require_results
    from embedscope.data import load_from
    from embedscope.pipelines.versus import paired_delta, verdict
    from embedscope.report import new_run_dir, write_outputs

    pipelines, k, depth, cache = settings["models"], settings["k"], settings["depth"], settings["cache"]
    if not pipelines and not sweep:
        raise click.UsageError("name at least one --model pipeline or an --alpha-sweep")
    dataset = load_from(settings)
    if not dataset.has_qrels:
        raise click.UsageError(f"{dataset.name}: no qrels for split '{settings['split']}'; pipelines are compared "
                               "on judged queries")
    comparison = options.compare_models(dataset, [baseline, *pipelines], settings)
    require_results(comparison, partial_ok=False)  # every pipeline is compared with the baseline
    metric = comparison.main_metric
    base = comparison.results[0]
    rows = []
    for result in comparison.results[1:]:
        row = paired_delta(result.evaluation, base.evaluation, metric) | {"verdict": None}
        row["verdict"] = verdict(row)
        for key in ("recall_vs_exact@%d" % depth, "searched_fraction"):
            if key in result.run.meta:
                row[key] = result.run.meta[key]
        rows.append(row)
    report = {"baseline": base.name, "metric": metric, "pipelines": rows}
    if sweep:
        report["alpha_sweep"] = _sweep(dataset, sweep, depth, k, cache)
    run_dir = write_outputs(comparison, new_run_dir(settings["output"], dataset.name),
                            extra={"pipelines.json": json.dumps(report, indent=2)})["run_dir"]
    click.echo(f"{metric}: baseline {base.name} = {base.evaluation.mean[metric]:.4f}")
    for row in rows:
        click.echo(f"  {row['pipeline']:<48} {row['pipeline_mean']:.4f}  delta {row['delta']:+.4f}  "
                   f"W/L/T {row['wins']}/{row['losses']}/{row['ties']}  p(t) {row['p_ttest']:.3g}  "
                   f"p(rand) {row['p_randomization']:.3g}  {row['verdict']}")
    for row in report.get("alpha_sweep", []):
        click.echo(f"  alpha {row['alpha']:.1f}  {metric} {row[metric]:.4f}")
    click.echo(f"results in {run_dir}")
    return run_dir


def _sweep(dataset, stages: str, depth: int, k: int, cache: str) -> list[dict]:
    from embedscope.compare import metrics_for
    from embedscope.pipelines.components import split_stages
    from embedscope.pipelines.hybrid import alpha_sweep
    from embedscope.runs.context import RetrievalContext

    specs = split_stages(stages, "+", "--alpha-sweep", "--alpha-sweep bm25+minilm")
    if len(specs) != 2:
        raise click.BadParameter("an alpha sweep fuses exactly two stages", param_hint="--alpha-sweep")
    context = RetrievalContext(cache, depth=depth)  # the baseline's cache: its vectors are embedded once
    runs = [context.retriever(s).retrieve(dataset, depth, context) for s in specs]
    return alpha_sweep(dataset.qrels, runs, [i / 10 for i in range(11)], metrics_for(k), k=depth)
