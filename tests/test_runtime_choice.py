"""Which runtime encodes a sentence-transformers model: the faithful choice by default (checked against PyTorch
on the data's own texts, with PyTorch as the fallback), --fast with its measured loss, and the record that lets a
cached run know the choice without loading anything."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("openvino", reason="pip install openvino nncf")
pytest.importorskip("onnxruntime", reason="pip install onnxruntime")

from embedscope.cache import EmbeddingCache  # noqa: E402
from embedscope.models import load_model  # noqa: E402
from embedscope.models import runtime as rt  # noqa: E402
from embedscope.runs.dense import DenseRetriever  # noqa: E402


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    """Exports, quantized models and runtime records land in a throwaway folder, shared by this module's tests
    (the MiniLM export is made once)."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("onnx")
    mp.setenv("EMBEDSCOPE_ONNX_DIR", str(folder))
    yield folder
    mp.undo()


@pytest.fixture()
def no_records(onnx_dir):
    """Every choice is made afresh: the records of earlier tests are gone (the export stays)."""
    import shutil

    shutil.rmtree(onnx_dir / "runtimes", ignore_errors=True)
    return onnx_dir


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_default_runtime_is_faithful_to_pytorch_and_recorded(synthetic, no_records, caplog):
    model = load_model("minilm")
    with caplog.at_level(logging.INFO, logger="embedscope"):
        model.prepare(synthetic)
    record = model.faithful
    assert record["mode"] == "auto" and record["sample"]["source"] == synthetic.name
    assert set(record["check"]) == {"torch", "openvino", "onnx"}
    chosen = record["runtime"]
    if chosen != "torch":  # a runtime is chosen only when it passed both tests against PyTorch
        check = record["check"][chosen]
        assert check["passed"] and check["min_cosine"] >= rt.FAITHFUL_COSINE and check["top10_same"] >= rt.FAITHFUL_TOP10
        assert "faithful to PyTorch" in caplog.text
    assert model.runtime in ("torch", "openvino fp32", "onnx fp32")
    assert list((no_records / "runtimes").glob("*.json")), "the choice is recorded"
    # whatever was chosen encodes PyTorch's vectors
    texts = synthetic.doc_texts[:40]
    ours = unit(model.encode_documents(texts))
    reference = unit(model.torch_encoder().encode_documents(texts))
    assert np.min(np.sum(ours * reference, axis=1)) >= rt.FAITHFUL_COSINE


def test_the_checked_sample_is_saved_not_encoded_again(synthetic, no_records, tmp_path, monkeypatch):
    """The check encoded a sample of the run's texts with the runtime it chose: the run saves those vectors in
    the cache instead of encoding the same texts twice, and they are that runtime's own."""
    model = load_model("minilm")
    model.prepare(synthetic)
    sampled = {role: dict(vectors) for role, vectors in model._checked.items()}
    assert len(sampled["document"]) == rt.CHECK_DOCUMENTS and sampled["query"], "the check's vectors are kept"
    encoder = model._faithful_encoder()
    fresh = {"document": encoder.encode_documents(synthetic.doc_texts),
             "query": encoder.encode_queries(synthetic.query_texts)}
    seen: list[str] = []
    real_docs, real_queries = model.encode_documents, model.encode_queries
    monkeypatch.setattr(model, "encode_documents", lambda texts: seen.extend(texts) or real_docs(texts))
    monkeypatch.setattr(model, "encode_queries", lambda texts: seen.extend(texts) or real_queries(texts))
    docs, queries, stats = DenseRetriever(model, EmbeddingCache(tmp_path / "cache")).embed(synthetic)
    assert not (set(sampled["document"]) | set(sampled["query"])) & set(seen)
    assert set(seen) == set(synthetic.doc_texts) - set(sampled["document"])  # every query was in the sample
    assert stats["documents"]["encoded"] == len(synthetic.doc_texts)
    assert stats["documents"]["from_check"] == len(sampled["document"])
    assert stats["queries"]["from_check"] == len(synthetic.query_texts)
    np.testing.assert_allclose(docs, fresh["document"], atol=1e-5)
    np.testing.assert_allclose(queries, fresh["query"], atol=1e-5)
    assert model.take_checked() == {}, "handed over once"


def test_the_speed_counts_only_what_the_run_encoded(synthetic, tmp_path):
    """The check's vectors took no time in the run: docs/s divides only the texts the encoder did; when the
    check made them all (a small corpus), a sample is timed and the source says where the vectors came from."""
    from types import SimpleNamespace

    from embedscope.compare import encoding_speed
    from embedscope.runs.context import RetrievalContext

    class Clock:
        def encode_documents(self, texts):
            return np.ones((len(texts), 4), np.float32)

    context = RetrievalContext.of(EmbeddingCache(tmp_path))
    documents = {"encoded": 100, "from_check": 64, "encode_seconds": 2.0}
    run = SimpleNamespace(meta={"embedding": {"documents": documents, "fingerprint": "fp"}})
    assert encoding_speed(Clock(), synthetic, run, context)["docs_per_second"] == pytest.approx(18.0)
    documents.update(encoded=64, encode_seconds=0.0)
    speed = encoding_speed(Clock(), synthetic, run, context)
    assert speed["speed_source"].endswith("its vectors came from the runtime check") and speed["docs_per_second"] > 0


