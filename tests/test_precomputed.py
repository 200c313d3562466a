"""Precomputed vectors: same quality as embedding in-process, aligned by id, bad files named with their row."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedscope.data import DataError, Dataset, Document
from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever


def write_parquet(path, ids, vectors, id_column="_id", vector_column="emb"):
    pq.write_table(pa.table({id_column: ids, vector_column: [list(map(float, v)) for v in vectors]}), path)


def write_jsonl(path, ids, vectors, id_column="_id", vector_column="emb"):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for i, v in zip(ids, vectors):
            f.write(json.dumps({id_column: i, vector_column: [float(x) for x in v]}) + "\n")


def test_precomputed_file_scores_exactly_like_the_model_that_made_it(scifact_small, static_model, session_cache,
                                                                     tmp_path, caplog):
    dataset = scifact_small
    dense = DenseRetriever(static_model, session_cache)
    docs, queries, _ = dense.embed(dataset)
    reference = evaluate(dataset.qrels, dense.retrieve(dataset, 100), ["ndcg@10", "recall@100"]).mean

    # rows shuffled and extra ids the subset lacks: alignment must go by id
    rng = np.random.default_rng(0)
    order = rng.permutation(len(docs))
    ids = [dataset.doc_ids[i] for i in order] + ["not-in-dataset-1", "not-in-dataset-2"]
    vectors = np.vstack([docs[order], rng.standard_normal((2, docs.shape[1]))])
    write_parquet(tmp_path / "corpus.parquet", ids, vectors, vector_column="emb_static")
    write_jsonl(tmp_path / "queries.jsonl.gz", dataset.query_ids[::-1], queries[::-1], vector_column="emb_static")

    model = load_model(f"precomputed:{tmp_path / 'corpus.parquet'}?vector_column=emb_static"
                       f"&queries={tmp_path / 'queries.jsonl.gz'}")
    run = DenseRetriever(model).retrieve(dataset, 100)  # searched like any dense model
    got = evaluate(dataset.qrels, run, ["ndcg@10", "recall@100"]).mean
    assert got == pytest.approx(reference, abs=1e-9)
    assert model.dim == docs.shape[1]
    assert run.meta["embedding"]["vectors"]["unknown_ids"] == {"corpus": 2, "queries": 0}
    assert "2 ids are not in the corpus" in caplog.text and model.warnings


@pytest.fixture
def small():
    corpus = {f"d{i}": Document(f"d{i}", f"text {i}") for i in range(4)}
    return Dataset("small", corpus, {"q1": "question"}, {"q1": {"d1": 1}})


def spec_for(tmp_path, corpus_name="c.jsonl"):
    write_jsonl(tmp_path / "q.jsonl", ["q1"], [[1.0, 0.0, 0.0]])
    return f"precomputed:{tmp_path / corpus_name}?vector_column=emb&queries={tmp_path / 'q.jsonl'}"


@pytest.mark.parametrize("rows, expected", [
    ([("d0", [1, 0, 0]), ("d1", [0, 1])], r"c.jsonl:2: id 'd1': 2 dimensions, but the first row has 3"),
    ([("d0", [1, 0, 0]), ("d1", [0, float("nan"), 0])], r"c.jsonl:2: id 'd1': non-finite value nan at position 1"),
    ([("d0", [1, 0, 0]), ("d0", [0, 1, 0])], r"c.jsonl:2: duplicate id 'd0' \(first at row 1\)"),
    ([("d0", [1, 0, 0]), ("d1", "0 1 0")], r"c.jsonl:2: id 'd1': 'emb' is not a list of numbers"),
    ([("d0", [1, 0, 0]), ("d1", [0, "x", 0])], r"c.jsonl:2: id 'd1': 'emb' holds non-numbers"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, rows, expected):
    # json.dumps writes NaN as a bare NaN token, which Python's json reads back: the check must catch it
    write_jsonl(tmp_path / "c.jsonl", [r[0] for r in rows], [[]] * len(rows))
    with open(tmp_path / "c.jsonl", "w") as f:
        for doc_id, vector in rows:
            f.write(json.dumps({"_id": doc_id, "emb": vector}) + "\n")
    with pytest.raises(DataError, match=expected):
        load_model(spec_for(tmp_path))


def test_parquet_errors_name_file_and_row(tmp_path, small):
    write_parquet(tmp_path / "c.parquet", ["d0", "d1", "d2"], [[1, 0, 0], [0, 1, 0], [0, 0, float("inf")]])
    with pytest.raises(DataError, match=r"c.parquet: row 3: id 'd2': non-finite value inf"):
        load_model(spec_for(tmp_path, "c.parquet"))
    write_parquet(tmp_path / "c.parquet", ["d0", "d1"], [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(DataError, match=r"no column 'embedding'; columns are: _id, emb"):
        load_model(f"precomputed:{tmp_path / 'c.parquet'}?vector_column=embedding&queries={tmp_path / 'q.jsonl'}")
    model = load_model(spec_for(tmp_path, "c.parquet"))
    with pytest.raises(DataError, match=r"c.parquet: 2 of 4 corpus ids have no vector, e.g. 'd2', 'd3'"):
        DenseRetriever(model).retrieve(small, 10)


def test_missing_queries_option_and_dimension_mismatch_are_clear(tmp_path, small):
    write_parquet(tmp_path / "c.parquet", ["d0", "d1", "d2", "d3"], np.eye(4)[:, :2])
    with pytest.raises(ValueError, match="needs query vectors too: add queries=PATH"):
        load_model(f"precomputed:{tmp_path / 'c.parquet'}?vector_column=emb")
    with pytest.raises(DataError, match="query vectors have 3 dimensions"):
        load_model(spec_for(tmp_path, "c.parquet"))
    # + 0.01: no all-zero row, which cosine similarity refuses (it has no direction)
    write_parquet(tmp_path / "c.parquet", ["d0", "d1", "d2", "d3"], np.eye(4)[:, :3] + 0.01)
    run = DenseRetriever(load_model(spec_for(tmp_path, "c.parquet"))).retrieve(small, 2)
    assert run.ranked("q1", 1)[0][0] == "d0"  # query [1,0,0] is closest to d0
