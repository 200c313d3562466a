"""`embedscope serve`: token-guarded JSON API, side-by-side data, judgments saved as graded qrels, and reused by `run`."""

from __future__ import annotations

import json
import gzip
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import embedscope_run

from embedscope.cli import cli
from embedscope.judgments import JudgmentStore, read_judgments
from embedscope.servers import stop_pid


def make_tiny_beir(folder: Path) -> Path:
    """Six graded queries over thirty short docs; query i shares words with docs i and i+6."""
    (folder / "qrels").mkdir(parents=True)
    topics = ["vaccine trial", "protein folding", "gene expression", "sleep apnea", "bone density", "heart rhythm"]
    docs = [{"_id": f"d{i}", "title": f"{topics[i % 6]} study {i}", "text": f"notes on {topics[i % 6]} number {i}"}
            for i in range(30)]
    docs[1]["text"] += ' <img src=x onerror=alert("xss")>'
    queries = [{"_id": f"q{i}", "text": f"{t} results <script>alert({i})</script>"} for i, t in enumerate(topics)]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    rows = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t2" for i in range(6)] + [f"q{i}\td{i + 6}\t1" for i in range(6)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tiny")
    return embedscope_run(tmp, "--data", str(make_tiny_beir(tmp / "tiny")), "-m", "bm25", "-m", "tokenlearn")


@pytest.fixture()
def tiny_run(tiny_base, tmp_path) -> Path:
    """A fresh copy of the run per test: tests judge into it."""
    return Path(shutil.copytree(tiny_base, tmp_path / "run"))


@pytest.fixture()
def app_server(tiny_run):
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    app = WebApp(Explorer(tiny_run), k=5)
    server, thread = serve_in_thread(app)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def request(url: str, body=None, content_type="application/json", method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url: str):
    status, _, body = request(url)
    assert status == 200, body
    return json.loads(body)


def test_token_guards_every_path(app_server):
    base = app_server.url
    host = base.split("/")[2]
    token = app_server.app.token
    assert len(token) >= 24 and base == f"http://{host}/{token}/"
    assert host.startswith("127.0.0.1:")
    for path in ["", "api/queries", f"{token[:-1]}/api/queries", f"{token}x/api/queries", f"x/{token}/api/queries",
                 f"api/queries?token={token}"]:
        status, _, _ = request(f"http://{host}/{path}")
        assert status == 403, path
    status, _, _ = request(f"http://{host}/nottoken/api/judgments", {"query_id": "q0", "doc_id": "d0", "grade": 2})
    assert status == 403
    assert not app_server.app.explorer.judgments.path.exists()
    status, headers, page = request(base)
    assert status == 200 and b"<script src=\"app.js\"></script>" in page
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = request(base + "explorer.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")


def test_queries_and_side_by_side_follow_the_runs(app_server, tiny_run):
    from embedscope.rundir import read_dataset, read_runs

    base, runs, dataset = app_server.url, read_runs(tiny_run), read_dataset(tiny_run)
    summary = get_json(base + "api/summary")
    assert summary["models"] == [m["name"] for m in json.loads((tiny_run / "results.json").read_text())["models"]]
    rows = get_json(base + "api/queries")["queries"]
    assert [r["id"] for r in rows] == list(dataset.queries)
    assert rows[0]["text"] == dataset.queries["q0"]  # raw text: the page puts it in with textContent
    page = get_json(base + "api/query?id=q0&k=3")
    for column in page["columns"]:
        assert [h["doc_id"] for h in column["hits"]] == [d for d, _ in runs[column["model"]].ranked("q0", 3)]
        for hit in column["hits"]:
            assert hit["symbol"] == {2: "✅", 1: "⚪", None: "?"}[dataset.qrels["q0"].get(hit["doc_id"])]
    assert request(base + "api/query?id=nope")[0] == 404
    assert request(base + "api/query?id=q0&k=abc")[0] == 400


