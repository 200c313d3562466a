"""`embedscope report`: one self-contained HTML file whose numbers match the run directory, and inert corpus text."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import embedscope_run

from embedscope.cli import cli

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
def scifact_run(scifact_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("scifact-run")
    return embedscope_run(tmp, "--data", str(scifact_dir), "--max-queries", "40", "--max-docs", "500",
                          "-m", "tokenlearn", "-m", "bm25")


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


def explorer_json(html_text: str) -> dict:
    for attrs, text in parse(html_text).scripts:
        if attrs.get("id") == "explorer-data":
            return json.loads(text)
    raise AssertionError("no explorer data in the report")


def test_report_is_self_contained(scifact_run, tmp_path):
    text = write_report(scifact_run, tmp_path / "report.html")
    doc = parse(text)
    url_attrs = {"src", "href", "action", "formaction", "data", "poster", "srcset", "xlink:href"}
    for tag, attrs in doc.tags:
        for name, value in attrs.items():
            if name in url_attrs and value:
                assert not re.match(r"\s*(https?:)?//", value, re.I), f"<{tag} {name}={value!r}> loads from the network"
    assert not [a for t, a in doc.tags if t == "link"], "stylesheets must be inline"
    assert all("src" not in attrs for attrs, _ in doc.scripts), "scripts must be inline"
    # plotly.js itself is embedded, not fetched
    assert any("Plotly" in body and len(body) > 1_000_000 for _, body in doc.scripts)
    csp = next(a["content"] for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "connect-src" not in csp and "'unsafe-eval'" not in csp


def test_leaderboard_and_sections_follow_results(scifact_run, tmp_path):
    text = write_report(scifact_run, tmp_path / "report.html")
    results = json.loads((scifact_run / "results.json").read_text())
    for model in results["models"]:
        assert f"{model['metrics']['ndcg@10']:.4f}" in text
    if "confidence_intervals" in results:
        ci = results["confidence_intervals"]["models"][results["models"][0]["name"]]["ndcg@10"]
        assert f"[{ci['low']:.3f}, {ci['high']:.3f}]" in text
        verdicts = [p["verdict"] for p in results["significance"]["pairs"] if p["metric"] == "ndcg@10"]
        assert verdicts and all(v in text for v in verdicts)
    else:
        assert 'id="significance"' not in text  # absent data: no empty section
    assert 'id="perf"' not in text or (scifact_run / "perf.json").exists()


def test_explorer_matches_runs_qrels_and_trec_eval(scifact_run, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from embedscope.rundir import read_dataset, read_runs

    data = explorer_json(write_report(scifact_run, tmp_path / "report.html", "--k", "5"))
    runs, dataset = read_runs(scifact_run), read_dataset(scifact_run)
    assert {q["id"] for q in data["queries"]} == set(dataset.queries)
    top = max(g for rels in dataset.qrels.values() for g in rels.values())
    for qid, page in data["pages"].items():
        assert page["text"] == dataset.queries[qid]
        for column in page["columns"]:
            assert [h["doc_id"] for h in column["hits"]] == [d for d, _ in runs[column["model"]].ranked(qid, 5)]
            for hit in column["hits"]:
                grade = dataset.qrels.get(qid, {}).get(hit["doc_id"])
                expected = "?" if grade is None else "❌" if grade == 0 else "✅" if grade == top else "⚪"
                assert hit["symbol"] == expected
                assert hit["title"] == dataset.corpus[hit["doc_id"]].title
    # per-query nDCG@10 shown in the explorer = trec_eval's, on the TREC files the run directory holds
    evaluator = pytrec_eval.RelevanceEvaluator(dataset.qrels, {"ndcg_cut.10"})
    for name, run in runs.items():
        reference = evaluator.evaluate(run.scores)
        for row in data["queries"]:
            if row["id"] in reference:
                assert row["metric"][name] == pytest.approx(reference[row["id"]]["ndcg_cut_10"], abs=1e-6)
    with open(scifact_run / "per_query.csv", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == sum(len(r["metric"]) for r in data["queries"]
                                                          if any(v is not None for v in r["metric"].values()))


def test_graded_marks_and_max_queries(xss_run, tmp_path):
    data = explorer_json(write_report(xss_run, tmp_path / "report.html", "--max-queries", "3"))
    assert len(data["queries"]) == 3 == len(data["pages"])
    symbols = {h["symbol"] for page in data["pages"].values() for c in page["columns"] for h in c["hits"]}
    assert {"✅", "⚪", "❌", "?"} <= symbols  # grade 2, grade 1, judged 0, unjudged
    spreads = [r["spread"] or 0 for r in data["queries"]]
    assert spreads == sorted(spreads, reverse=True)  # the most disputed queries are the ones kept


def test_corpus_markup_stays_text(xss_run, tmp_path):
    text = write_report(xss_run, tmp_path / "report.html")
    doc = parse(text)
    assert not [t for t, _ in doc.tags if t in ("img", "svg", "iframe", "object", "embed")]
    assert not [a for t, a in doc.tags if t == "a" and "javascript:" in a.get("href", "").lower()]
    assert not [(t, a) for t, a in doc.tags if any(name.startswith("on") for name in a)]
    assert len(doc.scripts) == len([t for t, _ in doc.tags if t == "script"]) == 4  # plotly, page, figures, data
    for payload in PAYLOADS:  # nowhere raw: escaped in tables, \u003c-escaped in the JSON block
        assert payload not in text
    data_block = next(body for attrs, body in doc.scripts if attrs.get("id") == "explorer-data")
    assert "<" not in data_block and ">" not in data_block
    # the payloads travel intact as data and come back exactly
    data = explorer_json(text)
    titles = {h["title"] for page in data["pages"].values() for c in page["columns"] for h in c["hits"]}
    assert {f"payload title {i} {p}" for i, p in enumerate(PAYLOADS)} <= titles
    assert {r["text"] for r in data["queries"]} == {f"vaccine trial outcome {i} {p}" for i, p in enumerate(PAYLOADS)}


def test_report_needs_a_run_directory(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)], standalone_mode=False)
    # an OSError: the CLI prints it as one clear line (cli/errors.py), not a traceback
    assert isinstance(result.exception, FileNotFoundError) and "results.json" in str(result.exception)


def test_perf_cost_and_recommendation_sections(scifact_run, tmp_path):
    """With perf.json from the real benchmark code, the report shows its tables, plots and the recommendation."""
    bench = pytest.importorskip("embedscope.perf.bench", reason="embedscope.perf is not installed in this tree")
    from embedscope.perf.cost import SCALES, load_prices
    from embedscope.recommend import candidates_from, recommend
    from embedscope.rundir import read_dataset, read_results

    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(scifact_run, run_dir)
    results = read_results(run_dir)
    perf = bench.bench(read_dataset(run_dir), [m.spec for m in results.models], prices=load_prices(None),
                       scales=SCALES, latency_queries=10, max_docs=100, log=lambda msg: None)
    (run_dir / "perf.json").write_text(json.dumps(perf, default=str))
    text = write_report(run_dir, tmp_path / "report.html")
    for section in ('id="perf"', 'id="recommendation"', 'id="fig-latency"', 'id="fig-cost"'):
        assert section in text
    chosen = recommend(candidates_from(results, perf)[0])["chosen"]
    assert re.search(r"<dt>chosen</dt><dd>" + re.escape(chosen) + "</dd>", text)
    timed = next(m for m in perf["models"] if "speed" in m)
    assert f"{timed['speed']['docs_per_second']:,.1f}" in text
    assert "break-even" in text or all(r["kind"] == "api" for r in perf["cost"]["rows"])


def test_model_card_section(scifact_dir, tmp_path):
    """A model with a card in the registry (MiniLM) gets its card shown beside the prompts the run used."""
    run_dir = embedscope_run(tmp_path, "--data", str(scifact_dir), "--max-queries", "10", "--max-docs", "120",
                             "-m", "minilm", "-m", "bm25")
    results = json.loads((run_dir / "results.json").read_text())
    carded = [m for m in results["models"] if isinstance(m["info"].get("card"), dict)]
    if not carded:
        pytest.skip("the model-card registry gave MiniLM no card in this tree")
    text = write_report(run_dir, tmp_path / "report.html")
    section = text[text.index('id="cards"'):text.index('id="explorer"')]
    for m in carded:
        assert f"<h3>{m['name']}</h3>" in section and f"<dd>{m['info']['card']['name']}</dd>" in section
    assert "bm25" not in section  # no card, no entry


def test_report_when_the_dataset_is_gone(xss_run, tmp_path):
    """A run directory whose dataset moved still gives a report: scores and ids, and a warning saying why."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(xss_run, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    results["settings"]["source"]["data"] = str(tmp_path / "moved-away")
    (run_dir / "results.json").write_text(json.dumps(results))
    text = write_report(run_dir, tmp_path / "report.html")
    assert "dataset not reloaded" in text and "moved-away" in text
    data = explorer_json(text)
    assert {q["id"] for q in data["queries"]} == {f"q{i}" for i in range(len(PAYLOADS))}