class Perturbed:
    """A runtime whose vectors drift from PyTorch's: what a lossy runtime (bf16, a bad export) looks like."""

    def __init__(self, encoder, scale: float = 0.05):
        self.encoder, self.rng, self.scale = encoder, np.random.default_rng(0), scale

    def _drift(self, v):
        return unit(v + self.scale * self.rng.standard_normal(v.shape).astype(np.float32) * np.abs(v).mean())

    def encode_documents(self, texts):
        return self._drift(self.encoder.encode_documents(texts))

    def encode_queries(self, texts):
        return self._drift(self.encoder.encode_queries(texts))


def test_an_unfaithful_runtime_falls_back_to_pytorch_and_says_so(synthetic, no_records, caplog, monkeypatch):
    model = load_model("minilm")
    real = model.runtime_encoder
    monkeypatch.setattr(model, "runtime_encoder", lambda runtime, **options: Perturbed(real(runtime, **options)))
    with caplog.at_level(logging.INFO, logger="embedscope"):
        model.prepare(synthetic)
    record = model.faithful
    assert record["runtime"] == "torch" and model.runtime == "torch"
    assert record["reason"].startswith("no faithful runtime")
    for runtime in ("openvino", "onnx"):
        assert not record["check"][runtime]["passed"] and record["check"][runtime]["min_cosine"] < rt.FAITHFUL_COSINE
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not faithful to PyTorch" in w and "min cosine" in w for w in warnings), warnings
    assert any("encoding with PyTorch: no faithful runtime" in w for w in warnings), warnings
    assert model.fingerprint() == model.weights_fingerprint()  # PyTorch's vectors keep PyTorch's cache key


def test_faithfulness_needs_both_the_cosine_and_the_top10():
    rng = np.random.default_rng(0)
    docs, queries = unit(rng.standard_normal((50, 16))), unit(rng.standard_normal((10, 16)))
    assert rt.faithfulness((docs, queries), (docs, queries))["passed"]
    shuffled = docs[rng.permutation(50)]  # every vector is someone's, but not the same text's
    result = rt.faithfulness((docs, queries), (shuffled, queries))
    assert not result["passed"] and result["min_cosine"] < 0.9
    assert not rt.faithfulness((docs, queries), (docs[:, :8], queries[:, :8]))["passed"]  # another dimension


def test_the_fingerprint_includes_the_runtime(no_records):
    named = {runtime: load_model(f"minilm?runtime={runtime}") for runtime in ("torch", "openvino", "onnx")}
    prints = {runtime: model.fingerprint() for runtime, model in named.items()}
    assert len(set(prints.values())) == 3
    assert prints["torch"] == named["torch"].weights_fingerprint() == named["openvino"].weights_fingerprint()
    assert all(model._model is None for model in named.values()), "a named runtime needs no check and no loading"
    auto = load_model("minilm")
    assert auto.fingerprint() == prints[{"openvino fp32": "openvino", "onnx fp32": "onnx"}.get(auto.runtime, "torch")]
    with pytest.raises(ValueError, match="runtime=gpu"):
        load_model("minilm?runtime=gpu")


def test_openvino_runs_float_parts_in_f32_unless_asked(onnx_dir):
    model = load_model("minilm?runtime=openvino")
    encoder = model.runtime_encoder("openvino")
    assert str(encoder.compiled.get_property("INFERENCE_PRECISION_HINT")) in ("f32", "<Type: 'float32'>")


@pytest.fixture()
def small_budget_sample(monkeypatch):
    """--fast's calibration and loss sample shrunk so the test takes seconds, not minutes."""
    monkeypatch.setattr(rt, "CALIBRATION_DOCUMENTS", 16)
    monkeypatch.setattr(rt, "LOSS_QUERIES", 16)
    monkeypatch.setattr(rt, "LOSS_DOCUMENTS", 80)


def test_fast_measures_its_loss_with_an_interval_before_the_run(synthetic, no_records, small_budget_sample, caplog,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "FASTER", 0.0)  # measured whatever its speed on this CPU
    model = load_model("minilm")
    with caplog.at_level(logging.INFO, logger="embedscope"):
        run = DenseRetriever(model, EmbeddingCache(tmp_path / "cache"), fast=True).retrieve(synthetic, 10)
    record = model.fast
    assert record["mode"] == "fast" and "openvino-int8" in record["tried"]
    measured = record["tried"]["openvino-int8"]["measured"]
    assert measured["low"] <= measured["loss"] <= measured["high"]
    assert measured["queries"] == 16 and measured["documents"] <= 80
    assert "95% CI" in caplog.text and "--fast" in caplog.text
    faithful_print = load_model("minilm").fingerprint()
    if "measured" in record:  # int8 was within the budget: documents int8, queries fp32
        assert record["runtime"] == "openvino-int8" and model.runtime.startswith("openvino-int8 (queries ")
        assert run.meta["embedding"]["fingerprint"] != faithful_print
    else:
        assert record["reason"].startswith("no fast runtime within")
        assert run.meta["embedding"]["fingerprint"] == faithful_print


