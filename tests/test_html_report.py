"""`embedscope report`: one self-contained HTML file whose numbers match the run directory, and inert corpus text."""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import embedscope_run

from embedscope.cli import cli
from embedscope.report.html import decode_view

PAYLOADS = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    '"><svg onload=alert("xss-svg")>',
    "<a href=\"javascript:alert('xss-link')\">click me</a>",
    "</script><script>alert('xss-break')</script>",
]


def make_xss_beir(folder: Path) -> Path:
    """A tiny graded BEIR folder whose queries, titles and texts carry HTML/JS payloads."""
    (folder / "qrels").mkdir(parents=True)
    docs = []
    for i, payload in enumerate(PAYLOADS):
        docs.append({"_id": f"x{i}", "title": f"payload title {i} {payload}",
                     "text": f"vaccine trial outcome number {i} {payload} reported"})
    for i in range(12):
        docs.append({"_id": f"d{i}", "title": f"plain doc {i}", "text": f"vaccine safety cohort study {i} with plain words"})
    queries = [{"_id": f"q{i}", "text": f"vaccine trial outcome {i} {p}"} for i, p in enumerate(PAYLOADS)]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    rows = ["query-id\tcorpus-id\tscore"]
    for i in range(len(PAYLOADS)):  # graded 2 / 1 / 0, so every mark shows up
        rows += [f"q{i}\tx{i}\t2", f"q{i}\td{i}\t1", f"q{i}\tx{(i + 1) % len(PAYLOADS)}\t0"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def synth_run(synthetic_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("synthetic-run")
    return embedscope_run(tmp, "--data", str(synthetic_dir), "-m", "tokenlearn", "-m", "bm25")


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("xss-run")
    return embedscope_run(tmp, "--data", str(make_xss_beir(tmp / "xss")), "-m", "bm25", "-m", "tokenlearn")


def write_report(run_dir: Path, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["report", str(run_dir), "-o", str(out), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.exists()
    return out.read_text(encoding="utf-8")


class Elements(HTMLParser):
    """Every start tag with its attributes, plus the text of each <script> element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script, self._script_text = dict(attrs), []

    def handle_data(self, data):
        if self._in_script is not None:
            self._script_text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._script_text)))
            self._in_script = None


def parse(html_text: str) -> Elements:
    parser = Elements()
    parser.feed(html_text)
    return parser


def embedded_view(html_text: str) -> dict:
    for attrs, text in parse(html_text).scripts:
        if attrs.get("id") == "embedscope-data":
            return decode_view(attrs["data-encoding"], text)
    raise AssertionError("no data in the report")


def pages(view: dict, k: int | None = None) -> dict[str, dict[str, list[dict]]]:
    """The explorer's compact hits read back: {qid: {model: [{doc_id, score, grade, judgment, mark}]}}."""
    docs, explorer, out = view["docs"], view["explorer"], {}
    for i, q in enumerate(view["queries"]):
        flat = explorer["marks"][i]
        marks = {flat[j]: flat[j + 1:j + 4] for j in range(0, len(flat), 4)}
        out[q["id"]] = {}
        for model, per_query in explorer["hits"].items():
            pairs = list(zip(per_query[i][0::2], per_query[i][1::2]))[:k]
            out[q["id"]][model] = [{"doc_id": docs["ids"][d], "score": s, "grade": marks[d][0], "judgment": marks[d][1],
                                    "mark": marks[d][2], "title": docs["titles"][d]} for d, s in pairs]
    return out


def test_report_is_self_contained(synth_run, tmp_path):
    text = write_report(synth_run, tmp_path / "report.html")
    doc = parse(text)
    url_attrs = {"src", "href", "action", "formaction", "data", "poster", "srcset", "xlink:href"}
    for tag, attrs in doc.tags:
        for name, value in attrs.items():
            if name in url_attrs and value:
                assert not re.match(r"\s*(https?:)?//", value, re.I), f"<{tag} {name}={value!r}> loads from the network"
    links = [a for t, a in doc.tags if t == "link"]  # styles are inline; the one link is the icon, as data
    assert [a["rel"] for a in links] == ["icon"] and links[0]["href"].startswith("data:image/svg+xml")
    assert all("src" not in attrs for attrs, _ in doc.scripts), "scripts must be inline"
    assert not any("Plotly" in body for _, body in doc.scripts), "no plotting library: the plots are the page's own SVG"
    csp = next(a["content"] for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "connect-src" not in csp
    assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in csp  # script and style pinned by hash


def test_leaderboard_and_verdicts_follow_results(synth_run, tmp_path):
    view = embedded_view(write_report(synth_run, tmp_path / "report.html"))
    results = json.loads((synth_run / "results.json").read_text())
    rows = {r["model"]: r for r in view["leaderboard"]["rows"]}
    assert set(rows) == {m["name"] for m in results["models"]}
    main = results["metrics"][0]
    assert [r["model"] for r in view["leaderboard"]["rows"]] == [
        m["name"] for m in sorted(results["models"], key=lambda m: -m["metrics"][main])]  # best first
    for m in results["models"]:
        for metric, value in m["metrics"].items():
            assert rows[m["name"]][metric] == pytest.approx(value)
            ci = results["confidence_intervals"]["models"][m["name"]][metric]
            assert rows[m["name"]]["ci:" + metric] == pytest.approx([ci["low"], ci["high"]])
    every = {c["key"] for c in view["leaderboard"]["columns"]}
    assert set(results["metrics"]) | {"docs_per_second", "dim", "params_m", "license", "price"} <= every
    pairs = [p for p in results["significance"]["pairs"] if p["metric"] == main]
    shown = view["significance"]["rows"]
    assert [(r["a"], r["b"], r["verdict"]) for r in shown] == [(p["a"], p["b"], p["verdict"]) for p in pairs]
    assert [r["p_randomization_holm"] for r in shown] == pytest.approx([p["p_randomization_holm"] for p in pairs])
    assert view["significance"]["p_floor"] == max(1e-4, 1 / results["significance"]["permutations"])
    assert view["win_tie_loss"]["rows"]


def test_bm25_speed_comes_from_its_index_build(synth_run, tmp_path):
    """Every model is on the trade-off plot: BM25's documents/s is its own index build, timed in the run."""
    view = embedded_view(write_report(synth_run, tmp_path / "report.html"))
    results = json.loads((synth_run / "results.json").read_text())
    bm25 = next(m for m in results["models"] if m["spec"] == "bm25")
    speed = next(p for p in view["tradeoffs"] if p["id"] == "speed")
    point = next(p for p in speed["points"] if p["model"] == bm25["name"])
    assert point["x"] == pytest.approx(results["dataset"]["documents"] / bm25["run"]["index_seconds"])
    assert point["note"] == "index build in this run"
    assert {p["model"] for p in speed["points"]} == {m["name"] for m in results["models"]}
    assert speed["log_x"] and not speed["missing"]


def test_explorer_matches_runs_qrels_and_trec_eval(synth_run, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from embedscope.rundir import read_dataset, read_runs

    view = embedded_view(write_report(synth_run, tmp_path / "report.html", "--hits", "5"))
    runs, dataset = read_runs(synth_run), read_dataset(synth_run)
    assert [q["id"] for q in view["queries"]] == list(dataset.queries)
    top = max(g for rels in dataset.qrels.values() for g in rels.values())
    for qid, columns in pages(view).items():
        for model, hits in columns.items():
            assert [h["doc_id"] for h in hits] == [d for d, _ in runs[model].ranked(qid, 5)]
            assert [h["score"] for h in hits] == pytest.approx([s for _, s in runs[model].ranked(qid, 5)], abs=1e-4)
            for hit in hits:
                grade = dataset.qrels.get(qid, {}).get(hit["doc_id"])
                assert hit["grade"] == grade
                assert hit["mark"] == ("unjudged" if grade is None else "not" if grade == 0 else
                                       "relevant" if grade == top else "partly")
                assert hit["title"] == dataset.corpus[hit["doc_id"]].title
    # per-query nDCG@10 in the explorer = trec_eval's, on the TREC files the run directory holds
    evaluator = pytrec_eval.RelevanceEvaluator(dataset.qrels, {"ndcg_cut.10"})
    for name, run in runs.items():
        reference = evaluator.evaluate(run.scores)
        for i, row in enumerate(view["queries"]):
            if row["id"] in reference:
                assert view["per_query"][name]["ndcg@10"][i] == pytest.approx(reference[row["id"]]["ndcg_cut_10"], abs=1e-4)
    with open(synth_run / "per_query.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(v is not None for m in view["per_query"].values() for v in m["ndcg@10"])


def test_each_document_text_is_stored_once(synth_run, tmp_path):
    """Hits refer to documents by index: a text is in the report once, however many hits show it."""
    for k in ("5", "20"):
        view = embedded_view(write_report(synth_run, tmp_path / f"r{k}.html", "--hits", k))
        ids, texts = view["docs"]["ids"], view["docs"]["texts"]
        assert len(ids) == len(set(ids))
        shown = [d for per_model in view["explorer"]["hits"].values() for flat in per_model for d in flat[0::2]]
        assert set(shown) == set(range(len(ids)))  # every stored document is shown (no cluster map here)
        assert len(shown) > len(ids)  # documents shown by several queries or models ...
        whole = json.dumps(view, ensure_ascii=False)
        for text in set(texts):  # ... and each text written once
            assert whole.count(json.dumps(text, ensure_ascii=False)) == texts.count(text)


def test_view_compressed_when_that_pays():
    from embedscope.report.html import COMPRESS_ABOVE, encode_view

    small = {"docs": {"texts": ["a short text"]}}
    assert encode_view(small) == ("json", json.dumps(small, separators=(",", ":")))
    large = {"docs": {"texts": [f"document {i}: the same words again and again <b>&</b>" for i in range(2000)]}}
    encoding, text = encode_view(large)
    assert encoding == "gzip-base64" and len(text) < COMPRESS_ABOVE < len(json.dumps(large))
    assert decode_view(encoding, text) == large and not set(text) & set("<>&\"'")


def test_graded_marks_and_max_queries(xss_run, tmp_path):
    view = embedded_view(write_report(xss_run, tmp_path / "report.html", "--max-queries", "3"))
    assert len(view["queries"]) == 3 == len(view["explorer"]["marks"])
    marks = {h["mark"] for columns in pages(view).values() for hits in columns.values() for h in hits}
    assert {"relevant", "partly", "not", "unjudged"} <= marks  # grade 2, grade 1, judged 0, unjudged
    assert view["marks"] == {"relevant": "✅", "partly": "⚪", "not": "❌", "unjudged": "?"}
    full = embedded_view(write_report(xss_run, tmp_path / "all.html"))
    spread = sorted((q["spread"] or 0 for q in full["queries"]), reverse=True)
    assert sorted((q["spread"] or 0 for q in view["queries"]), reverse=True) == spread[:3]  # the most disputed kept


def test_corpus_markup_stays_text(xss_run, tmp_path):
    text = write_report(xss_run, tmp_path / "report.html")
    doc = parse(text)
    assert not [t for t, _ in doc.tags if t in ("img", "svg", "iframe", "object", "embed")]
    assert not [a for t, a in doc.tags if t == "a" and "javascript:" in a.get("href", "").lower()]
    assert not [(t, a) for t, a in doc.tags if any(name.startswith("on") for name in a)]
    assert len(doc.scripts) == len([t for t, _ in doc.tags if t == "script"]) == 2  # the data (inert), the page
    for payload in PAYLOADS:  # nowhere raw: \u003c-escaped JSON or base64 in the data block
        assert payload not in text
    data_attrs, data_block = next((a, body) for a, body in doc.scripts if a.get("id") == "embedscope-data")
    assert data_attrs["type"] == "text/plain" and "<" not in data_block and ">" not in data_block
    # the payloads travel intact as data and come back exactly
    view = embedded_view(text)
    assert {f"payload title {i} {p}" for i, p in enumerate(PAYLOADS)} <= set(view["docs"]["titles"])
    assert {q["text"] for q in view["queries"]} == {f"vaccine trial outcome {i} {p}" for i, p in enumerate(PAYLOADS)}


def test_report_needs_a_run_directory(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)], standalone_mode=False)
    # an OSError: the CLI prints it as one clear line (cli/errors.py), not a traceback
    assert isinstance(result.exception, FileNotFoundError) and "results.json" in str(result.exception)


def test_perf_cost_and_recommendation_sections(synth_run, tmp_path):
    """With perf.json from the real benchmark code, the report shows its tables, plots and the recommendation."""
    bench = pytest.importorskip("embedscope.perf.bench", reason="embedscope.perf is not installed in this tree")
    from embedscope.perf.cost import SCALES, load_prices
    from embedscope.recommend import candidates_from, recommend
    from embedscope.rundir import read_dataset, read_results

    run_dir = tmp_path / "run"
    shutil.copytree(synth_run, run_dir)
    results = read_results(run_dir)
    perf = bench.bench(read_dataset(run_dir), [m.spec for m in results.models], prices=load_prices(None),
                       scales=SCALES, latency_queries=10, max_docs=100, log=lambda msg: None)
    (run_dir / "perf.json").write_text(json.dumps(perf, default=str))
    view = embedded_view(write_report(run_dir, tmp_path / "report.html"))
    assert [t["id"] for t in view["perf_tables"]] == ["speed", "footprint", "cost"]
    assert {p["id"] for p in view["tradeoffs"]} == {"speed", "latency", "cost"}
    assert view["recommendation"]["chosen"] == recommend(candidates_from(results, perf)[0])["chosen"]
    timed = next(m for m in perf["models"] if "speed" in m)
    speed_rows = {r["model"]: r for r in view["perf_tables"][0]["rows"]}
    assert speed_rows[timed["name"]]["docs_per_second"] == pytest.approx(timed["speed"]["docs_per_second"])
    lead = {r["model"]: r for r in view["leaderboard"]["rows"]}
    assert lead[timed["name"]]["speed_source"] == "embedscope bench"
    cost = view["perf_tables"][2]
    assert any(c["key"] == "break_even" for c in cost["columns"]) or all(r["kind"] == "API" for r in cost["rows"])
    for row in perf["cost"]["rows"]:  # machine hours per 1M texts for self-hosted rows (GPU and CPU)
        shown = next(r for r in cost["rows"] if r["model"] == row["name"] and r["hardware"] == row["hardware"])
        if row["kind"] == "api":
            assert "hours_per_1m" not in shown
        else:
            assert shown["hours_per_1m"] == pytest.approx(1e6 / row["texts_per_second"] / 3600)


def test_model_metadata_columns(synthetic_dir, tmp_path):
    """A model with a card in the registry (MiniLM): dims, params, licence, prompts used and price as columns."""
    run_dir = embedscope_run(tmp_path, "--data", str(synthetic_dir), "-m", "minilm", "-m", "bm25")
    results = json.loads((run_dir / "results.json").read_text())
    carded = [m for m in results["models"] if isinstance(m["info"].get("card"), dict)]
    if not carded:
        pytest.skip("the model-card registry gave MiniLM no card in this tree")
    view = embedded_view(write_report(run_dir, tmp_path / "report.html"))
    rows = {r["model"]: r for r in view["leaderboard"]["rows"]}
    for m in carded:
        card, row = m["info"]["card"], rows[m["name"]]
        assert (row["dim"], row["params_m"], row["license"]) == (card["dim"], card["params_m"], card["license"])
        assert row["query_prompt"] == (m["info"]["prompts"]["query"] or "")
        assert row["price"] == card.get("price_per_1m_tokens")
    bm25 = next(r for r in view["leaderboard"]["rows"] if r["kind"] == "lexical")
    assert bm25["license"] is None and bm25["params_m"] is None  # unknown, shown as —, not guessed


def test_report_when_the_dataset_is_gone(xss_run, tmp_path):
    """A run directory whose dataset moved still gives a report: scores and ids, and a warning saying why."""
    run_dir = tmp_path / "run"
    shutil.copytree(xss_run, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    results["settings"]["source"]["data"] = str(tmp_path / "moved-away")
    (run_dir / "results.json").write_text(json.dumps(results))
    view = embedded_view(write_report(run_dir, tmp_path / "report.html"))
    assert any("dataset not reloaded" in w and "moved-away" in w for w in view["warnings"])
    assert {q["id"] for q in view["queries"]} == {f"q{i}" for i in range(len(PAYLOADS))}
    assert view["docs"]["missing"] and len(view["docs"]["missing"]) == len(view["docs"]["ids"])


def test_report_with_judgments_matches_a_run_with_them(xss_run, tmp_path):
    """`report --with-judgments` re-scores the run with serve's judgments: the numbers `run --judgments` gives."""
    from embedscope.judgments import JudgmentStore

    run_dir = tmp_path / "run"
    shutil.copytree(xss_run, run_dir)
    store = JudgmentStore(run_dir / "judgments" / "qrels.tsv")
    store.set("q0", "x0", 0)   # the relevant document, judged not relevant
    store.set("q1", "d7", 2)   # an unjudged one, judged relevant
    store.set("q9", "x0", 2)   # a query this dataset lacks: left out, as run --judgments leaves it out
    before = embedded_view(write_report(run_dir, tmp_path / "before.html"))
    view = embedded_view(write_report(run_dir, tmp_path / "after.html", "--with-judgments"))
    assert before["judged"]["count"] == 0 and view["judged"] == {"count": 2, "queries": 2}
    data = json.loads((run_dir / "results.json").read_text())["settings"]["source"]["data"]
    again = embedscope_run(tmp_path / "again", "--data", data, "-m", "bm25", "-m", "tokenlearn",
                           "--judgments", str(store.path))
    expected = {m["name"]: m["metrics"] for m in json.loads((again / "results.json").read_text())["models"]}
    rescored = json.loads((again / "results.json").read_text())
    for row in view["leaderboard"]["rows"]:
        for metric, value in expected[row["model"]].items():
            assert row[metric] == pytest.approx(value)
            previous = next(r for r in before["leaderboard"]["rows"] if r["model"] == row["model"])[metric]
            assert row["before:" + metric] == pytest.approx(previous)
    assert [r["verdict"] for r in view["significance"]["rows"]] == [
        p["verdict"] for p in rescored["significance"]["pairs"] if p["metric"] == rescored["metrics"][0]]
    assert all("verdict_before" in r for r in view["significance"]["rows"])
    assert "--with-judgments" in view["regenerate"] and str(run_dir) in view["regenerate"]


def test_cluster_map_joins_the_report(xss_run, tmp_path):
    """A map `embedscope cluster --run-dir` left in clusters/: points by document index, per-cluster quality."""
    run_dir = tmp_path / "run"
    shutil.copytree(xss_run, run_dir)
    data = json.loads((run_dir / "results.json").read_text())["settings"]["source"]["data"]
    result = CliRunner().invoke(cli, ["cluster", "--data", data, "-m", "tokenlearn", "--clusters", "3", "--run-dir",
                                      str(run_dir), "--cache", str(tmp_path / "cache")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    view = embedded_view(write_report(run_dir, tmp_path / "report.html"))
    (cmap,) = view["clusters"]
    report = json.loads((run_dir / "clusters" / "tokenlearn-static-64d_report.json").read_text())
    assert cmap["clusters"] == report["clusters"] == 3 and cmap["silhouette"] == pytest.approx(report["silhouette"])
    assert {c["cluster"]: c["mean"] for c in cmap["by_cluster"]} == pytest.approx(
        {int(c): v["mean"] for c, v in report["ndcg@10_by_cluster"].items()})
    ids = view["docs"]["ids"]
    assert sorted(ids[i] for i in cmap["docs"]["d"]) == sorted([f"x{i}" for i in range(5)] + [f"d{i}" for i in range(12)])
    assert len(ids) == len(set(ids))  # map points and hits share one table of documents
    assert all(0 <= v <= 1000 for v in cmap["docs"]["x"] + cmap["docs"]["y"] + cmap["queries"]["x"])
    assert [view["queries"][i]["id"] for i in cmap["queries"]["q"]] == cmap["queries"]["id"]


def test_models_read_from_the_cache_keep_their_speed_point_labelled(tmp_path):
    """A second run finds every vector cached: the speed plot uses the speed the cache recorded when they were
    encoded; with no record (an older cache), a sample of documents is timed (and recorded); each point says which.
    With `embedscope recommend`'s latency.json the latency plot appears, its source named."""
    data = str(make_xss_beir(tmp_path / "xss"))
    first = embedscope_run(tmp_path, "--data", data, "-m", "tokenlearn", "-m", "bm25")
    model = json.loads((first / "results.json").read_text())["models"][0]
    assert model["info"]["speed_source"] == "encoding in this run" and model["info"]["docs_per_second"] > 0
    (record,) = list((tmp_path / "cache").glob("*/speed.json"))
    assert json.loads(record.read_text())["document"]["texts"] == 17  # every document encoded once
    second = embedscope_run(tmp_path, "--data", data, "-m", "tokenlearn", "-m", "bm25")  # same cache
    assert second != first
    cached = json.loads((second / "results.json").read_text())["models"][0]
    assert cached["run"]["embedding"]["documents"]["encoded"] == 0
    assert cached["info"]["speed_source"].startswith("measured when its vectors were encoded (17 documents")
    assert cached["info"]["docs_per_second"] == pytest.approx(model["info"]["docs_per_second"])
    view = embedded_view(write_report(second, tmp_path / "second.html"))
    (speed,) = [p for p in view["tradeoffs"] if p["id"] == "speed"]
    notes = {p["model"]: p["note"] for p in speed["points"]}
    assert set(notes) == {cached["name"], "bm25"} and not speed["missing"]
    assert notes[cached["name"]].startswith("measured when its vectors were encoded")
    assert notes["bm25"] == "index build in this run"

    record.unlink()  # a cache from before speed records: a sample is timed now, and recorded for next time
    third = embedscope_run(tmp_path, "--data", data, "-m", "tokenlearn")
    sampled = json.loads((third / "results.json").read_text())["models"][0]
    assert sampled["info"]["speed_source"] == "measured on a sample of 17 documents: its vectors came from the cache"
    assert sampled["info"]["docs_per_second"] > 0 and json.loads(record.read_text())["document"]["texts"] == 17

    result = CliRunner().invoke(cli, ["recommend", str(second), "--latency-queries", "3", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    view = embedded_view(write_report(second, tmp_path / "with-latency.html"))
    (latency,) = [p for p in view["tradeoffs"] if p["id"] == "latency"]
    assert {p["model"] for p in latency["points"]} == {cached["name"], "bm25"}
    assert all(p["note"] == "measured by embedscope recommend (latency.json)" for p in latency["points"])
    assert not [p for p in view["tradeoffs"] if p["id"] == "cost"]  # no perf.json: no cost plot, no guess
