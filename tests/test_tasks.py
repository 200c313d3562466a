"""Tasks beyond retrieval: each metric against scikit-learn / scipy on the same vectors, MTEB's sampling protocol,
bad input with file:line, the statistics, and each task end to end from the CLI on data built here."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.cluster import MiniBatchKMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, adjusted_rand_score, average_precision_score, f1_score,
                             normalized_mutual_info_score, precision_recall_curve, v_measure_score)
from sklearn.metrics.pairwise import paired_cosine_distances
from sklearn.neighbors import KNeighborsClassifier

from embedscope.data import DataError
from embedscope.errors import EmbedscopeError
from embedscope.tasks import TaskSource, evaluate_task, get_task
from embedscope.tasks.classification import undersample
from embedscope.tasks.metrics import average_precision, cluster_scores, macro_f1, weighted_f1
from embedscope.tasks.pairs import best_threshold
from embedscope.tasks.stats import bootstrap_p, draws
from embedscope.tasks.vectors import Embedding, TextVectors


# ---------- small data built here ----------

def write_csv(path: Path, rows, header=None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def vector_file(path: Path, texts, dim=16, seed=0, signal=None) -> Path:
    """Random vectors keyed by text; `signal(text) -> vector` is added so scores are not pure noise."""
    rng = np.random.default_rng(seed)
    texts = list(dict.fromkeys(texts))
    vectors = rng.normal(size=(len(texts), dim))
    if signal:
        vectors += np.array([signal(t) for t in texts])
    pq.write_table(pa.table({"text": texts, "embedding": [v.tolist() for v in vectors.astype(np.float32)]}), path)
    return path


def lookup(path: Path) -> dict[str, np.ndarray]:
    t = pq.read_table(path).to_pylist()
    return {r["text"]: np.asarray(r["embedding"], dtype=np.float32) for r in t}


def run_one(task, source, model_spec, tmp_path):
    return evaluate_task(task, task.load(source), [model_spec], cache_dir=tmp_path / "cache", resamples=200,
                         log=lambda m: None)


@pytest.fixture
def sts_data(tmp_path):
    rng = np.random.default_rng(1)
    rows = [(f"left sentence {i}", f"right sentence {i}", round(float(rng.uniform(0, 5)), 2)) for i in range(60)]
    path = write_csv(tmp_path / "sts-test.csv", rows)  # no header, like STS-B
    gold = {r[1]: r[2] for r in rows}
    axis = np.eye(16)[0] * 3

    def signal(text):  # right sentences lean toward a shared direction in proportion to their gold score
        return axis * gold[text] / 5 if text in gold else axis

    return path, rows, vector_file(tmp_path / "vectors.parquet", [r[0] for r in rows] + [r[1] for r in rows],
                                   signal=signal)


# ---------- metrics against scikit-learn / scipy ----------

def test_sts_spearman_matches_scipy_on_the_same_vectors(sts_data, tmp_path):
    path, rows, vectors = sts_data
    comparison = run_one(get_task("sts"), TaskSource(path), f"precomputed:{vectors}", tmp_path)
    v = lookup(vectors)
    e1, e2 = np.stack([v[r[0]] for r in rows]), np.stack([v[r[1]] for r in rows])
    cosine = 1 - paired_cosine_distances(e1, e2)
    gold = [r[2] for r in rows]
    scores = comparison.results[0].scores
    assert scores["cosine_spearman"] == pytest.approx(spearmanr(gold, cosine)[0], abs=1e-9)
    assert scores["cosine_pearson"] == pytest.approx(pearsonr(gold, cosine)[0], abs=1e-6)  # float32 vs float64
    assert scores["cosine_spearman"] > 0.3  # the built signal is found


def test_pair_classification_ap_and_best_f1_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 80)
    rows = [(f"question {i}", f"other {i}", int(y)) for i, y in enumerate(labels)]
    path = write_csv(tmp_path / "dups.csv", rows, header=["question1", "question2", "is_duplicate"])
    axis = np.eye(16)[3] * 2
    dup = {r[1]: r[2] for r in rows}
    vectors = vector_file(tmp_path / "v.parquet", [r[0] for r in rows] + [r[1] for r in rows],
                          signal=lambda t: axis if dup.get(t, 1) else -axis)
    comparison = run_one(get_task("pairs"), TaskSource(path), f"precomputed:{vectors}", tmp_path)
    v = lookup(vectors)
    cosine = 1 - paired_cosine_distances(np.stack([v[r[0]] for r in rows]), np.stack([v[r[1]] for r in rows]))
    scores = comparison.results[0].scores
    assert scores["cosine_ap"] == pytest.approx(average_precision_score(labels, cosine), abs=1e-12)
    precision, recall, _ = precision_recall_curve(labels, cosine)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    assert scores["cosine_f1"] == pytest.approx(f1[:-1].max(), abs=1e-12)
    # best accuracy: brute force over every cut
    best = max(accuracy_score(labels, (cosine >= t).astype(int)) for t in cosine)
    assert scores["cosine_accuracy"] == pytest.approx(best, abs=1e-12)


def test_best_threshold_cuts_only_between_distinct_similarities():
    s = np.array([0.9, 0.8, 0.8, 0.1])
    y = np.array([1, 1, 0, 0])
    out = best_threshold(s, y)
    # cutting between the tied 0.8s is impossible: the best real cut is above 0.8 (F1 2/3) or below it (F1 0.8)
    assert out["f1"] == pytest.approx(0.8)
    assert out["f1_threshold"] == pytest.approx((0.8 + 0.1) / 2)


def test_fast_metrics_match_scikit_learn():
    """The numpy metrics the bootstrap recomputes equal scikit-learn's on random and degenerate inputs."""
    rng = np.random.default_rng(3)
    for trial in range(30):
        y, p = rng.integers(0, 7, 50), rng.integers(0, 9, 50)
        assert macro_f1(y, p, 9) == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
        assert weighted_f1(y, p, 9) == pytest.approx(f1_score(y, p, average="weighted"), abs=1e-12)
        labels = rng.integers(0, 2, 60)
        scores = np.round(rng.normal(size=60), 1 if trial % 2 else 6)  # every other trial full of ties
        assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
        t, c = rng.integers(0, 1 + trial % 5, 40), rng.integers(0, 1 + trial % 4, 40)
        fast = cluster_scores(t, c)
        assert fast["v_measure"] == pytest.approx(v_measure_score(t, c), abs=1e-10)
        assert fast["nmi"] == pytest.approx(normalized_mutual_info_score(t, c), abs=1e-10)
        assert fast["ari"] == pytest.approx(adjusted_rand_score(t, c), abs=1e-10)


