"""Loaders validate every value of every format and say where a bad one is: wrong types are never coerced, ids
that a TREC run file cannot carry are refused at load time, line numbers are the file's real ones, and empty or
unscorable judgments are errors (or notes), never a silent "0 queries"."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedscope.config import load_config
from embedscope.data import DataError, load, load_beir, load_tables
from embedscope.errors import ConfigError

CORPUS = [{"_id": "d1", "title": "T", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}]
QUERIES = [{"_id": "q1", "text": "alpha?"}, {"_id": "q2", "text": "beta?"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\n"


def beir(folder: Path, corpus=CORPUS, queries=QUERIES, qrels: str | bytes = QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in corpus))
    (folder / "queries.jsonl").write_text("".join((q if isinstance(q, str) else json.dumps(q)) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_bytes(qrels if isinstance(qrels, bytes) else qrels.encode())
    return folder


def parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def queries_csv(tmp_path: Path) -> Path:
    path = tmp_path / "queries.csv"
    path.write_text("_id,text\nq1,alpha?\n")
    return path


# ---------------------------------------------------------------- wrong types are errors, not reprs

@pytest.mark.parametrize("column, kind", [
    (pa.array([["alpha", "beta"], ["gamma"]]), "list<"),
    (pa.array([b"alpha", b"beta"], type=pa.binary()), "binary"),
    (pa.array([{"a": "x"}, {"a": "y"}]), "struct<"),
])
def test_parquet_text_column_of_another_type_is_refused(tmp_path, column, kind):
    corpus = parquet(tmp_path / "corpus.parquet", {"_id": ["d1", "d2"], "text": column})
    with pytest.raises(DataError, match=f"corpus.parquet: column 'text' has type {kind}.*must hold strings"):
        load_tables(corpus, queries_csv(tmp_path))


def test_json_object_as_text_is_refused_with_its_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "text": "fine"}\n\n{"_id": "d2", "text": {"en": "hello"}}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:3: text of document 'd2' must be text, got an object"):
        load_tables(corpus, queries_csv(tmp_path))


def test_beir_number_as_text_and_list_as_title(tmp_path):
    with pytest.raises(DataError, match=r"corpus.jsonl:2: field 'text' must be text, got a number \(3\)"):
        load_beir(beir(tmp_path / "a", corpus=[CORPUS[0], {"_id": "d2", "text": 3}]))
    with pytest.raises(DataError, match=r"corpus.jsonl:1: field 'title' must be text, got a list"):
        load_beir(beir(tmp_path / "b", corpus=[{"_id": "d1", "title": ["T"], "text": "x"}, CORPUS[1]]))


def test_short_and_long_csv_rows_are_refused(tmp_path):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("_id,title,text\nd1,T,alpha\nd2,beta\n")
    with pytest.raises(DataError, match=r"corpus.csv:3: expected 3 fields \(_id, title, text\), got 2"):
        load_tables(corpus, queries_csv(tmp_path))
    corpus.write_text("_id,title,text\nd1,T,alpha,extra\n")
    with pytest.raises(DataError, match=r"corpus.csv:2: expected 3 fields"):
        load_tables(corpus, queries_csv(tmp_path))


def test_csv_line_numbers_count_embedded_newlines(tmp_path):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text('_id,text\nd1,"first\nsecond\nthird line"\nd2,ok\n\nd2,again\n')
    with pytest.raises(DataError, match=r"corpus.csv:7: duplicate document id 'd2' \(first at line 5\)"):
        load_tables(corpus, queries_csv(tmp_path))
    corpus.write_text('_id,text\nd1,"one\ntwo"\nd2,"  "\n')
    with pytest.raises(DataError, match=r"corpus.csv:4: document 'd2' has empty text"):
        load_tables(corpus, queries_csv(tmp_path))


def test_parquet_rows_are_numbered_from_one(tmp_path):
    corpus = parquet(tmp_path / "corpus.parquet", {"_id": ["d1", "d2", "d1"], "text": ["a", "b", "c"]})
    with pytest.raises(DataError, match=r"corpus.parquet: row 3: duplicate document id 'd1' \(first at row 1\)"):
        load_tables(corpus, queries_csv(tmp_path))
    qrels = parquet(tmp_path / "qrels.parquet", {"query-id": ["q1"], "corpus-id": ["d9"], "score": [1]})
    good = parquet(tmp_path / "good.parquet", {"_id": ["d1"], "text": ["a"]})
    with pytest.raises(DataError, match=r"qrels.parquet: row 1: document id 'd9' is not in the corpus"):
        load_tables(good, queries_csv(tmp_path), qrels)


def test_integer_ids_are_text_and_float_ids_are_refused(tmp_path):
    corpus = parquet(tmp_path / "corpus.parquet", {"_id": [7, 8], "text": ["a", "b"]})
    queries = parquet(tmp_path / "queries.parquet", {"_id": [1], "text": ["a?"]})
    qrels = parquet(tmp_path / "qrels.parquet", {"query-id": [1], "corpus-id": [7], "score": [1]})
    assert load_tables(corpus, queries, qrels).qrels == {"1": {"7": 1}}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": 1.5, "text": "a"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: document id is a float, not text or a whole number"):
        load_tables(bad, queries)


# ---------------------------------------------------------------- grades

@pytest.mark.parametrize("score", ["1e308", "1001", "-5000", "inf", "1.5", "true"])
def test_grades_are_bounded_whole_numbers(tmp_path, score):
    folder = beir(tmp_path / "g", qrels=QRELS + f"q1\td2\t{score}\n")
    with pytest.raises(DataError, match=rf"test.tsv:4: score '{score}' is (out of range|not)"):
        load_beir(folder)


def test_json_boolean_grade_is_refused(tmp_path):
    corpus = parquet(tmp_path / "c.parquet", {"_id": ["d1"], "text": ["a"]})
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text('{"query-id": "q1", "corpus-id": "d1", "score": true}\n')
    with pytest.raises(DataError, match="qrels.jsonl:1: score True is a boolean"):
        load_tables(corpus, queries_csv(tmp_path), qrels)


# ---------------------------------------------------------------- ids a TREC file cannot carry

@pytest.mark.parametrize("bad_id, name", [("a b", "space"), ("a\tb", "tab"),
                                          ("a\u00a0b", "no-break space"), ("\u3000x", "ideographic space")])
def test_ids_with_whitespace_are_refused_at_load(tmp_path, bad_id, name):
    folder = beir(tmp_path / "c", corpus=[CORPUS[0], {"_id": bad_id, "text": "x"}])
    with pytest.raises(DataError, match=f"corpus.jsonl:2: field '_id' .* contains a {name}: TREC run files"):
        load_beir(folder)
    folder = beir(tmp_path / "q", queries=[QUERIES[0], {"_id": bad_id, "text": "x?"}])
    with pytest.raises(DataError, match=f"queries.jsonl:2: .* contains a {name}"):
        load_beir(folder)


def test_empty_and_space_ids_in_tables_and_qrels(tmp_path):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("_id,text\nd1,alpha\n,beta\n")
    with pytest.raises(DataError, match="corpus.csv:3: document id is empty"):
        load_tables(corpus, queries_csv(tmp_path))
    folder = beir(tmp_path / "qr", qrels=QRELS + "q1 x\td1\t1\n")
    with pytest.raises(DataError, match=r"test.tsv:4: query id 'q1 x' contains a space"):
        load_beir(folder)


# ---------------------------------------------------------------- judgments

def test_header_only_qrels_is_an_error_naming_the_file(tmp_path):
    folder = beir(tmp_path / "h", qrels="query-id\tcorpus-id\tscore\r\n")
    with pytest.raises(DataError, match=r"qrels/test.tsv: no judgments \(nothing after the header\)"):
        load_beir(folder)
    corpus = parquet(tmp_path / "c.parquet", {"_id": ["d1"], "text": ["a"]})
    qrels = tmp_path / "qrels.csv"
    qrels.write_text("query-id,corpus-id,score\n")
    with pytest.raises(DataError, match="qrels.csv: no judgments"):
        load_tables(corpus, queries_csv(tmp_path), qrels)


def test_queries_judged_only_zero_get_a_note(tmp_path, caplog):
    folder = beir(tmp_path / "z", qrels=QRELS.replace("q2\td2\t1", "q2\td2\t0"))
    with caplog.at_level(logging.WARNING, logger="embedscope"):
        dataset = load_beir(folder)
    assert "1 judged query with no relevant document (every grade 0 or less) not scored: q2" in caplog.text
    assert "test.tsv" in caplog.text and dataset.qrels["q2"] == {"d2": 0}
    with pytest.raises(DataError, match="no relevant judgment: every grade is 0 or less"):
        load_beir(beir(tmp_path / "all0", qrels="q1\td1\t0\nq2\td2\t0\n"))


# ---------------------------------------------------------------- odd files and odd text

def test_symlink_loop_is_named_as_such(tmp_path):
    folder = beir(tmp_path / "s")
    (folder / "corpus.jsonl").unlink()
    os.symlink(folder / "corpus.jsonl", folder / "corpus.jsonl")
    with pytest.raises(DataError, match="corpus.jsonl: symbolic link loop"):
        load_beir(folder)
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    with pytest.raises(DataError, match="loop: symbolic link loop"):
        load(str(loop))


def test_byte_order_mark_in_headerless_qrels_is_not_part_of_an_id(tmp_path):
    folder = beir(tmp_path / "bom", qrels="\ufeffq1\td1\t2\nq2\td2\t1\n".encode("utf-8"))
    assert load_beir(folder).qrels == {"q1": {"d1": 2}, "q2": {"d2": 1}}
    corpus = tmp_path / "corpus.csv"
    corpus.write_bytes("\ufeff_id,text\nd1,alpha\n".encode("utf-8"))
    assert list(load_tables(corpus, queries_csv(tmp_path)).corpus) == ["d1"]


@pytest.mark.parametrize("text", ["\u200b\u200b", "\u200d \ufeff", "\u2060\u00a0"])
def test_text_of_only_invisible_characters_is_empty(tmp_path, text):
    folder = beir(tmp_path / "zw", queries=[QUERIES[0], {"_id": "q2", "text": text}])
    with pytest.raises(DataError, match=r"queries.jsonl:2: field 'text' is empty \(only invisible characters\)"):
        load_beir(folder)
    folder = beir(tmp_path / "zwd", corpus=[CORPUS[0], {"_id": "d2", "title": text, "text": text}])
    with pytest.raises(DataError, match="corpus.jsonl:2: document 'd2' has empty title and text"):
        load_beir(folder)


def test_lone_surrogate_is_an_error_naming_file_and_line(tmp_path):
    folder = beir(tmp_path / "sur", queries=[QUERIES[0], '{"_id": "q2", "text": "broken \\ud800 escape"}'])
    with pytest.raises(DataError, match=r"queries.jsonl:2: field 'text' contains a lone surrogate \(U\+D800\)"):
        load_beir(folder)
    folder = beir(tmp_path / "sur-id", corpus=[CORPUS[0], '{"_id": "d\\udfff", "text": "x"}'])
    with pytest.raises(DataError, match=r"corpus.jsonl:2: field '_id' contains a lone surrogate"):
        load_beir(folder)


# ---------------------------------------------------------------- options and YAML config

@pytest.mark.parametrize("text, message", [
    ("models: [bm25]\nk: yes\n", r"c.yaml:2: 'k' must be a whole number of at least 1, got true \(a boolean"),
    ("depth: 0\n", "c.yaml:1: 'depth' must be a whole number of at least 1, got 0"),
    ("max_docs: -5\n", "c.yaml:1: 'max_docs' must be a whole number of at least 1, got -5"),
    ("max_queries: 0\n", "c.yaml:1: 'max_queries' must be"),
    ("\n\nmodels: bm25\n", "c.yaml:3: 'models' must be a list of model specs"),
    ("similarity: cosinus\n", "c.yaml:1: 'similarity' must be one of cosine, dot, l2"),
    ("columns: {doc_id: 3}\n", "c.yaml:1: 'columns' must be a mapping"),
    ("data: [a, b]\n", "c.yaml:1: 'data' must be a non-empty string"),
    ("metrics: 5\n", "c.yaml:1: 'metrics' must be a string or a list of strings"),
    ("k: 10\nmodles: [x]\n", "c.yaml:2: unknown setting 'modles'"),
])
def test_yaml_config_values_are_type_checked_with_their_line(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_config_keeps_dataset_names_and_resolves_paths(tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "c.yaml").write_text("data: beir:nfcorpus\n")
    assert load_config(tmp_path / "c.yaml")["data"] == "beir:nfcorpus"
    (tmp_path / "c.yaml").write_text("data: local\n")
    assert load_config(tmp_path / "c.yaml")["data"] == str(tmp_path / "local")


@pytest.mark.parametrize("option", [["--max-docs", "0"], ["--max-docs", "-5"], ["--max-queries", "0"], ["--k", "0"],
                                    ["--depth", "-1"]])
def test_numeric_options_are_range_checked(tmp_path, synthetic_dir, option):
    result = subprocess.run([sys.executable, "-m", "embedscope", "run", "--data", str(synthetic_dir), "-m", "bm25",
                             "-o", str(tmp_path / "o"), *option], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"Invalid value for '{option[0]}'" in result.stderr and "is not in the range x>=1" in result.stderr
    assert not (tmp_path / "o").exists()


def test_library_load_checks_sample_sizes(synthetic_dir):
    for bad in (0, -5, True, 2.5):
        with pytest.raises(ConfigError, match="max-docs must be a whole number of at least 1"):
            load(str(synthetic_dir), max_docs=bad)
