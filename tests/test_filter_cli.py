"""`--filter FIELD=VALUE` / `--filter word=WORD` on `run` and `db-bench`: every model searches only the matching
documents, with the numbers of an exact search over that subset."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embedscope.data import load_beir
from embedscope.data.load import ConfigError, filter_metadata, parse_filter, restrict
from embedscope.metrics import evaluate
from embedscope.runs import Run


def embedscope(*args):
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tagged_dir(tmp_path_factory):
    """The synthetic corpus with a `shelf` field (a, b or c) on every row: what FIELD=VALUE filters read."""
    from conftest import make_synthetic, write_beir_folder

    folder = write_beir_folder(make_synthetic(), tmp_path_factory.mktemp("tagged") / "tagged", gz=False)
    rows = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        row["metadata"] = {"shelf": "abc"[i % 3]}
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_filters_read_corpus_fields_and_whole_words(tagged_dir):
    dataset = load_beir(tagged_dir)
    assert {doc.tags["shelf"] for doc in dataset.corpus.values()} == {"a", "b", "c"}
    f = parse_filter(["shelf=c", "word=Telescope"])
    kept = restrict(dataset, f)
    assert kept.corpus and all(doc.tags["shelf"] == "c" and "telescope" in doc.full_text.split()
                               for doc in kept.corpus.values())
    expected = [m for m in filter_metadata(dataset) if m.get("shelf") == "c" and "telescope" in m["text"].split()]
    assert len(kept.corpus) == len(expected)
    assert all(d in kept.corpus for rels in kept.qrels.values() for d in rels)
    for bad in (["shelf"], ["word=two words"], ["=x"]):
        with pytest.raises(ConfigError):
            parse_filter(bad)
    with pytest.raises(ConfigError, match="matches none"):
        restrict(dataset, parse_filter(["shelf=z"]))


def test_run_searches_only_matching_docs_with_exact_numbers(tagged_dir, tmp_path):
    out = tmp_path / "out"
    result = embedscope("run", "--data", str(tagged_dir), "-m", "tokenlearn", "-m", "bm25", "--filter", "shelf=a",
                        "-o", str(out), "--cache", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    assert "every model searches only these" in result.stderr
    (run_dir,) = list(out.iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    full = load_beir(tagged_dir)
    subset = restrict(full, parse_filter(["shelf=a"]))
    assert results["dataset"]["documents"] == len(subset.corpus) < len(full.corpus)
    assert results["settings"]["source"]["filters"] == ["shelf=a"]
    for m in results["models"]:
        run = Run.from_trec(run_dir / m["run_file"])
        retrieved = {d for hits in run.scores.values() for d in hits}
        assert retrieved and retrieved <= set(subset.corpus), m["name"]
    # the dense model's numbers are an exact cosine search over the subset
    from embedscope.models import load_model

    model = load_model("tokenlearn")
    docs = np.asarray(model.encode_documents(subset.doc_texts), dtype=np.float32)
    queries = np.asarray(model.encode_queries(subset.query_texts), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores = queries @ docs.T
    ids = subset.doc_ids
    exact = {q: {ids[j]: float(scores[i, j]) for j in np.argsort(-scores[i])[:100]}
             for i, q in enumerate(subset.query_ids)}
    dense = next(m for m in results["models"] if m["name"] != "bm25")
    qrels = {q: r for q, r in subset.qrels.items()}
    ours = evaluate(qrels, Run("exact", exact), ["ndcg@10"]).mean["ndcg@10"]
    assert dense["metrics"]["ndcg@10"] == pytest.approx(ours, abs=1e-4)


def test_db_bench_says_the_filter_is_on_and_how_many_match(tagged_dir, tmp_path):
    result = embedscope("db-bench", "--data", str(tagged_dir), "-m", "tokenlearn", "--backend", "exact",
                        "--backend", "faiss:Flat", "--filter", "shelf=a", "--filter", "word=recipe",
                        "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    matching = sum(parse_filter(["shelf=a", "word=recipe"]).mask(filter_metadata(load_beir(tagged_dir))))
    assert f"filter on (shelf=a word=recipe): {matching:,} of 160 documents match" in result.stderr
    payload = json.loads(next((tmp_path / "out").glob("*/db_bench.json")).read_text())
    assert payload["filter"] == ["shelf=a", "word=recipe"]
    assert all(r["recall@10_vs_exact"] == pytest.approx(1.0) for r in payload["results"])


def test_table_columns_are_filter_fields(tmp_path):
    """A corpus table's other columns are fields too: `--corpus docs.csv --filter lang=de`."""
    from embedscope.data import load

    (tmp_path / "docs.csv").write_text("_id,text,lang,year\nd1,the cell divides,en,2020\nd2,die Zelle teilt sich,de,2021\n"
                                       "d3,cell walls,en,2021\n")
    (tmp_path / "queries.csv").write_text("_id,text\nq1,cell\n")
    dataset = load(corpus=tmp_path / "docs.csv", queries=tmp_path / "queries.csv", filters=["lang=en", "year=2021"])
    assert list(dataset.corpus) == ["d3"]
    assert list(load(corpus=tmp_path / "docs.csv", queries=tmp_path / "queries.csv", filters=["word=CELL"]).corpus) \
        == ["d1", "d3"]