def test_fast_refuses_a_candidate_no_faster_than_fp32_before_measuring_its_loss(synthetic, no_records,
                                                                                 small_budget_sample, monkeypatch):
    """Timed first on a few documents: a candidate that is not faster than fp32 is refused there, and the loss
    sample is never encoded (only the timing texts are)."""
    monkeypatch.setattr(rt, "FASTER", float("inf"))  # nothing is faster than infinitely fast
    model = load_model("minilm")
    model.prepare(synthetic)  # the faithful choice first, so what follows counts only --fast's encodings
    timed, seen = rt.timed_encode, []
    monkeypatch.setattr(rt, "timed_encode", lambda encoder, docs, queries: seen.append(len(docs)) or
                        timed(encoder, docs, queries))
    model.prepare(synthetic, fast=True)
    tried = model.fast["tried"]["openvino-int8"]
    assert "measured" not in tried and tried["reason"].startswith("not faster than fp32 on")
    assert model.fast["runtime"] == model.faithful["runtime"]
    assert seen and max(seen) <= rt.SPEED_DOCUMENTS < rt.LOSS_DOCUMENTS  # timing only: no loss-sample encoding


def test_fast_over_budget_keeps_the_faithful_runtime_and_says_why(synthetic, no_records, small_budget_sample,
                                                                   caplog, monkeypatch):
    monkeypatch.setattr(rt, "LOSS_BUDGET", -1.0)  # no runtime can gain quality over fp32 by more than 100%
    monkeypatch.setattr(rt, "FASTER", 0.0)  # so the loss is measured, whatever the speed on this CPU
    model = load_model("minilm")
    with caplog.at_level(logging.INFO, logger="embedscope"):
        model.prepare(synthetic, fast=True)
    assert model.fast["runtime"] == model.faithful["runtime"]
    assert model.fast["reason"].startswith("no fast runtime within")
    assert model.fingerprint() == load_model("minilm").fingerprint()
    assert any("--fast: encoding with the faithful" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_a_cached_fast_rerun_loads_no_model(synthetic_dir, onnx_dir, tmp_path, monkeypatch):
    """The runtime choice comes from its record: a second run with every vector cached imports no model library."""
    from test_startup import MODEL_LIBRARIES, imported

    monkeypatch.setenv("EMBEDSCOPE_ONNX_DIR", str(onnx_dir))
    args = ["run", "--data", str(synthetic_dir), "-m", "minilm", "--fast", "--cache", str(tmp_path / "cache"),
            "-o", str(tmp_path / "runs"), "--max-queries", "12"]
    first = subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "--fast" in first.stderr
    modules, second = imported(args)
    assert second.returncode == 0, second.stderr
    assert not modules & (MODEL_LIBRARIES | {"openvino", "onnxruntime", "nncf"}), sorted(modules & MODEL_LIBRARIES)
    runs = sorted((tmp_path / "runs").iterdir())
    results = [json.loads((r / "results.json").read_text())["models"][0] for r in runs]
    assert results[0]["metrics"] == results[1]["metrics"]
    assert results[0]["info"]["runtime"] == results[1]["info"]["runtime"]
    assert results[1]["info"]["runtime_choice"]["fast"]["mode"] == "fast"
    assert "runtime" in second.stdout  # the leaderboard's column


def test_the_sample_ndcg_equals_the_evaluated_one():
    """--fast's loss is scored in the model layer with scikit-learn; it must equal our evaluate() on the same sample."""
    from embedscope.index import ExactIndex
    from embedscope.metrics import evaluate
    from embedscope.runs import Run

    rng = np.random.default_rng(0)
    docs, queries = rng.normal(size=(300, 16)).astype("float32"), rng.normal(size=(40, 16)).astype("float32")
    doc_ids, qids = [f"d{i}" for i in range(300)], [f"q{i}" for i in range(40)]
    qrels = {q: {f"d{j}": int(rng.integers(1, 3)) for j in rng.choice(300, 5, replace=False)} for q in qids[:-1]}
    index = ExactIndex("cosine")
    index.add(docs)
    scores, positions = index.search(queries, 10)
    expected = evaluate(qrels, Run.from_topk("s", qids, doc_ids, scores, positions), ["ndcg@10"]).per_query["ndcg@10"]
    ours = rt.per_query_ndcg(qrels, qids, doc_ids, docs, queries)
    assert ours[:-1] == pytest.approx([expected[q] for q in qids[:-1]], abs=1e-9)
    assert ours[-1] == 0.0 and any(v > 0 for v in ours)  # a query with no judged document scores 0
