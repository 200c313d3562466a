"""Loaders: real BEIR folders load exactly; bad input gets an error naming file and line, never silent loss."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from embedscope.data import DataError, load_beir, load_tables


def test_scifact_counts_match_provenance(scifact):
    s = scifact.summary()
    assert (s["documents"], s["queries"], s["judgments"], s["grades"]) == (5183, 300, 339, [1])


def test_nfcorpus_crlf_and_graded(nfcorpus_dir):
    assert b"\r\n" in (nfcorpus_dir / "qrels" / "test.tsv").read_bytes()[:200]
    ds = load_beir(nfcorpus_dir)
    s = ds.summary()
    assert (s["documents"], s["queries"], s["judgments"], s["grades"]) == (3633, 323, 12334, [1, 2])
    assert not any(d.endswith("\r") for rels in ds.qrels.values() for d in rels)
    grades = [g for rels in ds.qrels.values() for g in rels.values()]
    assert grades.count(2) == 576 and grades.count(1) == 11758


def test_other_split(scifact_dir):
    assert len(load_beir(scifact_dir, split="train").queries) == 809
    with pytest.raises(DataError, match="split 'dev' not found; available: test, train"):
        load_beir(scifact_dir, split="dev")


def test_title_joined_as_in_beir(scifact):
    doc = next(iter(scifact.corpus.values()))
    assert doc.full_text == f"{doc.title} {doc.text}".strip()


def write_beir(root: Path, corpus: list, queries: list, qrels: str, gz: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    lines = "".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in corpus)
    if gz:
        with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (root / "corpus.jsonl").write_text(lines, encoding="utf-8")
    (root / "queries.jsonl").write_text("".join((q if isinstance(q, str) else json.dumps(q)) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_bytes(qrels.encode())
    return root


GOOD_CORPUS = [{"_id": "d1", "title": "T", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}]
GOOD_QUERIES = [{"_id": "q1", "text": "alpha?"}, {"_id": "q2", "text": "beta?"}]
GOOD_QRELS = "query-id\tcorpus-id\tscore\r\nq1\td1\t2\r\nq2\td2\t1\r\n"


def test_tiny_folder_loads_gz_and_crlf(tmp_path):
    ds = load_beir(write_beir(tmp_path / "ok", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS, gz=True))
    assert ds.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1}}
    assert ds.doc_texts == ["T alpha", "beta"]


@pytest.mark.parametrize(
    "corpus, queries, qrels, file, line, message",
    [
        (GOOD_CORPUS + ['{"_id": "d3", "text": '], GOOD_QUERIES, GOOD_QRELS, "corpus.jsonl", 3, "malformed JSON"),
        (GOOD_CORPUS + [{"_id": "d1", "text": "again"}], GOOD_QUERIES, GOOD_QRELS, "corpus.jsonl", 3, "duplicate document id 'd1' \\(first on line 1\\)"),
        (GOOD_CORPUS + [{"_id": "d3", "title": "", "text": "  "}], GOOD_QUERIES, GOOD_QRELS, "corpus.jsonl", 3, "empty title and text"),
        (GOOD_CORPUS + [{"text": "no id"}], GOOD_QUERIES, GOOD_QRELS, "corpus.jsonl", 3, "missing field '_id'"),
        (GOOD_CORPUS, GOOD_QUERIES + [{"_id": "q3", "text": ""}], GOOD_QRELS, "queries.jsonl", 3, "field 'text' is empty"),
        (GOOD_CORPUS, GOOD_QUERIES + [{"_id": "q1", "text": "dup"}], GOOD_QRELS, "queries.jsonl", 3, "duplicate query id 'q1'"),
        (GOOD_CORPUS, GOOD_QUERIES + ["[1, 2]"], GOOD_QRELS, "queries.jsonl", 3, "expected a JSON object"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q1\tnope\t1\r\n", "test.tsv", 4, "document id 'nope' is not in the corpus"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q9\td1\t1\r\n", "test.tsv", 4, "query id 'q9' is not in the queries"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q1\td2\thigh\r\n", "test.tsv", 4, "score 'high' is not a number"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q1\td2\r\n", "test.tsv", 4, "expected 3 tab-separated columns"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q1\td1\t1\r\n", "test.tsv", 4, "conflicting grades"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, corpus, queries, qrels, file, line, message):
    folder = write_beir(tmp_path / "bad", corpus, queries, qrels)
    with pytest.raises(DataError, match=message) as err:
        load_beir(folder)
    assert err.value.path.endswith(file)
    assert err.value.line == line
    assert f"{file}:{line}:" in str(err.value)


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        load_beir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="corpus.jsonl: file not found"):
        load_beir(tmp_path / "empty")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    folder = write_beir(tmp_path / "gz", GOOD_CORPUS * 1, GOOD_QUERIES, GOOD_QRELS, gz=True)
    data = (folder / "corpus.jsonl.gz").read_bytes()
    (folder / "corpus.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corpus.jsonl.gz"):
        load_beir(folder)


def test_no_qrels_folder_means_unjudged(tmp_path):
    folder = write_beir(tmp_path / "nq", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (folder / "qrels" / "test.tsv").unlink()
    (folder / "qrels").rmdir()
    ds = load_beir(folder)
    assert not ds.has_qrels and len(ds.queries) == 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_tables_with_column_mapping(tmp_path, fmt):
    docs = pd.DataFrame({"id": ["007", "8"], "headline": ["Alpha", None], "body": ["first doc", "second doc"]})
    queries = pd.DataFrame({"qid": ["a", "b"], "question": ["first?", "second?"]})
    qrels = pd.DataFrame({"q": ["a", "b"], "d": ["007", "8"], "rel": [2, 1]})
    paths = {}
    for name, df in (("docs", docs), ("queries", queries), ("qrels", qrels)):
        paths[name] = tmp_path / f"{name}.{fmt}"
        if fmt == "jsonl":
            df.to_json(paths[name], orient="records", lines=True)
        elif fmt == "csv":
            df.to_csv(paths[name], index=False)
        else:
            df.to_parquet(paths[name])
    columns = {"doc_id": "id", "doc_title": "headline", "doc_text": "body", "query_id": "qid",
               "query_text": "question", "qrels_query": "q", "qrels_doc": "d", "qrels_score": "rel"}
    ds = load_tables(paths["docs"], paths["queries"], paths["qrels"], columns=columns)
    assert ds.doc_ids == ["007", "8"]  # ids stay strings, leading zeros kept
    assert ds.doc_texts == ["Alpha first doc", "second doc"]
    assert ds.qrels == {"a": {"007": 2}, "b": {"8": 1}}


def test_table_errors_name_line(tmp_path):
    (tmp_path / "docs.csv").write_text("id,body\nd1,fine\nd2,\nd3,ok\n")
    (tmp_path / "q.csv").write_text("id,text\nq1,hello\n")
    with pytest.raises(DataError, match=r"docs.csv:3: document 'd2' has empty text"):
        load_tables(tmp_path / "docs.csv", tmp_path / "q.csv", columns={"doc_id": "id", "doc_text": "body", "query_id": "id"})
    (tmp_path / "docs.csv").write_text("id,body\nd1,fine\nd1,twice\n")
    with pytest.raises(DataError, match=r"docs.csv:3: duplicate document id 'd1'"):
        load_tables(tmp_path / "docs.csv", tmp_path / "q.csv", columns={"doc_id": "id", "doc_text": "body", "query_id": "id"})
    with pytest.raises(DataError, match="text column 'content' not found"):
        load_tables(tmp_path / "docs.csv", tmp_path / "q.csv", columns={"doc_id": "id", "doc_text": "content"})
    (tmp_path / "docs.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown table format"):
        load_tables(tmp_path / "docs.xlsx", tmp_path / "q.csv")


def test_subset_keeps_judged_docs(scifact):
    sub = scifact.subset(n_queries=20, n_docs=300, seed=0)
    assert len(sub.queries) == 20 and len(sub.corpus) == 300
    assert all(d in sub.corpus for rels in sub.qrels.values() for d in rels)
