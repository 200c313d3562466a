"""Bad input, fuzzed: every loader and the config reader either load or raise one clear error naming the file —
never a traceback from deep inside, never a silently shorter dataset."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedscope.config import ConfigError, load_config
from embedscope.data import DataError, load_beir, load_tables
from embedscope.runs import Run

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=0, max_size=6)
texts = st.text(max_size=30)
json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts,
                        st.lists(st.integers(), max_size=2))
records = st.dictionaries(st.sampled_from(["_id", "text", "title", "x"]), st.one_of(ids, json_values), max_size=4)
lines = st.one_of(records.map(json.dumps), st.text(max_size=40), st.just(""), st.just("{"), st.just("[]"))


def write_folder(root, corpus_lines, query_lines, qrels_text):
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "corpus.jsonl").write_text("\n".join(corpus_lines) + "\n", encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(query_lines) + "\n", encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(qrels_text, encoding="utf-8")
    return root


def count_nonblank(lines_):
    return sum(1 for line in lines_ if line.strip())


@FUZZ
@given(corpus=st.lists(lines, min_size=0, max_size=6), queries=st.lists(lines, min_size=0, max_size=4),
       qrels=st.lists(st.tuples(ids, ids, st.one_of(st.integers(-2, 3).map(str), texts)), max_size=4))
def test_beir_folder_loads_or_names_the_file(tmp_path_factory, corpus, queries, qrels):
    root = tmp_path_factory.mktemp("beir")
    qrels_text = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    write_folder(root, corpus, queries, qrels_text)
    try:
        ds = load_beir(root)
    except DataError as e:
        assert str(e).startswith(str(root)), str(e)
        return
    # Loaded: nothing dropped. Every non-blank corpus line is a document.
    assert len(ds.corpus) == count_nonblank(corpus)
    assert all(d.full_text.strip() for d in ds.corpus.values())


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_in_qrels(tmp_path_factory, raw):
    root = write_folder(tmp_path_factory.mktemp("bytes"), ['{"_id": "d", "text": "t"}'], ['{"_id": "q", "text": "t"}'], "")
    (root / "qrels" / "test.tsv").write_bytes(raw)
    try:
        load_beir(root)
    except DataError as e:
        assert "test.tsv" in str(e)


@FUZZ
@given(rows=st.lists(st.tuples(st.one_of(ids, st.none()), st.one_of(texts, st.none())), max_size=5))
def test_csv_tables(tmp_path_factory, rows):
    import pandas as pd

    root = tmp_path_factory.mktemp("csv")
    pd.DataFrame(rows, columns=["id", "body"]).to_csv(root / "docs.csv", index=False)
    (root / "q.csv").write_text("id,text\nq1,hello\n")
    try:
        ds = load_tables(root / "docs.csv", root / "q.csv", columns={"doc_id": "id", "doc_text": "body", "query_id": "id"})
    except DataError as e:
        assert "docs.csv" in str(e)
        return
    assert len(ds.corpus) == len(rows)


@FUZZ
@given(text=st.text(max_size=120))
def test_config_loads_or_names_the_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as e:
        assert str(path) in str(e)
        return
    assert isinstance(config["models"], list)


@FUZZ
@given(lines_=st.lists(st.text(alphabet=string.printable, max_size=40), max_size=5))
def test_trec_run_files(tmp_path_factory, lines_):
    path = tmp_path_factory.mktemp("trec") / "r.trec"
    path.write_text("\n".join(lines_), encoding="utf-8")
    try:
        Run.from_trec(path)
    except DataError as e:
        assert "r.trec" in str(e)


@pytest.mark.parametrize("spec", ["st:", "model2vec", "bm25?k1=abc", "unknown:x"])
def test_bad_model_specs_are_clear(spec):
    from embedscope.models import load_model

    with pytest.raises((ValueError, TypeError)) as err:
        load_model(spec)
    assert spec.split(":")[0].split("?")[0] in str(err.value) or "needs" in str(err.value) or "k1" in str(err.value)
