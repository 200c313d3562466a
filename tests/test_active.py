"""Active judging (MTC weights, bound, interval, stopping rule) on cases worked by hand or by brute force, and
`embedscope judge-next` end to end on a run without qrels (generated queries + pooling)."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from test_browser import browser  # noqa: F401 - the headless Chromium fixture (skips without chromium)

from embedscope.cli import cli
from embedscope.metrics import evaluate
from embedscope.noqrels.active import ActiveJudging
from embedscope.runs import Run

D2, D3 = 1 / math.log2(3), 0.5  # DCG discounts at ranks 2 and 3


def ranked(name: str, lists: dict[str, list[str]]) -> Run:
    return Run(name, {q: {d: float(len(docs) - r) for r, d in enumerate(docs)} for q, docs in lists.items()})


def hand_runs():
    return [ranked("A", {"q": ["d1", "d2", "d3"]}), ranked("B", {"q": ["d2", "d1", "d4"]}),
            ranked("C", {"q": ["d5", "d1", "d2"]})]


def test_mtc_weights_match_a_hand_worked_example():
    """A = d1 d2 d3, B = d2 d1 d4, C = d5 d1 d2 at k = 3. The DCG weight of d for pair (x, y) is
    disc_x(d) - disc_y(d) with disc = 1, 1/log2(3), 1/2 at ranks 1, 2, 3:
        A-B: d1 +(1-D2)  d2 -(1-D2)  d3 +1/2  d4 -1/2  d5 0
        A-C: d1 +(1-D2)  d2 D2-1/2   d3 +1/2  d4 0     d5 -1
        B-C: d1 0        d2 +1/2     d3 0     d4 +1/2  d5 -1
    MTC's score sums |w| over the pairs: d1 2(1-D2) = 0.738, d2 (1-D2)+(D2-1/2)+1/2 = 1, d3 1, d4 1, d5 2."""
    active = ActiveJudging(hand_runs(), {}, metric="ndcg@3")
    assert active.doc_ids == ["d1", "d2", "d5", "d3", "d4"]  # pool order: best rank, then first seen
    expected = {  # columns: A-B, A-C, B-C
        "d1": [1 - D2, 1 - D2, 0], "d2": [-(1 - D2), D2 - D3, D3], "d3": [D3, D3, 0], "d4": [-D3, 0, D3],
        "d5": [0, -1, -1],
    }
    for i, d in enumerate(active.doc_ids):
        assert active.raw_weight[i] == pytest.approx(expected[d])
    # one query: every weight is divided by the same normalizer, so scores are the hand sums times a constant
    scores = dict(zip(active.doc_ids, active.scores()))
    hand = {"d1": 2 * (1 - D2), "d2": 1.0, "d3": 1.0, "d4": 1.0, "d5": 2.0}
    ratio = scores["d5"] / hand["d5"]
    assert {d: s / ratio for d, s in scores.items()} == pytest.approx(hand)
    assert [p.doc_id for p in active.next_pairs(5)] == ["d5", "d2", "d3", "d4", "d1"]  # ties keep pool order
    assert active.next_pairs(1)[0].ranks == {"A": None, "B": None, "C": 1}


def test_precision_weights_count_membership():
    active = ActiveJudging(hand_runs(), {}, metric="precision@3")
    expected = {"d1": [0, 0, 0], "d2": [0, 0, 0], "d3": [1, 1, 0], "d4": [-1, 0, 1], "d5": [0, -1, -1]}
    for i, d in enumerate(active.doc_ids):
        assert active.raw_weight[i] == pytest.approx(expected[d])


def test_settled_pairs_stop_contributing_weight():
    """Judged: d1 0, d2 1, d3 1, d5 0, so DCG A = D2 + 1/2, C = 1/2, B = 1 + d4/2. A beats C and B beats C
    whatever d4 is (settled by the bound); A vs B hangs on d4. d4 weighs -1/2 for A-B and +1/2 for B-C, but only
    the open pair counts."""
    labels = {"q": {"d1": 0, "d2": 1, "d3": 1, "d5": 0}}
    active = ActiveJudging(hand_runs(), labels, metric="ndcg@3", max_grade=1)
    verdicts = {(v.a, v.b): v for v in active.verdicts()}
    assert verdicts[("A", "C")].settled_by == "bound" and verdicts[("B", "C")].settled_by == "bound"
    assert verdicts[("A", "C")].leader == "A" and verdicts[("B", "C")].leader == "B"
    assert not verdicts[("A", "B")].settled and verdicts[("A", "B")].unjudged == 1
    scores = dict(zip(active.doc_ids, active.scores()))
    assert [d for d, s in scores.items() if s > 0] == ["d4"]  # the judged ones score 0
    assert scores["d4"] == pytest.approx(D3 / active.normalizer[0])


