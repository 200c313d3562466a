"""Property: whatever the ids and texts (any Unicode, quotes, separators, newlines inside fields, numeric-looking
ids), every supported format loads every record exactly as written, and the metrics of BM25 and a static model,
computed from the TREC run files they write, equal trec_eval's (pytrec_eval) on the same files."""

from __future__ import annotations

import csv
import gzip
import json
import string
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is needed for the property tests")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from embedscope.data import load, load_tables  # noqa: E402
from embedscope.runs import Run  # noqa: E402

pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is needed to cross-check metrics")
from test_metrics import trec_measures  # noqa: E402

from embedscope.metrics import evaluate  # noqa: E402


def agrees_with_trec_eval(qrels: dict, run: Run) -> int:
    """Every metric of every query trec_eval scores (judged, relevant documents, in the run) equals ours;
    returns how many queries were compared."""
    theirs = trec_measures(qrels, run)
    if not theirs:  # no judged query has a hit in the run: trec_eval scores nothing, so nothing to compare
        return 0
    ours = evaluate(qrels, run, list(theirs)).per_query
    for metric, values in theirs.items():
        for q, value in values.items():
            assert ours[metric][q] == pytest.approx(value, abs=1e-6), (metric, q)
    return len(next(iter(theirs.values()), {}))

# Ids: what a TREC run file can carry (no whitespace), including separators, quotes and non-ASCII letters.
ID_CHARS = string.ascii_letters + string.digits + "-_.:/#,;'\"|é中"
ids = st.text(alphabet=ID_CHARS, min_size=1, max_size=8)
# Texts: any printable Unicode (no control characters but tab and newline), at least one letter.
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\t"), max_size=40).map(
    lambda t: t + " word")
words = st.sampled_from("alpha beta gamma delta river stone light cloud seed paper".split())
searchable = st.lists(words, min_size=1, max_size=6).map(" ".join)


@st.composite
def datasets(draw):
    doc_ids = draw(st.lists(ids, min_size=3, max_size=12, unique=True))
    query_ids = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    corpus = {d: (draw(st.one_of(st.just(""), texts)), draw(searchable) + " " + draw(texts)) for d in doc_ids}
    queries = {q: draw(searchable) for q in query_ids}
    qrels: dict[str, dict[str, int]] = {}
    for q in query_ids:
        judged = draw(st.lists(st.sampled_from(doc_ids), min_size=1, max_size=4, unique=True))
        qrels[q] = {d: draw(st.integers(0, 3)) for d in judged}
    first = query_ids[0]
    qrels[first][next(iter(qrels[first]))] = 2  # at least one query can be scored
    return corpus, queries, qrels


def write_rows(path: Path, fmt: str, header: list[str], rows: list[list], *, qrels: bool = False) -> Path:
    if fmt == "tsv" and qrels:  # BEIR's qrels TSV: plain tab-separated fields, no quoting
        path.write_text("".join("\t".join(map(str, r)) + "\n" for r in [header, *rows]), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="," if fmt == "csv" else "\t")
            writer.writerow(header)
            writer.writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), path)
    return path


def write_dataset(root: Path, layout: str, formats: tuple[str, str, str], data) -> dict:
    corpus, queries, qrels = data
    root.mkdir(parents=True)
    qrel_rows = [[q, d, g] for q, rels in qrels.items() for d, g in rels.items()]
    if layout.startswith("beir"):
        (root / "qrels").mkdir()
        lines = "".join(json.dumps({"_id": d, "title": t, "text": x}, ensure_ascii=False) + "\n"
                        for d, (t, x) in corpus.items())
        if layout == "beir-gz":
            with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
                f.write(lines)
        else:
            (root / "corpus.jsonl").write_text(lines, encoding="utf-8")
        (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n"
                                                    for q, t in queries.items()), encoding="utf-8")
        end = "\r\n" if layout == "beir-gz" else "\n"
        (root / "qrels" / "test.tsv").write_bytes(("query-id\tcorpus-id\tscore" + end + "".join(
            f"{q}\t{d}\t{g}{end}" for q, d, g in qrel_rows)).encode("utf-8"))
        return {"data": str(root)}
    doc_fmt, query_fmt, qrel_fmt = formats
    return {
        "corpus": write_rows(root / f"corpus.{doc_fmt}", doc_fmt, ["_id", "title", "text"],
                             [[d, t, x] for d, (t, x) in corpus.items()]),
        "queries": write_rows(root / f"queries.{query_fmt}", query_fmt, ["_id", "text"], [list(i) for i in queries.items()]),
        "qrels": write_rows(root / f"qrels.{qrel_fmt}", qrel_fmt, ["query-id", "corpus-id", "score"], qrel_rows,
                            qrels=True),
    }


TABLE = st.sampled_from(["csv", "tsv", "jsonl", "parquet"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=datasets(), layout=st.sampled_from(["beir", "beir-gz", "tables"]),
       formats=st.tuples(TABLE, TABLE, TABLE))
def test_every_format_loads_every_record_and_scores_like_trec_eval(data, layout, formats, tmp_path_factory,
                                                                   static_model):
    from embedscope.models import load_model
    from embedscope.runs.context import RetrievalContext

    corpus, queries, qrels = data
    root = tmp_path_factory.mktemp("prop") / "data"
    source = write_dataset(root, layout, formats, data)
    dataset = load(**source) if layout.startswith("beir") else load_tables(**source)

    # Nothing dropped or altered: every document, query and judgment as written (queries: the judged ones).
    assert {d: (doc.title, doc.text) for d, doc in dataset.corpus.items()} == corpus
    assert dataset.queries == {q: t for q, t in queries.items() if q in qrels}
    assert dataset.qrels == qrels

    scorable = {q: rels for q, rels in qrels.items() if any(g > 0 for g in rels.values())}
    context = RetrievalContext.of(root.parent / "cache")
    for retriever in (load_model("bm25"), context.retriever(static_model)):
        run = retriever.retrieve(dataset, 10, context)
        path = root.parent / f"{retriever.name}.trec"
        run.to_trec(path)
        again = Run.from_trec(path)  # the same hits, read back from the file both sides score
        assert {q: set(h) for q, h in again.scores.items()} == {q: set(h) for q, h in run.scores.items() if h}
        if again.scores:
            agrees_with_trec_eval(scorable, again)
