from __future__ import annotations

import json
from pathlib import Path

import click

from embedscope.cli import options


@options.command("cluster", aliases=(options.Alias("--k", "--clusters"),))
@options.shared(*options.DATA, "models", "metrics", *options.STORAGE, fallback={"models": ["minilm"]})
@click.option("--method", type=click.Choice(["kmeans", "hdbscan"]), default="kmeans", show_default=True)
@click.option("--clusters", "clusters", default="2..20", show_default=True,
              help="KMeans clusters: a number, a range swept by silhouette (2..20) or a list (4,8,16).")
@click.option("--min-cluster-size", type=int, default=10, show_default=True, help="HDBSCAN's smallest cluster.")
@click.option("--projection", type=click.Choice(["pca", "umap"]), default="pca", show_default=True)
@click.option("--labels", type=click.Path(exists=True, dir_okay=False),
              help="TSV 'doc_id<TAB>label' of known classes: reports NMI/ARI of the clusters against them.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True),
              help="Add the map to this run directory (clusters/), so `embedscope report` shows it.")
def command(settings, method, clusters, min_cluster_size, projection, labels, seed, run_dir):
    """Cluster the corpus in a model's embedding space and map it in 2-D (self-contained HTML).

    With qrels, each --metric [ndcg@10] is averaged over the queries of each cluster.
    """
    from embedscope.data import load_from
    from embedscope.clusters import hdbscan, kmeans_sweep, label_agreement, metric_by_cluster, parse_ks, project
    from embedscope.clusters.plot import plot_data, write_plot
    from embedscope.metrics import canonical, evaluate
    from embedscope.models import load_model
    from embedscope.report import new_run_dir
    from embedscope.files import write_file
    from embedscope.report.outputs import staged
    from embedscope.runs.context import RetrievalContext
    from embedscope.runs.dense import DenseRetriever, dense_vectors

    model_spec, cache, output = options.one_model(settings, "cluster"), settings["cache"], settings["output"]
    metrics = [canonical(m) for m in settings.get("metrics") or ["ndcg@10"]]
    dataset = load_from(settings)
    model = load_model(model_spec)
    context = RetrievalContext(cache)
    docs, queries, _ = dense_vectors(model, dataset, context)
    clustering = (kmeans_sweep(docs, parse_ks(clusters), seed) if method == "kmeans"
                  else hdbscan(docs, min_cluster_size=min_cluster_size, seed=seed))
    report = {"model": model.name, "method": method, "clusters": clustering.n_clusters,
              "noise": int((clustering.labels < 0).sum()), "silhouette": clustering.silhouette,
              "sweep": clustering.sweep, "sizes": {int(c): int((clustering.labels == c).sum())
                                                   for c in sorted(set(clustering.labels.tolist()))}}
    query_clusters = {}
    if clustering.n_clusters:
        query_clusters = dict(zip(dataset.query_ids, clustering.assign(queries, 1)[:, 0].tolist()))
    if dataset.has_qrels and query_clusters:
        evaluation = evaluate(dataset.qrels, DenseRetriever(model, context).retrieve(dataset, 100), metrics)
        for metric in metrics:
            report[f"{metric}_by_cluster"] = metric_by_cluster(evaluation.per_query[metric], query_clusters)
            report[metric] = evaluation.mean[metric]
    if labels:
        known = _read_labels(labels)
        pairs = [(known[d], c) for d, c in zip(dataset.doc_ids, clustering.labels) if d in known]
        if not pairs:
            raise click.BadParameter(f"{labels}: no document id matches the corpus", param_hint="--labels")
        report["labels"] = label_agreement([t for t, _ in pairs], [c for _, c in pairs]) | {"documents": len(pairs)}
    doc_xy, query_xy = project(docs, queries, projection, seed)
    data_ = plot_data(dataset.doc_ids, dataset.doc_texts, doc_xy, clustering.labels, dataset.query_ids,
                      dataset.query_texts, query_xy, query_clusters)
    title = f"{dataset.name}: {model.name} ({method}, {projection})"
    report["title"] = title
    if run_dir:  # beside an existing comparison: one map per model under clusters/, named by the model's slug
        folder, stem = Path(run_dir) / "clusters", _slug(run_dir, model.name)
        paths = write_plot(data_, folder, stem=stem, title=title)
        write_file(folder / f"{stem}_report.json", json.dumps(report, indent=2))
    else:
        with staged(new_run_dir(output, dataset.name)) as out:
            paths = write_plot(data_, out.folder, stem="clusters", title=title)
            write_file(out.folder / "clusters_report.json", json.dumps(report, indent=2))
        run_dir = out.path
        paths = {key: run_dir / Path(p).name for key, p in paths.items()}
    click.echo(f"{model.name}: {clustering.n_clusters} clusters ({method}), silhouette "
               f"{clustering.silhouette if clustering.silhouette is None else round(clustering.silhouette, 3)}")
    for row in clustering.sweep:
        click.echo(f"  k={row['k']:<3} silhouette={row['silhouette']:.3f}" if row["silhouette"] is not None else f"  k={row['k']}")
    print_sizes(report, metrics)
    if "labels" in report:
        click.echo(f"vs labels: NMI {report['labels']['nmi']:.3f}  ARI {report['labels']['ari']:.3f}")
    click.echo(f"map: {paths['html']}")
    return run_dir


def print_sizes(report: dict, metrics: list[str]) -> None:
    """One line per cluster: its documents, the queries nearest to it and their mean metrics (with qrels)."""
    shown = [m for m in metrics if f"{m}_by_cluster" in report]
    click.echo(f"  {'cluster':>7} {'docs':>7} {'queries':>7}" + "".join(f" {m:>10}" for m in shown))
    for c, size in report["sizes"].items():
        by_metric = [report[f"{m}_by_cluster"].get(c) for m in shown]
        queries = by_metric[0]["queries"] if by_metric and by_metric[0] else 0
        cells = "".join(f" {row['mean']:>10.4f}" if row else f" {'–':>10}" for row in by_metric)
        click.echo(f"  {'noise' if c < 0 else c:>7} {size:>7,} {queries:>7,}{cells}")


def _slug(run_dir, name: str) -> str:
    """The model's slug in the run directory's results.json, or one made for this name alone."""
    from embedscope.report.outputs import slugs
    from embedscope.rundir import read_results

    try:
        models = read_results(run_dir).models
    except (OSError, ValueError):
        models = []
    found = next((m.slug for m in models if m.name == name), None)
    return found or slugs([name])[name]


def _read_labels(path: str) -> dict[str, str]:
    from embedscope.data import DataError

    out = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t")
        if len(parts) != 2:
            raise DataError(path, "expected 'doc_id<TAB>label'", number)
        out[parts[0]] = parts[1]
    return out
