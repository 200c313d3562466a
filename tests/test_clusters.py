"""Clustering, projections and the cluster map, on synthetic blobs and on a labelled mix of two corpora."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedscope.clusters import hdbscan, kmeans, kmeans_sweep, label_agreement, metric_by_cluster, parse_ks, project
from embedscope.clusters.plot import plot_data, write_plot


@pytest.fixture(scope="module")
def blobs():
    from sklearn.datasets import make_blobs

    # Four well separated directions (cosine clusters): offset from the origin so normalising keeps them apart.
    x, y = make_blobs(n_samples=400, centers=4, n_features=16, cluster_std=0.3, center_box=(-10, 10), random_state=3)
    return x.astype(np.float32), y


def test_k_sweep_picks_the_true_k_by_silhouette(blobs):
    x, y = blobs
    best = kmeans_sweep(x, parse_ks("2..7"))
    assert best.n_clusters == 4
    assert [row["k"] for row in best.sweep] == list(range(2, 8))
    assert label_agreement(y, best.labels)["ari"] > 0.95


def test_hdbscan_finds_the_blobs(blobs):
    x, y = blobs
    found = hdbscan(x, min_cluster_size=20)
    assert found.n_clusters == 4
    keep = found.labels >= 0
    assert label_agreement(y[keep], found.labels[keep])["nmi"] > 0.9


def test_clusters_of_mixed_corpora_follow_their_source(scifact, nfcorpus, minilm):
    """Docs of SciFact and NFCorpus mixed, label = source: MiniLM's 2 clusters should partly follow it.
    (Both corpora are biomedical; the 64-d static model barely separates them, MiniLM does clearly.)"""
    rng = np.random.default_rng(0)
    sci = [scifact.corpus[d].full_text for d in rng.choice(scifact.doc_ids, 200, replace=False)]
    nf = [nfcorpus.corpus[d].full_text for d in rng.choice(nfcorpus.doc_ids, 200, replace=False)]
    vectors = minilm.encode_documents(sci + nf)
    source = np.array([0] * len(sci) + [1] * len(nf))
    found = kmeans(vectors, 2)
    real = label_agreement(source, found.labels)
    shuffled = label_agreement(rng.permutation(source), found.labels)
    assert real["nmi"] > shuffled["nmi"] + 0.15 and real["ari"] > shuffled["ari"] + 0.15, (real, shuffled)


def test_pca_places_queries_with_the_documents_fit(blobs):
    from sklearn.decomposition import PCA

    from embedscope.index import normalize

    x, _ = blobs
    docs, queries = x[:300], x[300:]
    doc_xy, query_xy = project(docs, queries, "pca")
    reference = PCA(n_components=2, random_state=0).fit(normalize(docs))
    assert np.allclose(np.abs(doc_xy), np.abs(reference.transform(normalize(docs))), atol=1e-4)
    assert np.allclose(np.abs(query_xy), np.abs(reference.transform(normalize(queries))), atol=1e-4)


def test_umap_projection(blobs):
    x, y = blobs
    doc_xy, query_xy = project(x[:200], x[200:230], "umap")
    assert doc_xy.shape == (200, 2) and query_xy.shape == (30, 2) and np.isfinite(query_xy).all()


def test_metric_by_cluster_averages_per_query_values():
    per_query = {"q1": 1.0, "q2": 0.0, "q3": 0.5, "q4": 0.25}
    out = metric_by_cluster(per_query, {"q1": 0, "q2": 0, "q3": 1, "q4": 1})
    assert out == {0: {"mean": 0.5, "queries": 2}, 1: {"mean": 0.375, "queries": 2}}


def test_plot_is_self_contained_and_escapes_hover_text(tmp_path):
    evil = "<script>alert('x')</script> " + "word " * 100
    data = plot_data(["d1", "d2"], [evil, "plain text"], np.array([[0, 0], [1, 1]]), np.array([0, 1]),
                     ["q1"], ["a query"], np.array([[0.5, 0.5]]), {"q1": 1})
    paths = write_plot(data, tmp_path)
    page = paths["html"].read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in json.dumps(data)
    assert 'src="http' not in page and "plotly" in page.lower() and len(page) > 1_000_000  # plotly.js inlined
    saved = json.loads(paths["json"].read_text())
    assert saved["queries"][0]["cluster"] == 1
    assert len(saved["documents"][0]["text"]) <= 260 and saved["documents"][0]["text"].endswith("…")


def test_cluster_command_writes_map_and_report(scifact_dir, tmp_path):
    from click.testing import CliRunner

    from embedscope.cli import cli

    labels = tmp_path / "labels.tsv"
    from embedscope.data import load_beir

    docs = load_beir(scifact_dir).subset(20, 300, seed=0).doc_ids
    labels.write_text("".join(f"{d}\t{'even' if i % 2 else 'odd'}\n" for i, d in enumerate(docs)))
    result = CliRunner().invoke(cli, ["cluster", "--data", str(scifact_dir), "--max-queries", "20", "--max-docs", "300",
                                      "-m", "tokenlearn", "--clusters", "2..4", "--labels", str(labels),
                                      "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").iterdir())
    report = json.loads((run_dir / "clusters_report.json").read_text())
    assert [r["k"] for r in report["sweep"]] == [2, 3, 4] and report["clusters"] in (2, 3, 4)
    assert report["labels"]["documents"] == 300 and abs(report["labels"]["ari"]) < 0.1  # arbitrary labels: no agreement
    assert sum(c["queries"] for c in report["ndcg@10_by_cluster"].values()) == 20
    assert (run_dir / "clusters.html").exists() and (run_dir / "clusters.json").exists()


def test_cluster_prints_sizes_and_scores_per_cluster(tmp_path, synthetic_dir):
    """The console shows each cluster's documents, its queries and their mean nDCG@10, as clusters_report.json."""
    from click.testing import CliRunner

    from embedscope.cli import cli

    result = CliRunner().invoke(cli, ["cluster", "--data", str(synthetic_dir), "-m", "tokenlearn", "--clusters", "4",
                                      "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "out").iterdir()).joinpath("clusters_report.json").read_text())
    lines = [line.split() for line in result.output.splitlines()]
    header = next(i for i, cells in enumerate(lines) if cells[:3] == ["cluster", "docs", "queries"])
    assert lines[header][3] == "ndcg@10"
    rows = {int(cells[0]): cells[1:] for cells in lines[header + 1:header + 1 + len(report["sizes"])]}
    assert {c: int(r[0].replace(",", "")) for c, r in rows.items()} == {int(c): n for c, n in report["sizes"].items()}
    for c, scored in report["ndcg@10_by_cluster"].items():
        assert int(rows[int(c)][1]) == scored["queries"]
        assert float(rows[int(c)][2]) == pytest.approx(scored["mean"], abs=1e-4)