def random_case(rng: random.Random, n_queries=3, n_docs=6, k=3, models=3):
    runs = []
    for m in range(models):
        lists = {f"q{q}": rng.sample([f"d{d}" for d in range(n_docs)], k) for q in range(n_queries)}
        runs.append(ranked(f"m{m}", lists))
    return runs


def final_differences(runs, labels, metric):
    """Sum over queries of each pair's per-query difference, as `evaluate` scores them on complete labels."""
    per = {r.name: evaluate(labels, r, [metric]).per_query[metric] for r in runs}
    return {(a.name, b.name): sum(per[a.name].get(q, 0) - per[b.name].get(q, 0) for q in labels)
            for a, b in itertools.combinations(runs, 2)}


@pytest.mark.parametrize("metric, max_grade", [("ndcg@3", 1), ("ndcg@3", 2), ("precision@3", 1)])
def test_bound_holds_every_way_the_rest_can_be_judged(metric, max_grade):
    """Brute force over every grading of the unjudged pool pairs: the final difference always lies inside MTC's
    bound, and with binary grades the bound is reached (it is exact)."""
    rng = random.Random(7)
    for _ in range(12 if max_grade == 1 else 4):
        runs = random_case(rng, n_docs=5)
        active = ActiveJudging(runs, {}, metric=metric, max_grade=max_grade)
        pairs = [active.pair(i) for i in range(active.pool_size)]
        judged = rng.sample(pairs, len(pairs) // 2)
        labels: dict[str, dict[str, int]] = {}
        for q, d in judged:
            labels.setdefault(q, {})[d] = rng.choice([0, 0, 1, max_grade])
        active.set_labels(labels)
        left = [p for p in pairs if p not in judged]
        lows = {key: math.inf for key in itertools.combinations([r.name for r in runs], 2)}
        highs = {key: -math.inf for key in lows}
        for grades in itertools.product(range(max_grade + 1), repeat=len(left)):
            full = {q: dict(rels) for q, rels in labels.items()}
            for (q, d), g in zip(left, grades):
                full.setdefault(q, {})[d] = g
            for key, value in final_differences(runs, full, metric).items():
                lows[key], highs[key] = min(lows[key], value), max(highs[key], value)
        for v in active.verdicts():
            low, high = v.bound_low * active.queries_expected, v.bound_high * active.queries_expected
            assert low <= lows[(v.a, v.b)] + 1e-9 and high >= highs[(v.a, v.b)] - 1e-9
            if max_grade == 1:
                assert low == pytest.approx(lows[(v.a, v.b)]) and high == pytest.approx(highs[(v.a, v.b)])
            # settled by the bound exactly when no grading can flip the sign
            flips = lows[(v.a, v.b)] < -1e-12 < 1e-12 < highs[(v.a, v.b)]
            assert not (v.settled_by == "bound" and flips)


def test_current_difference_is_what_evaluate_gives():
    rng = random.Random(3)
    runs = random_case(rng, n_queries=8, n_docs=10, k=5)
    active = ActiveJudging(runs, {}, metric="ndcg@5")
    labels: dict[str, dict[str, int]] = {}
    for i in range(0, active.pool_size, 2):
        q, d = active.pair(i)
        labels.setdefault(q, {})[d] = rng.choice([0, 1, 2])
    labels["q0"]["outside-the-pool"] = 2  # counts in the ideal DCG only
    active.set_labels(labels)
    means = {r.name: evaluate(labels, r, ["ndcg@5"]).mean["ndcg@5"] for r in runs}
    for v in active.verdicts():
        assert v.current == pytest.approx(means[v.a] - means[v.b])


def test_fully_judged_pool_is_settled_and_exact():
    rng = random.Random(5)
    runs = random_case(rng, n_queries=6, n_docs=8, k=4)
    active = ActiveJudging(runs, {}, metric="ndcg@4")
    labels: dict[str, dict[str, int]] = {}
    for i in range(active.pool_size):
        q, d = active.pair(i)
        labels.setdefault(q, {})[d] = rng.choice([0, 1, 2])
    active.set_labels(labels)
    assert active.settled and not active.next_order().size
    for v in active.verdicts():
        assert v.estimate == pytest.approx(v.current) == pytest.approx(v.bound_low) == pytest.approx(v.bound_high)
        assert v.low == pytest.approx(v.high)


def test_identical_models_tie_and_are_settled():
    run = ranked("A", {"q": ["d1", "d2", "d3"]})
    active = ActiveJudging([run, Run("B", run.scores)], {}, metric="ndcg@3")
    (v,) = active.verdicts()
    assert v.settled_by == "bound" and v.leader is None and v.verdict == "A and B tie"


def separated_case(n_queries=60, k=5):
    """A ranks each query's relevant document first; B ranks it last of its five; both fill up with other documents.
    Half the relevant documents are known (the query generator's source documents), everything else unjudged."""
    a, b, labels, truth = {}, {}, {}, {}
    for q in range(n_queries):
        rel = f"rel{q}"
        a[f"q{q}"] = [rel] + [f"a{q}-{j}" for j in range(k - 1)]
        b[f"q{q}"] = [f"b{q}-{j}" for j in range(k - 1)] + [rel]
        truth[f"q{q}"] = {rel: 1}
        if q % 2 == 0:
            labels[f"q{q}"] = {rel: 1}
    return [ranked("A", a), ranked("B", b)], labels, truth


def test_stopping_rule_on_a_case_with_a_known_answer():
    """A is better than B (it ranks every relevant document first). Judging in judge-next's order, the pair is
    declared settled before the pool is exhausted, the verdict then is the true one, and neither the bound nor the
    interval settles it the wrong way at any point on the way."""
    runs, labels, truth = separated_case()
    active = ActiveJudging(runs, {}, metric="ndcg@5", max_grade=1, given=labels)
    steps = 0
    while not active.settled:
        (i,) = active.next_order(1)
        q, d = active.pair(i)
        active.record(q, d, truth.get(q, {}).get(d, 0))
        steps += 1
        (v,) = active.verdicts()
        assert not (v.settled and v.leader != "A")
    (v,) = active.verdicts()
    assert v.leader == "A" and v.verdict == "A better than B" and v.probability > 0.95
    assert v.low > 0 or v.bound_low > 0
    assert steps < active.pool_size - len(labels)  # stopped before judging everything
    true_a = evaluate(truth, runs[0], ["ndcg@5"]).mean["ndcg@5"]
    true_b = evaluate(truth, runs[1], ["ndcg@5"]).mean["ndcg@5"]
    assert v.low <= true_a - true_b <= v.high or v.settled_by == "bound"
    assert v.current == pytest.approx(true_a - true_b) or v.settled_by == "interval"


def test_mirror_image_models_stay_open():
    """B is A with the known relevant documents and the others swapped by query: nothing separates them, so
    neither the bound nor the interval may settle the pair while most of the pool is unjudged."""
    a, b, labels = {}, {}, {}
    for q in range(40):
        docs = [f"x{q}-{j}" for j in range(5)]
        a[f"q{q}"], b[f"q{q}"] = (docs, docs[::-1]) if q % 2 else (docs[::-1], docs)
        labels[f"q{q}"] = {docs[0]: 1} if q < 4 else {}
    active = ActiveJudging([ranked("A", a), ranked("B", b)], labels, metric="ndcg@5")
    (v,) = active.verdicts()
    assert not v.settled and v.low < 0 < v.high


def test_rejects_what_it_cannot_weigh():
    runs = hand_runs()
    with pytest.raises(ValueError, match="supports"):
        ActiveJudging(runs, {}, metric="map@10")
    with pytest.raises(ValueError, match="two runs"):
        ActiveJudging(runs[:1], {})
    with pytest.raises(ValueError, match="strategy"):
        ActiveJudging(runs, {}, strategy="greedy")


def test_state_is_json_ready():
    runs, labels, _ = separated_case(10)
    state = ActiveJudging(runs, labels, metric="ndcg@5").state(3)
    assert json.loads(json.dumps(state)) == state
    assert state["pairs"] == 1 and len(state["next"]) == 3 and state["pool"] == 90
    assert {"verdict", "settled", "probability", "low", "high", "bound_low", "bound_high"} <= set(state["verdicts"][0])


def test_incremental_updates_equal_a_fresh_start():
    """Judgments applied one batch at a time (only the touched queries' bounds recomputed) give exactly what a
    new object over the same labels gives."""
    rng = random.Random(11)
    runs = random_case(rng, n_queries=10, n_docs=12, k=4)
    active = ActiveJudging(runs, {}, metric="ndcg@4")
    labels: dict[str, dict[str, int]] = {}
    for _ in range(4):
        batch = [active.pair(i) for i in active.next_order(6)]
        grades = [(q, d, rng.choice([0, 1, 2])) for q, d in batch]
        for q, d, g in grades:
            labels.setdefault(q, {})[d] = g
        active.update(grades)
        fresh = ActiveJudging(runs, labels, metric="ndcg@4")
        assert active.verdicts() == fresh.verdicts()
        assert list(active.next_order()) == list(fresh.next_order())
    labels[next(iter(labels))].popitem()  # a withdrawn judgment, through set_labels
    active.set_labels(labels)
    assert active.verdicts() == ActiveJudging(runs, labels, metric="ndcg@4").verdicts()


def test_judge_next_order_settles_three_systems_with_the_right_verdicts(synthetic, synthetic_runs):
    """strong > weak > random by construction; a simulated judge answers from the synthetic qrels. Judging in
    judge-next's order settles every pair before the pool is exhausted, with the verdicts complete judging of
    the pool gives."""
    runs = list(synthetic_runs.values())
    qrels = synthetic.qrels
    active = ActiveJudging(runs, {}, metric="ndcg@10", query_ids=list(synthetic.queries))
    every_pair = {q: {d: qrels.get(q, {}).get(d, 0) for d in docs} for q, docs in _pool(active).items()}
    complete = ActiveJudging(runs, every_pair, metric="ndcg@10", query_ids=list(synthetic.queries))
    truth = {(v.a, v.b): v.leader for v in complete.verdicts()}
    assert truth[("strong", "weak")] == "strong" and truth[("strong", "random")] == "strong"
    while not active.settled:
        batch = [active.pair(i) for i in active.next_order(5)]
        active.update([(q, d, qrels.get(q, {}).get(d, 0)) for q, d in batch])
    assert {(v.a, v.b): v.leader for v in active.verdicts()} == truth
    assert active.judged_in_pool < active.pool_size / 2


def _pool(active):
    pool: dict[str, list[str]] = {}
    for i in range(active.pool_size):
        q, d = active.pair(i)
        pool.setdefault(q, []).append(d)
    return pool


# --- end to end: generated queries + pooling, no qrels; judge-next and the web app's active mode -----------------

def topic_of(text: str) -> str:
    from conftest import TOPICS

    words = set(text.split())
    return max(TOPICS, key=lambda t: len(words & set(TOPICS[t].split())))


@pytest.fixture(scope="module")
def noqrels_run(tmp_path_factory):
    """A corpus without queries or qrels -> offline generated queries -> `embedscope pool` over BM25 and two
    static models at depth 5. Returns (run dir, simulated judge: grade of (query id, doc id))."""
    from conftest import make_synthetic, write_beir_folder

    from embedscope.data import load_beir

    tmp = tmp_path_factory.mktemp("noqrels")
    corpus = write_beir_folder(make_synthetic(n_docs=96, n_queries=1, seed=4), tmp / "corpus")
    (corpus / "qrels" / "test.tsv").unlink()
    (corpus / "qrels").rmdir()
    (corpus / "queries.jsonl").unlink()
    runner = CliRunner()
    result = runner.invoke(cli, ["generate-queries", "--data", str(corpus), "--generator", "terms", "--num-docs", "40",
                                 "-o", str(tmp / "gen"), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["pool", "--data", str(tmp / "gen"), "--split", "generated", "-m", "bm25",
                                 "-m", "tokenlearn", "-m", "wordllama", "--pool-depth", "5", "-o", str(tmp / "runs"),
                                 "--cache", str(tmp / "cache"), "-q"], standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_dir = next((tmp / "runs").iterdir())
    generated = load_beir(tmp / "gen", split="generated")
    source = {q: next(iter(rels)) for q, rels in generated.qrels.items()}
    topics = {d: topic_of(doc.full_text) for d, doc in generated.corpus.items()}

    def judge(qid: str, did: str) -> int:
        return 2 if did == source[qid] else int(topics[did] == topics[source[qid]])

    return run_dir, judge


def judge_next_json(run_dir, *args) -> dict:
    result = CliRunner().invoke(cli, ["judge-next", str(run_dir), "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_judge_next_end_to_end_without_qrels(noqrels_run, tmp_path):
    """Judge what judge-next lists, saved the way `embedscope serve` saves judgments, until it says settled; then
    its verdicts are those of judging the whole pool."""
    import shutil

    from embedscope.judgments import JudgmentStore, judgments_path

    run_dir = tmp_path / "run"
    shutil.copytree(noqrels_run[0], run_dir)
    judge = noqrels_run[1]
    store = JudgmentStore(judgments_path(run_dir))
    state = judge_next_json(run_dir, "--n", "8")
    first = state
    assert state["pairs"] == 3 and state["judged"] > 0  # the generated queries' source documents count as labels
    assert all(p["query"] and p["doc_id"] for p in state["next"])
    rounds = 0
    while not state["settled"]:
        for pair in state["next"]:
            store.set(pair["query_id"], pair["doc_id"], judge(pair["query_id"], pair["doc_id"]))
        state = judge_next_json(run_dir, "--n", "8")
        rounds += 1
        assert rounds < 100
    judged_when_settled = state["judged"]
    assert judged_when_settled < first["pool"]
    # the answer: judge the rest of the pool too and compare
    from embedscope.noqrels.active import for_run_dir

    everything = for_run_dir(run_dir)
    for i in everything.next_order():
        q, d = everything.pair(i)
        store.set(q, d, judge(q, d))
    final = judge_next_json(run_dir)
    assert final["unjudged"] == 0 and final["settled"]
    assert [v["leader"] for v in state["verdicts"]] == [v["leader"] for v in final["verdicts"]]


def test_judge_next_prints_verdicts_and_pairs(noqrels_run):
    result = CliRunner().invoke(cli, ["judge-next", str(noqrels_run[0]), "--n", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ndcg@5: verdicts with" in result.output and "P(order holds)" in result.output
    assert "judge these next" in result.output or "settled" in result.output
    bad = CliRunner().invoke(cli, ["judge-next", str(noqrels_run[0]), "--metric", "map@10"])
    assert bad.exit_code == 2 and "supports" in bad.output


def test_judge_next_watch_follows_new_judgments(noqrels_run, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    import time

    from embedscope.judgments import JudgmentStore, judgments_path
    from embedscope.servers import stop_pid

    run_dir = tmp_path / "run"
    shutil.copytree(noqrels_run[0], run_dir)
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "embedscope", "judge-next", str(run_dir), "--json", "--watch",
                             "--every", "0.1", "--n", "2"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(proc.stdout.readline())
        pair = first["next"][0]
        time.sleep(0.2)
        JudgmentStore(judgments_path(run_dir)).set(pair["query_id"], pair["doc_id"], 0)
        second = json.loads(proc.stdout.readline())
        assert second["judged"] == first["judged"] + 1
        assert (pair["query_id"], pair["doc_id"]) not in {(p["query_id"], p["doc_id"]) for p in second["next"]}
    finally:
        stop_pid(proc.pid)
        proc.wait(10)


def test_web_app_active_mode(noqrels_run, tmp_path):
    """GET api/active gives judge-next's order and the verdicts; a judgment POSTed through the app moves both."""
    import shutil
    import urllib.error
    import urllib.request

    from embedscope.webui import Explorer, WebApp, serve_in_thread

    run_dir = tmp_path / "run"
    shutil.copytree(noqrels_run[0], run_dir)
    app = WebApp(Explorer(run_dir), k=5)
    server, thread = serve_in_thread(app)
    try:
        def get(path):
            with urllib.request.urlopen(server.url + path, timeout=30) as r:
                return json.loads(r.read())

        state = get("api/active?n=3")
        assert state == {**judge_next_json(run_dir, "--n", "3"), "next": state["next"]}
        top = state["next"][0]
        assert top["query"] and top["text"]  # texts for the page
        grade = noqrels_run[1](top["query_id"], top["doc_id"])
        body = {"query_id": top["query_id"], "doc_id": top["doc_id"], "grade": grade}
        req = urllib.request.Request(server.url + "api/judgments", method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.loads(r.read())["ok"]
        after = get("api/active?n=3")
        assert after["judged"] == state["judged"] + 1
        assert top["doc_id"] not in {p["doc_id"] for p in after["next"] if p["query_id"] == top["query_id"]}
        assert after["verdicts"] != state["verdicts"]
        with pytest.raises(urllib.error.HTTPError):
            get("api/active?n=x")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_app_active_mode_in_a_browser(noqrels_run, tmp_path, browser):
    """`embedscope serve`'s active mode in headless Chromium: the verdicts of every pair of models, the pair to
    judge next (blind), a judgment by click updates both; once judged to the stopping point the page says settled."""
    import shutil

    from test_browser import assert_clean, click, open_page, shot, wait_for

    from embedscope.judgments import JudgmentStore, judgments_path
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    run_dir = tmp_path / "run"
    shutil.copytree(noqrels_run[0], run_dir)
    judge = noqrels_run[1]
    server, thread = serve_in_thread(WebApp(Explorer(run_dir), k=5))
    try:
        open_page(browser, server.url)
        wait_for(browser, lambda d: d.find_elements("css selector", "#active-next li.hit"), timeout=60)
        rows = browser.execute_script("return [...document.querySelectorAll('#table-active-verdicts tbody tr')].length")
        assert rows == 3
        status = browser.find_element("id", "active-status").text
        assert "of 3 pairs of models settled" in status
        first = browser.execute_script("return active.state.next[0]")
        assert not browser.find_elements("css selector", "#active-next .rank, #active-next .score")  # blind
        grade = judge(first["query_id"], first["doc_id"])
        click(browser, f"#active-next button[data-grade='{grade}']")
        before = browser.execute_script("return active.state.judged")
        wait_for(browser, lambda d: d.execute_script("return active.state.judged") == before + 1, timeout=60)
        saved = JudgmentStore(judgments_path(run_dir)).load()
        assert saved[first["query_id"]][first["doc_id"]] == grade
        assert_clean(browser)
        # judge the rest up to the stopping point outside the page; a reload shows the decision settled
        from embedscope.noqrels.active import for_run_dir

        active = for_run_dir(run_dir)
        store = JudgmentStore(judgments_path(run_dir))
        while not active.settled:
            batch = [active.pair(i) for i in active.next_order(10)]
            for q, d in batch:
                store.set(q, d, judge(q, d))
            active.update([(q, d, judge(q, d)) for q, d in batch])
        open_page(browser, server.url)
        wait_for(browser, lambda d: "Settled" in (d.find_element("id", "active-status").text
                                                  if d.find_elements("id", "active-status") else ""), timeout=60)
        assert "You can stop judging" in browser.find_element("id", "active-status").text
        shot(browser, "active-judging.png", browser.find_element("id", "active"))
        assert_clean(browser)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_blind_lists_follow_judge_next_order(noqrels_run):
    """`serve --active`: each query's blind judging list puts the documents judge-next weighs most first."""
    from embedscope.webui import Explorer, WebApp

    app = WebApp(Explorer(noqrels_run[0]), k=5)
    app.judge_order = app.active.order
    active = app.active._current()
    score = active.scores()
    qid = active.pair(int(active.next_order(1)[0]))[0]
    listed = [d["doc_id"] for d in app.explorer.pooled(qid, k=5, order=app.judge_order)["docs"]]
    weights = [score[active.index[(qid, d)]] if not active.judged[active.index[(qid, d)]] else -1 for d in listed]
    assert weights == sorted(weights, reverse=True) and weights[0] > 0
    assert listed[0] == active.pair(int(active.next_order(1)[0]))[1]  # the query's best is judge-next's overall best