def test_judgments_saved_as_graded_qrels(app_server, tiny_run):
    base = app_server.url
    path = tiny_run / "judgments" / "qrels.tsv"
    status, _, body = request(base + "api/judgments", {"query_id": "q0", "doc_id": "d3", "grade": 2})
    assert status == 200 and json.loads(body)["total"] == 1
    request(base + "api/judgments", {"query_id": "q0", "doc_id": "d0", "grade": 0})
    request(base + "api/judgments", {"query_id": "q1", "doc_id": "d7", "grade": 1})
    lines = path.read_text().splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    assert sorted(lines[1:]) == ["q0\td0\t0", "q0\td3\t2", "q1\td7\t1"]
    # the judgment now marks the hit, over the dataset's grade
    marks = {h["doc_id"]: h["symbol"] for c in get_json(base + "api/query?id=q0&k=30")["columns"] for h in c["hits"]}
    assert marks.get("d3") == "✅" and marks.get("d0") == "❌"
    assert get_json(base + "api/queries")["queries"][0]["judged"] == 2
    # withdraw a judgment with grade null
    request(base + "api/judgments", {"query_id": "q1", "doc_id": "d7", "grade": None})
    assert read_judgments(path) == {"q0": {"d3": 2, "d0": 0}}
    # bad input is refused and changes nothing
    for body in [{"query_id": "q0", "doc_id": "d3", "grade": 3}, {"query_id": "q0", "doc_id": "nope", "grade": 1},
                 {"query_id": "zz", "doc_id": "d3", "grade": 1}, {"query_id": "q0", "doc_id": "d3", "grade": True}]:
        assert request(base + "api/judgments", body)[0] == 400, body
    assert request(base + "api/judgments", b"query_id=q0", content_type="application/x-www-form-urlencoded")[0] == 415
    assert read_judgments(path) == {"q0": {"d3": 2, "d0": 0}}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_scores_follow_the_judgments(app_server, tiny_run):
    """The app re-scores the run with each judgment: the leaderboard, verdicts and per-query values move."""
    from embedscope.report.rescore import rescore
    from embedscope.webui import Explorer

    base = app_server.url
    view = get_json(base + "api/view")
    assert view["mode"] == "app" and view["explorer"] is None  # hits come per query, from api/query
    assert view["judged"]["count"] == 0 and "--with-judgments" in view["regenerate"]
    before = {r["model"]: r["ndcg@10"] for r in view["leaderboard"]["rows"]}
    request(base + "api/judgments", {"query_id": "q0", "doc_id": "d0", "grade": 0})  # the relevant doc: not relevant
    scores = get_json(base + "api/scores?k=5")
    assert scores["judged"] == {"count": 1, "queries": 1} and scores["your_judgments"] == 1
    expected = rescore(Explorer(tiny_run))["models"]
    for row in scores["leaderboard"]["rows"]:
        assert row["ndcg@10"] == pytest.approx(expected[row["model"]]["ndcg@10"])
        assert row["before:ndcg@10"] == pytest.approx(before[row["model"]])
    assert any(row["ndcg@10"] < before[row["model"]] for row in scores["leaderboard"]["rows"])
    q0 = scores["queries"][0]
    assert q0["id"] == "q0" and q0["judged"] == 1 and q0["pool"] >= 5 and q0["graded"] >= 1
    page = get_json(base + "api/query?id=q0&k=5")
    for column in page["columns"]:  # the page's per-query values are the re-scored ones too
        i = [q["id"] for q in scores["queries"]].index("q0")
        assert column["metrics"]["ndcg@10"] == pytest.approx(scores["per_query"][column["model"]]["ndcg@10"][i], abs=1e-4)


