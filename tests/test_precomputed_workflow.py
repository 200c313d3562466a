"""Vectors of several models in one Parquet file, through every command that uses vectors: run (with the index
asked for), cluster (KMeans(10) + PCA), cluster-filtered search, a compression sweep, db-bench, recommend and
the report. The worked example in docs/guides/models.md is this flow."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from embedscope.cli import cli
from embedscope.report.html import decode_view
from embedscope.results import Results


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], standalone_mode=False)
    assert result.exception is None, f"{args}: {result.output}\n{result.exception!r}"
    return result


def newest(folder):
    return max(folder.iterdir(), key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="module")
def vectors(synthetic, tmp_path_factory):
    """corpus.parquet and queries.parquet with one vector column per model: a static model's own vectors,
    the same vectors through a random 24-dim projection, and the first half of its dimensions."""
    from conftest import write_beir_folder

    from embedscope.models import load_model

    root = tmp_path_factory.mktemp("seed")
    data = write_beir_folder(synthetic, root / "data")
    model = load_model("tokenlearn")
    docs, queries = model.encode_documents(synthetic.doc_texts), model.encode_queries(synthetic.query_texts)
    projection = np.random.default_rng(0).standard_normal((docs.shape[1], 24)).astype(np.float32)
    columns = {"static": (docs, queries), "projected": (docs @ projection, queries @ projection),
               "half": (docs[:, :32], queries[:, :32])}
    for name, ids, which in (("corpus", synthetic.doc_ids, 0), ("queries", synthetic.query_ids, 1)):
        table = {"_id": ids} | {f"emb_{c}": [row.tolist() for row in v[which]] for c, v in columns.items()}
        pq.write_table(pa.table(table), root / f"{name}.parquet")
    return root, data


def spec(root, column):
    return f"precomputed:{root / 'corpus.parquet'}?vector_column=emb_{column}&queries={root / 'queries.parquet'}&name={column}"


def test_seed_workflow_end_to_end(vectors):
    root, data = vectors
    cache, out = root / "cache", root / "out"

    # 1. run: every model searched with the index asked for, and the index recorded
    invoke("run", "--data", data, "-m", spec(root, "static"), "-m", spec(root, "projected"), "-m", spec(root, "half"),
           "-m", "bm25", "--index", "faiss:HNSW32?efSearch=64", "--cache", cache, "-o", out, "-q")
    run_dir = newest(out)
    results = Results.read(run_dir)
    for name in ("static", "projected", "half"):
        model = results.model(name)
        assert model.run.kind == "precomputed" and model.run.index == "faiss:HNSW32?efSearch=64-cosine"
        assert model.info.dim == {"static": 64, "projected": 24, "half": 32}[name]
    assert results.settings.index == "faiss:HNSW32?efSearch=64"
    assert "faiss:HNSW32?efSearch=64" in (run_dir / "summary.md").read_text()

    # 2. cluster with KMeans(10) and PCA, from the precomputed vectors, into the run directory
    invoke("cluster", "--data", data, "-m", spec(root, "static"), "--clusters", "10", "--projection", "pca",
           "--run-dir", run_dir, "--cache", cache)
    reports = [json.loads(p.read_text()) for p in (run_dir / "clusters").glob("*_report.json")]
    assert reports and reports[0]["clusters"] == 10 and sum(reports[0]["sizes"].values()) == 160

    # 3. cluster-filtered search over the precomputed vectors (a YAML entry: the stage has options of its own)
    config = root / "cluster-filter.yaml"
    config.write_text(yaml.safe_dump({"data": str(data), "models": [
        {"type": "cluster-filter", "clusters": 10, "probe": 2,
         "model": {"type": "precomputed", "path": str(root / "corpus.parquet"), "queries": str(root / "queries.parquet"),
                   "vector_column": "emb_static", "name": "static"}}]}))
    invoke("run", "--config", config, "--cache", cache, "-o", root / "cf", "-q")
    filtered = Results.read(newest(root / "cf")).models[0]
    assert filtered.run.kind == "cluster-filter" and filtered.run.get("clusters") == 10
    assert 0 < filtered.run.get("searched_fraction") < 1 and filtered.metrics["ndcg@10"] > 0

    # 4. compression sweep of one precomputed model
    invoke("sweep", "compression", "--data", data, "-m", spec(root, "static"), "--dims", "32",
           "--cache", cache, "-o", root / "sweep", "-q")
    sweep = json.loads(next((root / "sweep").rglob("*.json")).read_text())
    assert sweep["sweeps"][0]["model"] == "static" and sweep["sweeps"][0]["options"]

    # 5. db-bench: the same vectors loaded into indexes and scored against exact search
    invoke("db-bench", "--data", data, "-m", spec(root, "static"), "--backend", "exact", "--backend", "faiss:HNSW32",
           "--cache", cache, "-o", root / "db", "-q")
    bench = json.loads(next((root / "db").rglob("*.json")).read_text())
    assert {r["spec"] for r in bench["results"]} == {"exact", "faiss:HNSW32"}
    assert next(r for r in bench["results"] if r["spec"] == "exact")["recall@10_vs_exact"] == 1.0

    # 6. recommend: each model placed, or the reason it cannot be, with footprint from dimensions and counts
    advice = json.loads(invoke("recommend", run_dir, "--json").stdout)
    assert advice["chosen"] in {m.name for m in results.models}
    by_name = {m["name"]: m for m in advice["models"]}
    assert by_name["projected"]["footprint_bytes"] == 24 * 4 * 160
    assert not any("embedscope bench" in r for m in advice["models"] for r in m["reasons"])

    # 7. the report
    invoke("report", run_dir)
    html = (run_dir / "report.html").read_text()
    found = re.search(r'<script type="text/plain" id="embedscope-data" data-encoding="([^"]+)">([^<]*)</script>', html)
    view = json.dumps(decode_view(found.group(1), found.group(2).strip()))
    assert all(f'"{name}"' in view for name in ("static", "projected", "half", "bm25"))


def test_embed_exports_several_models_into_one_parquet(synthetic_dir, synthetic, tmp_path):
    """`embedscope embed --export` writes one vector column per model into the same files, read back by id."""
    from embedscope.models import load_model
    from embedscope.runs.dense import dense_vectors

    for model in ("tokenlearn", "wordllama"):
        invoke("embed", "--data", synthetic_dir, "-m", model, "--cache", tmp_path / "cache", "-q",
               "--export", tmp_path / "corpus.parquet", "--export-queries", tmp_path / "queries.parquet")
    assert pq.read_table(tmp_path / "corpus.parquet").column_names == ["_id", "emb_tokenlearn", "emb_wordllama"]
    for model in ("tokenlearn", "wordllama"):
        spec = (f"precomputed:{tmp_path / 'corpus.parquet'}?vector_column=emb_{model}"
                f"&queries={tmp_path / 'queries.parquet'}")
        docs, queries, _ = dense_vectors(load_model(spec), synthetic)
        own = load_model(model)
        np.testing.assert_allclose(docs, own.encode_documents(synthetic.doc_texts), atol=1e-5)
        np.testing.assert_allclose(queries, own.encode_queries(synthetic.query_texts), atol=1e-5)