def test_undersampling_reproduces_mteb_v1_global_seed_sequence():
    """MTEB 1.x: np.random.seed(42) by the task, then each experiment's evaluator reseeds 42 after drawing;
    the order array is shuffled in place, so each experiment reshuffles the previous order."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 200)
    ours = undersample(labels, 4, 3)
    np.random.seed(42)
    idxs, expected = np.arange(len(labels)), []
    for _ in range(3):
        np.random.shuffle(idxs)
        count, picked = defaultdict(int), []
        for i in idxs:
            if count[labels[i]] < 4:
                picked.append(i)
                count[labels[i]] += 1
        expected.append(picked)
        np.random.seed(42)  # the next evaluator's __init__
    assert [d.tolist() for d in ours] == expected


def classification_files(tmp_path, n_labels=4, train_per_label=12, test_per_label=6, unseen=False):
    train = [(f"train {c} {i}", f"class{c}") for c in range(n_labels) for i in range(train_per_label)]
    test = [(f"test {c} {i}", f"class{c}") for c in range(n_labels) for i in range(test_per_label)]
    if unseen:
        test += [("test of a new class 1", "newclass"), ("test of a new class 2", "newclass")]
    folder = tmp_path / "intents"
    folder.mkdir()
    write_csv(folder / "train.csv", train, header=["text", "category"])
    write_csv(folder / "test.csv", test, header=["text", "category"])
    centers = np.random.default_rng(5).normal(size=(n_labels + 1, 16)) * 1.5

    def signal(text):
        return centers[n_labels] if "new class" in text else centers[int(text.split()[1])]

    vectors = vector_file(tmp_path / "v.parquet", [t for t, _ in train + test], signal=signal)
    return folder, train, test, vectors


def test_classification_matches_scikit_learn_probes_on_the_same_draws(tmp_path):
    folder, train, test, vectors = classification_files(tmp_path)
    task = get_task("classification?samples_per_label=3&experiments=4")
    comparison = run_one(task, TaskSource(folder), f"precomputed:{vectors}", tmp_path)
    v = lookup(vectors)
    names = sorted({c for _, c in train})
    y_train = np.array([names.index(c) for _, c in train])
    y_test = np.array([names.index(c) for _, c in test])
    x_test = np.stack([v[t] for t, _ in test])
    acc, f1, knn_acc = [], [], []
    for draw in undersample(y_train, 3, 4):
        x = np.stack([v[train[i][0]] for i in draw])
        pred = LogisticRegression(max_iter=100, random_state=42).fit(x, y_train[draw]).predict(x_test)
        acc.append(accuracy_score(y_test, pred))
        f1.append(f1_score(y_test, pred, average="macro"))
        knn = KNeighborsClassifier(n_neighbors=3, metric="cosine").fit(x, y_train[draw]).predict(x_test)
        knn_acc.append(accuracy_score(y_test, knn))
    scores = comparison.results[0].scores
    assert scores["accuracy"] == pytest.approx(np.mean(acc), abs=1e-12)
    assert scores["f1"] == pytest.approx(np.mean(f1), abs=1e-12)
    assert scores["knn_accuracy"] == pytest.approx(np.mean(knn_acc), abs=1e-12)
    details = comparison.results[0].outcome.details
    assert [e["accuracy"] for e in details["per_experiment"]] == pytest.approx(acc)
    assert details["train_texts_embedded"] <= 4 * 3 * 4  # only the drawn rows are embedded


def test_label_seen_only_in_test_is_warned_counted_and_kept(tmp_path):
    folder, train, test, vectors = classification_files(tmp_path, unseen=True)
    data = get_task("classification").load(TaskSource(folder))
    assert data.counts["rows_with_unseen_label"] == 2
    assert data.counts["rows"] == len(test)
    assert any("'newclass'" in n and "never occur" in n for n in data.notes)


def test_classification_without_training_table_cross_validates(tmp_path):
    folder, train, test, vectors = classification_files(tmp_path, test_per_label=10)
    task = get_task("classification?samples_per_label=all")
    comparison = run_one(task, TaskSource(folder / "test.csv"), f"precomputed:{vectors}", tmp_path)
    assert comparison.data.cross_validation
    assert any("cross-validation" in n for n in comparison.data.notes)
    assert 0 <= comparison.results[0].scores["accuracy"] <= 1
    # every row is predicted exactly once across the folds
    assert len(comparison.results[0].outcome.per_unit["accuracy"]) == len(test)


def test_clustering_matches_scikit_learn(tmp_path):
    folder, train, test, vectors = classification_files(tmp_path)
    comparison = run_one(get_task("clustering"), TaskSource(folder / "train.csv"), f"precomputed:{vectors}", tmp_path)
    v = lookup(vectors)
    x = np.stack([v[t] for t, _ in train])
    labels = [c for _, c in train]
    clusters = MiniBatchKMeans(n_clusters=4, batch_size=500, n_init="auto", random_state=42).fit(x).labels_
    scores = comparison.results[0].scores
    assert scores["v_measure"] == pytest.approx(v_measure_score(labels, clusters), abs=1e-12)
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(labels, clusters), abs=1e-12)
    assert scores["ari"] == pytest.approx(adjusted_rand_score(labels, clusters), abs=1e-12)


def test_reranking_map_and_mrr_match_scikit_learn_in_both_layouts(tmp_path):
    rng = np.random.default_rng(7)
    long_rows, mteb_rows = [], []
    for q in range(12):
        labels = rng.integers(0, 2, 8)
        labels[0], labels[1] = 1, 0
        cands = [f"candidate {q}-{j}" for j in range(8)]
        long_rows += [(f"query {q}", c, int(y)) for c, y in zip(cands, labels)]
        mteb_rows.append({"query": f"query {q}", "positive": [c for c, y in zip(cands, labels) if y],
                          "negative": [c for c, y in zip(cands, labels) if not y]})
    long_rows += [("query without negatives", "some candidate", 1)]
    long_path = write_csv(tmp_path / "rerank.csv", long_rows, header=["query", "candidate", "label"])
    mteb_path = tmp_path / "rerank.jsonl"
    mteb_path.write_text("".join(json.dumps(r) + "\n" for r in mteb_rows))
    texts = [r[0] for r in long_rows] + [r[1] for r in long_rows]
    vectors = vector_file(tmp_path / "v.parquet", texts)
    v = lookup(vectors)
    aps, rrs = [], []
    for q in range(12):
        rows = [r for r in long_rows if r[0] == f"query {q}"]
        qv = v[f"query {q}"]
        sims = np.array([v[r[1]] @ qv / np.linalg.norm(v[r[1]]) / np.linalg.norm(qv) for r in rows])
        labels = np.array([r[2] for r in rows])
        aps.append(average_precision_score(labels, sims))
        ranked = labels[np.argsort(-sims)][:10]
        rrs.append(1 / (np.flatnonzero(ranked)[0] + 1) if ranked.any() else 0)
    for path in (long_path, mteb_path):
        comparison = run_one(get_task("reranking"), TaskSource(path), f"precomputed:{vectors}", tmp_path)
        scores = comparison.results[0].scores
        assert scores["map"] == pytest.approx(np.mean(aps), abs=1e-6)
        assert scores["mrr@10"] == pytest.approx(np.mean(rrs), abs=1e-6)
    assert comparison.data.counts["queries"] == 12
    long = get_task("reranking").load(TaskSource(long_path))
    assert long.counts["queries_left_out"] == 1 and any("left out" in n for n in long.notes)


# ---------- bad input: file:line, never silent ----------

def test_missing_label_names_file_and_line(tmp_path):
    path = write_csv(tmp_path / "test.csv", [("fine text", "a"), ("no label here", "")], header=["text", "label"])
    with pytest.raises(DataError, match=r"test\.csv:3: missing label"):
        get_task("clustering").load(TaskSource(path))


def test_non_numeric_score_names_file_and_line(tmp_path):
    path = write_csv(tmp_path / "sts.csv", [("a", "b", "4.0"), ("c", "d", "high")], header=["text1", "text2", "score"])
    with pytest.raises(DataError, match=r"sts\.csv:3: score 'high' is not a number"):
        get_task("sts").load(TaskSource(path))


def test_pair_with_an_empty_side_names_file_and_line(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", [("a", "b", "1"), ("c", "  ", "0")], header=["text1", "text2", "label"])
    with pytest.raises(DataError, match=r"pairs\.csv:3: empty text2"):
        get_task("pairs").load(TaskSource(path))


def test_line_numbers_count_newlines_inside_quoted_fields(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text('text,label\r\n"\nWhere is my card?",lost\r\n"two\nlines",lost\r\nempty label,\r\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.csv:6: missing label"):
        get_task("clustering").load(TaskSource(path))


def test_non_binary_pair_label_and_unknown_column_role(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", [("a", "b", "2")], header=["text1", "text2", "label"])
    with pytest.raises(DataError, match=r"pairs\.csv:2: label '2' is not 0/1"):
        get_task("pairs").load(TaskSource(path))
    with pytest.raises(DataError, match="unknown column roles"):
        get_task("pairs").load(TaskSource(path, columns={"txet": "x"}))
    with pytest.raises(DataError, match="no text1 column"):
        write_csv(tmp_path / "other.csv", [("a", "b", "1")], header=["x", "y", "z"])
        get_task("pairs").load(TaskSource(tmp_path / "other.csv", header=True))


def test_errors_are_embedscope_errors(tmp_path):
    assert issubclass(DataError, EmbedscopeError)
    with pytest.raises(EmbedscopeError):
        get_task("sts").load(TaskSource(tmp_path / "absent.csv"))
    with pytest.raises(ValueError, match="unknown task"):
        get_task("translation")


def test_precomputed_vectors_missing_a_text_is_an_error(sts_data, tmp_path):
    path, rows, _ = sts_data
    partial = vector_file(tmp_path / "partial.parquet", [r[0] for r in rows])
    with pytest.raises(DataError, match="have no vector"):
        run_one(get_task("sts"), TaskSource(path), f"precomputed:{partial}", tmp_path)


# ---------- statistics ----------

def test_stratified_draws_keep_each_class_size():
    strata = np.array([0] * 5 + [1] * 3 + [2] * 7)
    idx = draws(len(strata), strata, 50, seed=1)
    for row in idx:
        assert np.bincount(strata[row], minlength=3).tolist() == [5, 3, 7]


def test_bootstrap_p_is_two_sided():
    assert bootstrap_p(np.array([1.0] * 100)) == 0.0
    assert bootstrap_p(np.array([-1.0] * 50 + [1.0] * 50)) == 1.0
    assert bootstrap_p(np.array([-1.0] * 10 + [1.0] * 90)) == pytest.approx(0.2)


def test_significance_with_holm_over_pairs(tmp_path, sts_data):
    path, rows, vectors = sts_data
    noise = vector_file(tmp_path / "noise.parquet", [r[0] for r in rows] + [r[1] for r in rows], seed=9)
    task = get_task("sts")
    comparison = evaluate_task(task, task.load(TaskSource(path)),
                               [f"precomputed:{vectors}?name=signal", f"precomputed:{noise}?name=noise",
                                f"precomputed:{noise}?name=noise-again"],
                               cache_dir=tmp_path / "c", resamples=300, log=lambda m: None)
    sig = comparison.analysis["significance"]
    main = [p for p in sig["pairs"] if p["metric"] == "cosine_spearman"]
    assert len(main) == 3
    ps = sorted(p["p"] for p in main)
    holm = sorted(p["p_holm"] for p in main)
    assert holm[0] == pytest.approx(min(1, ps[0] * 3))
    same = next(p for p in main if {p["a"], p["b"]} == {"noise", "noise-again"})
    assert same["difference"] == 0 and not same["significant"]
    ci = comparison.analysis["confidence_intervals"]["models"]["signal"]["cosine_spearman"]
    assert ci["low"] <= ci["mean"] <= ci["high"]


# ---------- end to end from the CLI ----------

def cli(*args):
    from click.testing import CliRunner

    from embedscope.cli import cli as group

    return CliRunner().invoke(group, list(args), catch_exceptions=False)


def run_dir_of(result) -> Path:
    return Path(result.output.strip().splitlines()[-1].removeprefix("results in "))


def table_texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return [cell for row in csv.reader(f) for cell in row]


@pytest.mark.parametrize("task", ["classification", "sts", "pairs", "clustering", "reranking"])
def test_each_task_end_to_end_from_the_cli(task, tmp_path, sts_data):
    """Precomputed vectors (matched by text) and BM25, which cannot do these tasks and is reported as such."""
    folder, _, test, _ = classification_files(tmp_path)
    data = {
        "classification": folder,
        "clustering": folder / "test.csv",
        "sts": sts_data[0],
        "pairs": write_csv(tmp_path / "pairs.csv", [(f"how do I {i}", f"how can I {i}", i % 2) for i in range(20)],
                           header=["text1", "text2", "label"]),
        "reranking": write_csv(tmp_path / "rr.csv", [(f"q{i % 4}", f"doc {i}", int(i < 4)) for i in range(16)],
                               header=["query", "candidate", "label"]),
    }[task]
    tables = sorted(Path(data).glob("*.csv")) if Path(data).is_dir() else [Path(data)]
    vectors = vector_file(tmp_path / "all.parquet", [t for table in tables for t in table_texts(table)])
    result = cli("run", "--task", task, "--data", str(data), "-m", f"precomputed:{vectors}?name=vectors", "-m", "bm25",
                 "-q", "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir_of(result) / "results.json").read_text())
    assert results["task"] == task and results["schema_version"] >= 2
    scored = {m["name"]: m for m in results["models"]}
    main = results["metrics"][0]
    assert -1 <= scored["vectors"]["metrics"][main] <= 1
    assert scored["bm25"]["metrics"] is None and "cannot do" in scored["bm25"]["reason"]
    assert "cannot do" in result.output
    ci = results["confidence_intervals"]["models"]["vectors"][main]
    assert ci["low"] <= ci["high"]
    assert (run_dir_of(result) / "per_unit.csv").read_text().count("\n") > 1
    # the HTML report of the task: its metrics with their intervals, the model that cannot, the verdicts
    report = cli("report", str(run_dir_of(result)))
    assert report.exit_code == 0, report.output
    view = report_view(run_dir_of(result) / "report.html")
    assert view["task"]["type"] == task and view["metrics"] == results["metrics"] and not view["queries"]
    board = view["leaderboard"]
    assert [c["key"] for c in board["columns"] if c["kind"] == "metric"] == results["metrics"]
    rows = {r["model"]: r for r in board["rows"]}
    assert rows["vectors"][main] == pytest.approx(scored["vectors"]["metrics"][main])
    assert rows["vectors"]["ci:" + main] == pytest.approx([ci["low"], ci["high"]])
    assert rows["bm25"][main] is None and rows["bm25"]["status"] == "cannot do this task"
    assert "cannot do" in rows["bm25"]["reason"]
    with pytest.raises(ValueError, match="re-scores retrieval runs"):  # judgments are for retrieval runs: said so
        cli("report", str(run_dir_of(result)), "--with-judgments")


def report_view(path: Path) -> dict:
    import re

    from embedscope.report.html import decode_view

    return decode_view(*re.search(r'data-encoding="([^"]+)">([^<]*)</script>', path.read_text(encoding="utf-8")).groups())


def test_task_report_shows_the_verdicts_over_the_tasks_unit(tmp_path, sts_data):
    path, rows, vectors = sts_data
    noise = vector_file(tmp_path / "noise.parquet", [r[0] for r in rows] + [r[1] for r in rows], seed=9)
    result = cli("run", "--task", "sts", "--data", str(path), "-m", f"precomputed:{vectors}?name=signal",
                 "-m", f"precomputed:{noise}?name=noise", "-q", "-o", str(tmp_path / "runs"),
                 "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    run_dir = run_dir_of(result)
    assert cli("report", str(run_dir)).exit_code == 0
    view = report_view(run_dir / "report.html")
    results = json.loads((run_dir / "results.json").read_text())
    (pair,) = [p for p in results["significance"]["pairs"] if p["metric"] == "cosine_spearman"]
    (row,) = view["significance"]["rows"]
    assert (row["a"], row["b"], row["verdict"]) == (pair["a"], pair["b"], pair["verdict"]) == (
        "signal", "noise", "signal better")
    assert row["test"] == pair["test"] and row["p_randomization_holm"] == pytest.approx(pair["p_randomization_holm"])
    keys = [c["key"] for c in view["significance"]["columns"]]
    assert "test" in keys and "p_ttest_holm" not in keys  # no column this task leaves empty
    assert "60 pairs" in view["significance"]["note"]
    from embedscope.webui import Explorer

    with pytest.raises(ValueError, match="embedscope report"):  # serve browses retrieval runs, and says so
        Explorer(run_dir)


def test_a_local_model_end_to_end_from_the_cli_and_its_run_directory_feeds_bench(tmp_path, sts_data):
    result = cli("run", "--task", "sts", "--data", str(sts_data[0]), "-m", "tokenlearn", "-q",
                 "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    run_dir = run_dir_of(result)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["models"][0]["info"]["embedding"]["encoded"] == 120  # 60 pairs, every text once
    from embedscope.rundir import read_dataset

    texts = read_dataset(run_dir)  # what `embedscope bench --run-dir` measures speed and cost on
    assert len(texts.corpus) == 120 and len(texts.queries) == 60


def test_show_on_a_task_run_prints_its_summary(tmp_path, sts_data):
    """`show` on an STS run: the leaderboard and verdicts (no retrieval metric asked of it); --query, which
    puts retrieval hits side by side, says why it does not apply."""
    result = cli("run", "--task", "sts", "--data", str(sts_data[0]), "-m", f"precomputed:{sts_data[2]}?name=signal",
                 "-m", "tokenlearn", "-q", "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    run_dir = run_dir_of(result)
    shown = cli("show", str(run_dir))
    assert shown.exit_code == 0, shown.output
    assert "cosine_spearman" in shown.output and "signal" in shown.output and "per_unit.csv" in shown.output
    refused = cli("show", str(run_dir), "--query", "3")
    assert refused.exit_code == 2 and "this is a sts run" in refused.output


def test_cli_bad_task_data_is_one_line_with_file_and_line(tmp_path):
    from embedscope.cli import main

    path = write_csv(tmp_path / "sts.csv", [("a", "b", "4.0"), ("c", "d", "high")], header=["text1", "text2", "score"])
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "embedscope", "run", "--task", "sts", "--data", str(path), "-m",
                          "tokenlearn", "-o", str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{path}:3: score 'high' is not a number" in out.stderr
    assert "Traceback" not in out.stderr
    assert main  # the console entry point exists


def test_cli_task_needs_data(tmp_path):
    from embedscope.config import ConfigError

    with pytest.raises(ConfigError, match="name the sts data with --data"):
        cli("run", "--task", "sts", "-m", "tokenlearn", "-o", str(tmp_path))


def test_embedding_goes_through_the_cache(tmp_path, static_model):
    from embedscope.cache import EmbeddingCache

    embed = Embedding(static_model, EmbeddingCache(tmp_path / "c"))
    first = embed(["alpha", "beta"], "query")
    again = embed(["beta", "alpha"], "query")
    assert embed.stats["encoded"] == 2 and embed.stats["cached"] == 2
    assert np.allclose(first[::-1], again)


def test_text_vectors_are_matched_by_text(tmp_path):
    path = vector_file(tmp_path / "v.parquet", ["x", "y"])
    model = TextVectors(path)
    v = lookup(path)
    assert np.allclose(model.vectors(["y", "x"], "query"), np.stack([v["y"], v["x"]]))


# ---------- the real sets, by name (CI registers ../shared/datasets/*) ----------

def registered(name: str) -> Path:
    from embedscope.data import DataError, resolve

    try:
        return resolve(name, download=False)
    except DataError as e:
        pytest.skip(f"real dataset {name} not registered ({e.reason.split(';')[0]}): "
                    f"`embedscope datasets add {name} PATH` registers a copy")


@pytest.mark.realdata
def test_banking77_by_name_with_exact_line_numbers(tmp_path, minilm):
    registered("banking77")
    task = get_task("classification?samples_per_label=2&experiments=2")
    full = task.load(TaskSource("banking77"))
    assert full.counts == {"rows": 3080, "labels": 77, "train_rows": 10003}
    assert not full.notes  # every test label occurs in train
    lines = [int(u) for u in full.units]
    assert lines == sorted(set(lines)) and lines[0] == 2
    assert lines[-1] <= 3085  # 3,085 physical lines: quoted newlines inside texts are counted, not rows
    sample = task.load(TaskSource("banking77", max_rows=300))
    comparison = evaluate_task(task, sample, ["minilm"], cache_dir=tmp_path / "c", resamples=100,
                               log=lambda m: None)
    scores = comparison.results[0].scores
    assert 0.3 < scores["accuracy"] <= 1  # 77 intents: chance is 0.013
    assert comparison.results[0].outcome.details["train_texts_embedded"] <= 2 * 2 * 77


@pytest.mark.realdata
def test_stsb_en_and_zh_by_name_without_header(tmp_path):
    registered("stsb_multi_mt")
    task = get_task("sts")
    for subset in ("en", "zh"):
        data = task.load(TaskSource(f"stsb_multi_mt/{subset}", max_rows=120))
        assert data.counts == {"pairs": 120}
        assert any("no header row" in n for n in data.notes)
        full = task.load(TaskSource(f"stsb_multi_mt/{subset}", split="dev"))
        assert full.counts == {"pairs": 1500}
    result = cli("run", "--task", "sts", "--data", "stsb_multi_mt/en", "--max-rows", "120", "-m", "minilm", "-q",
                 "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir_of(result) / "results.json").read_text())
    assert results["settings"]["source"]["data"] == "stsb_multi_mt/en"  # a name stays a name
    assert results["models"][0]["metrics"]["cosine_spearman"] > 0.5


def test_task_results_read_back_through_the_results_schema(tmp_path, sts_data):
    from embedscope.rundir import read_results

    path, rows, vectors = sts_data
    result = cli("run", "--task", "sts", "--data", str(path), "-m", f"precomputed:{vectors}?name=v", "-m", "bm25",
                 "-q", "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"))
    results = read_results(run_dir_of(result))
    assert results.task == "sts" and results.main_metric == "cosine_spearman"
    assert results.ranked()[0].name == "v" and results.score("v") is not None
    assert [m.name for m in results.failed_models] == ["bm25"]
    assert results.confidence_intervals.unit.startswith("pairs")
    assert results.settings.get("task")["unit"].startswith("pairs")