def test_blind_pool_and_document_view(tiny_run):
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    explorer = Explorer(tiny_run)
    app = WebApp(explorer, k=5, judge_order=lambda qid, docs: sorted(docs, reverse=True))
    server, thread = serve_in_thread(app)
    try:
        status, _, body = request(server.url + "api/pool?id=q1&k=5")
        pool = json.loads(body)
        ids = [d["doc_id"] for d in pool["docs"]]
        assert set(ids) == set(explorer.pool("q1", 5)) and len(ids) == len(set(ids))
        assert ids == sorted(ids, reverse=True)  # the order supplied to the app
        for name in explorer.models:  # blind: no model names, ranks or scores anywhere in the list
            assert name.encode() not in body
        assert not any({"rank", "score", "model"} & set(d) for d in pool["docs"])
        app.judge_order = None  # the default: a shuffle fixed per query, the same on every reload
        first, again = (get_json(server.url + "api/pool?id=q1&k=5") for _ in range(2))
        assert [d["doc_id"] for d in first["docs"]] == [d["doc_id"] for d in again["docs"]]
        doc = get_json(server.url + "api/document?id=d1&k=5")
        assert doc["doc_id"] == "d1" and 'onerror=alert("xss")' in doc["text"]
        assert any(q["id"] == "q1" and q["grade"] == 2 for q in doc["queries"])
        for q in doc["queries"]:
            for model, rank in q["ranks"].items():
                assert [d for d, _ in explorer.runs[model].ranked(q["id"], 5)][rank - 1] == "d1"
        assert request(server.url + "api/document?id=nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_favicon_and_compressed_answers(app_server):
    host = app_server.url.split("/")[2]
    status, headers, body = request(f"http://{host}/favicon.ico")  # public: browsers ask for it at the root
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and body.startswith(b"<svg")
    assert request(app_server.url + "favicon.svg")[0] == 200
    req = urllib.request.Request(app_server.url + "api/view", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.read()))["models"]


def test_concurrent_judgments_are_all_kept(tmp_path):
    store = JudgmentStore(tmp_path / "judgments" / "qrels.tsv")
    other = JudgmentStore(tmp_path / "judgments" / "qrels.tsv")  # a second server on the same run dir

    def judge(worker):
        for i in range(10):
            (store if worker % 2 else other).set(f"q{worker}", f"d{i}", i % 3)

    threads = [threading.Thread(target=judge, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_judgments(store.path) == {f"q{w}": {f"d{i}": i % 3 for i in range(10)} for w in range(6)}


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    store = JudgmentStore(tmp_path / "qrels.tsv")
    store.set("q1", "d1", 2)
    before = store.path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.set("q1", "d2", 1)
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["qrels.tsv"]


def test_next_run_uses_the_judgments(tiny_run, tmp_path):
    from embedscope.rundir import read_dataset

    store = JudgmentStore(tiny_run / "judgments" / "qrels.tsv")
    store.set("q0", "d0", 0)   # was the relevant doc (2): now judged not relevant
    store.set("q0", "d20", 2)  # unjudged before
    store.set("q9", "d0", 2)   # a query this dataset lacks: left out with a note
    results = json.loads((tiny_run / "results.json").read_text())
    data = results["settings"]["source"]["data"]
    again = embedscope_run(tmp_path, "--data", data, "-m", "bm25", "--judgments", str(store.path))
    merged = read_dataset(again).qrels
    assert merged["q0"]["d0"] == 0 and merged["q0"]["d20"] == 2 and "q9" not in merged
    before = read_dataset(tiny_run).qrels
    assert sum(map(len, merged.values())) == sum(map(len, before.values())) + 1
    again_results = json.loads((again / "results.json").read_text())
    assert again_results["dataset"]["judgments"] == results["dataset"]["judgments"] + 1
    with pytest.raises(Exception, match="judgments file not found"):
        CliRunner().invoke(cli, ["run", "--data", data, "-m", "bm25", "--judgments", str(tmp_path / "none.tsv"),
                                 "-o", str(tmp_path / "r2"), "-q"], standalone_mode=False, catch_exceptions=False)


@pytest.fixture()
def serve_process(tiny_run):
    """`embedscope serve` as a user starts it; stopped by its PID."""
    command = [sys.executable, "-c", "import sys; from embedscope.cli import main; sys.argv[0] = 'embedscope'; main()",
               "serve", str(tiny_run), "--port", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    yield proc
    stop_pid(proc.pid)


def test_serve_command_prints_a_working_url(serve_process):
    line = serve_process.stdout.readline()
    assert "open http://127.0.0.1:" in line, line
    url = line.split("open ", 1)[1].strip()
    assert get_json(url + "api/summary")["dataset"]
    assert request(url.rsplit("/", 2)[0] + "/api/summary")[0] == 403


def test_serve_refuses_non_loopback_hosts(tiny_run):
    result = CliRunner().invoke(cli, ["serve", str(tiny_run), "--host", "0.0.0.0"], standalone_mode=False)
    assert result.exit_code != 0 and "loopback" in str(result.exception)
    from embedscope.webui import Explorer, WebApp, make_server

    with pytest.raises(ValueError, match="loopback"):
        make_server(WebApp(Explorer(tiny_run)), host="0.0.0.0")


def assert_same_scores(got: dict, full: dict) -> None:
    assert got["judgments"] == full["judgments"] and got["queries"] == full["queries"]
    for model, means in full["models"].items():
        assert got["models"][model] == pytest.approx(means, abs=1e-12)
    assert got["per_query"] == full["per_query"]
    for model, metrics in full["confidence_intervals"]["models"].items():
        for metric, ci in metrics.items():
            assert got["confidence_intervals"]["models"][model][metric] == pytest.approx(ci, abs=1e-12)
    pairs = lambda found: [(p["metric"], p["a"], p["b"], p["verdict"]) for p in found["significance"]["pairs"]]  # noqa: E731
    assert pairs(got) == pairs(full)
    for a, b in zip(got["significance"]["pairs"], full["significance"]["pairs"]):
        for key in ("difference", "difference_low", "difference_high", "p_randomization", "p_randomization_holm",
                    "p_ttest_holm"):
            assert a[key] == pytest.approx(b[key], abs=1e-12, nan_ok=True), key
    assert got["per_query_stats"]["win_tie_loss"] == full["per_query_stats"]["win_tie_loss"]


def test_rescoring_after_each_judgment_is_incremental_and_matches_a_full_one(tiny_run, monkeypatch):
    """The app's re-scoring evaluates only the queries whose judgments changed, and the statistics add in only
    those queries: the numbers are a full re-scoring's, judgment after judgment (a query that loses its last
    relevant document, and a judgment withdrawn, included)."""
    from embedscope.report.rescore import Rescorer, rescore
    from embedscope.webui import Explorer

    explorer = Explorer(tiny_run)
    kept = Rescorer(explorer)
    evaluated = []
    evaluate = Rescorer._evaluate
    monkeypatch.setattr(Rescorer, "_evaluate", lambda self, qrels, qids: evaluated.append(set(qids)) or
                        evaluate(self, qrels, qids))
    steps = [{"q0": {"d0": 0}},
             {"q0": {"d0": 0, "d3": 2}},
             {"q0": {"d0": 0, "d3": 2}, "q2": {"d5": 1}},
             {"q0": {"d0": 0, "d3": 2}, "q2": {"d5": 1}, "q1": {"d1": 0, "d7": 0}},  # q1 has nothing relevant left
             {"q2": {"d5": 1}, "q1": {"d1": 0, "d7": 0}}]
    for judgments in steps:
        got = kept.rescore(judgments)
        evaluated_now = evaluated[-1]
        monkeypatch.setattr(Rescorer, "_evaluate", evaluate)
        assert_same_scores(got, rescore(explorer, judgments))
        monkeypatch.setattr(Rescorer, "_evaluate", lambda self, qrels, qids: evaluated.append(set(qids)) or
                            evaluate(self, qrels, qids))
        evaluated[-1] = evaluated_now
    assert evaluated[0] == {f"q{i}" for i in range(6)}  # the first: every query
    assert evaluated[1:] == [{"q0"}, {"q2"}, {"q1"}, {"q0"}]  # then: only the judged query
    assert "q1" not in got["per_query"]["bm25"]


def graded_run(tmp_path: Path) -> Path:
    """The tiny data graded 0-3 (TREC's scale): q0's own document is highly relevant."""
    data = make_tiny_beir(tmp_path / "graded")
    qrels = data / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text().replace("q0\td0\t2", "q0\td0\t3"), encoding="utf-8")
    return embedscope_run(tmp_path, "--data", str(data), "-m", "bm25", "-m", "tokenlearn")


def test_the_judging_scale_follows_the_data(tiny_run, tmp_path):
    """0-2 for binary and 0-2 data; 0-3 when the data grades up to 3: the app takes grade 3 there (and the report
    re-scores with it), and refuses it elsewhere."""
    from embedscope.report.html import decode_view, render_report
    from embedscope.report.rescore import rescore
    from embedscope.webui import Explorer, WebApp

    binary = WebApp(Explorer(tiny_run))
    assert binary.explorer.max_grade == 2
    assert [g["grade"] for g in binary.view()["grades"]] == [2, 1, 0]
    with pytest.raises(ValueError, match="0 to 2"):
        binary.judge({"query_id": "q0", "doc_id": "d3", "grade": 3})

    run_dir = graded_run(tmp_path)
    app = WebApp(Explorer(run_dir))
    assert app.explorer.max_grade == 3
    assert [(g["grade"], g["label"], g["mark"]) for g in app.view()["grades"]] == [
        (3, "highly relevant", "relevant"), (2, "relevant", "partly"), (1, "partly relevant", "partly"),
        (0, "not relevant", "not")]
    before = rescore(app.explorer, {"q1": {"d3": 0}})["models"]
    app.judge({"query_id": "q1", "doc_id": "d1", "grade": 2})  # q1's own document: 2 of 3 now
    app.judge({"query_id": "q1", "doc_id": "d3", "grade": 3})
    with pytest.raises(ValueError, match="0 to 3"):
        app.judge({"query_id": "q1", "doc_id": "d3", "grade": 4})
    assert read_judgments(run_dir / "judgments" / "qrels.tsv") == {"q1": {"d1": 2, "d3": 3}}
    marks = {h["doc_id"]: h["mark"] for c in app.explorer.side_by_side("q1", k=30)["columns"] for h in c["hits"]}
    assert marks["d3"] == "relevant" and marks["d1"] == "partly"
    assert {d["doc_id"]: d["mark"] for d in app.explorer.pooled("q1", k=30)["docs"]}["d3"] == "relevant"
    after = app.scores(10)
    assert after["judged"] == {"count": 2, "queries": 1}
    assert any(r["ndcg@10"] != pytest.approx(before[r["model"]]["ndcg@10"]) for r in after["leaderboard"]["rows"])
    # the report with them: same numbers, the judged hits marked on the 0-3 scale
    html = render_report(run_dir, with_judgments=True)
    view = decode_view(*__import__("re").search(r'data-encoding="([^"]+)">([^<]*)<', html).groups())
    assert view["grades"][0]["grade"] == 3 and view["judged"]["count"] == 2
    assert {r["model"]: r["ndcg@10"] for r in view["leaderboard"]["rows"]} == pytest.approx(
        {r["model"]: r["ndcg@10"] for r in after["leaderboard"]["rows"]})
    q1 = [q["id"] for q in view["queries"]].index("q1")
    flat, ids = view["explorer"]["marks"][q1], view["docs"]["ids"]
    marked = {ids[flat[i]]: (flat[i + 2], flat[i + 3]) for i in range(0, len(flat), 4)}
    assert marked.get("d3", (3, "relevant")) == (3, "relevant")
