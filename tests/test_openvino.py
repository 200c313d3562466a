"""OpenVINO backend: fp32 gives PyTorch's vectors; static int8 (NNCF) keeps quality and is cached per calibration set."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="pip install openvino nncf")
pytest.importorskip("nncf", reason="pip install openvino nncf")

from conftest import cosines, dense_ndcg10  # noqa: E402

from embedscope.models import load_model  # noqa: E402
from embedscope.perf.bench import parameter_count  # noqa: E402

INT8_NDCG_TOLERANCE = 0.02  # absolute nDCG@10 on the subset; static int8 vectors are ~0.995 cosine to fp32
CALIBRATION = "calibration_size=64"  # fewer texts than the default 300 keep the test quick


@pytest.fixture(scope="module", autouse=True)
def model_dir(tmp_path_factory):
    """Exports and quantized models land in a throwaway folder, not the user's cache."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("openvino")
    mp.setenv("EMBEDSCOPE_ONNX_DIR", str(folder))
    yield folder
    mp.undo()


def float_attention_products(model_file) -> int:
    """MatMuls that take a softmax output as it is, in float (a quantized one passes through a FakeQuantize)."""
    import openvino as ov

    model = ov.Core().read_model(str(model_file))  # held: its ops' edges go when the model goes
    softmaxes = [op for op in model.get_ops() if op.get_type_name() == "Softmax"]
    assert softmaxes, "no attention found in the model"
    return sum(target.get_node().get_type_name() == "MatMul"
               for op in softmaxes for target in op.output(0).get_target_inputs())


@pytest.fixture(scope="module")
def int8_model():
    return load_model(f"openvino:minilm?quantize=int8&{CALIBRATION}&threads=1")


def test_fp32_matches_pytorch(pytorch_reference, runtime_subset, session_cache):
    vectors, torch_ndcg = pytorch_reference
    model = load_model("openvino:minilm?threads=1")
    assert model.dim == 384 and model.pooling == "mean" and model.normalize
    assert cosines(model.encode_documents(runtime_subset.doc_texts), vectors).min() > 0.999
    assert abs(dense_ndcg10(model, runtime_subset, session_cache) - torch_ndcg) < 0.005
    onnx = load_model("onnx:minilm?threads=1")
    assert model.parameter_count() == parameter_count(onnx)  # the same graph, counted from OpenVINO or ONNX


def test_static_int8_keeps_quality(int8_model, pytorch_reference, runtime_subset, session_cache):
    vectors, torch_ndcg = pytorch_reference
    assert int8_model.model_file.suffix == ".xml" and int8_model.model_file.name.startswith("model.int8-nncf-")
    assert int8_model.quantized == "int8" and int8_model.name == "all-MiniLM-L6-v2-openvino-int8"
    out = int8_model.encode_documents(runtime_subset.doc_texts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    sims = cosines(out, vectors)
    assert sims.mean() > 0.98 and sims.mean() < 0.99999  # close to fp32, and really quantized
    assert abs(dense_ndcg10(int8_model, runtime_subset, session_cache) - torch_ndcg) <= INT8_NDCG_TOLERANCE
    assert float_attention_products(int8_model.model_file) == 0  # softmax(QKᵀ)·V is int8 too


def test_mixed_attention_keeps_nncf_placement(int8_model, pytorch_reference, runtime_subset, session_cache):
    vectors, torch_ndcg = pytorch_reference
    mixed = load_model(f"openvino:minilm?quantize=int8&attention=mixed&{CALIBRATION}&threads=1")
    assert float_attention_products(mixed.model_file) == 6  # one per layer of MiniLM: the weighted sum stays float
    assert mixed.model_file != int8_model.model_file and mixed.fingerprint() != int8_model.fingerprint()
    assert mixed.name == "all-MiniLM-L6-v2-openvino-int8-mixed-attention"
    assert cosines(mixed.encode_documents(runtime_subset.doc_texts), vectors).mean() > 0.98
    assert abs(dense_ndcg10(mixed, runtime_subset, session_cache) - torch_ndcg) <= INT8_NDCG_TOLERANCE


def test_int8_model_is_made_once_per_calibration_set(int8_model, runtime_subset, tmp_path):
    made = int8_model.model_file.stat().st_mtime_ns
    again = load_model(f"openvino:minilm?quantize=int8&{CALIBRATION}&threads=1")
    assert again.model_file == int8_model.model_file and again.model_file.stat().st_mtime_ns == made
    assert again.fingerprint() == int8_model.fingerprint()

    own = tmp_path / "calibration.txt"
    own.write_text("\n".join(runtime_subset.doc_texts[:48]), encoding="utf-8")
    calibrated = load_model(f"openvino:minilm?quantize=int8&calibration={own}&threads=1")
    assert calibrated.model_file != int8_model.model_file  # another calibration set, another model ...
    assert calibrated.fingerprint() != int8_model.fingerprint()  # ... and other cache entries
    assert calibrated.fingerprint() != load_model("openvino:minilm?threads=1").fingerprint()

    shorter = load_model(f"openvino:minilm?quantize=int8&{CALIBRATION}&max_seq_length=128&threads=1")
    assert shorter.model_file != int8_model.model_file  # calibrated on what this model will see


def test_builtin_calibration_texts_are_long_prose():
    from embedscope.models.openvino import CALIBRATION_WORDS, builtin_calibration_texts, calibration_sample

    texts = builtin_calibration_texts()
    assert len(texts) >= 100
    assert all(len(t.split()) >= CALIBRATION_WORDS for t in texts)
    assert calibration_sample(None, 50) == calibration_sample(None, 50)  # same sample, same model


def test_calibration_sources(scifact_dir, nfcorpus_dir, tmp_path):
    from embedscope.models.openvino import read_calibration_texts

    assert len(read_calibration_texts(scifact_dir)) == 5183  # a BEIR folder: its corpus
    table = tmp_path / "corpus.jsonl"
    table.write_text('{"_id": "a", "title": "T", "text": "one"}\n{"_id": "b", "text": "two"}\n', encoding="utf-8")
    assert read_calibration_texts(table) == ["T one", "two"]


def test_openvino_spec_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_model("openvino:/nonexistent/model")
    with pytest.raises(ValueError, match="needs a model"):
        load_model("openvino:")
    with pytest.raises(ValueError, match="only int8"):
        load_model("openvino:minilm?quantize=int4")
    with pytest.raises(ValueError, match="only apply with quantize=int8"):
        load_model("openvino:minilm?calibration=texts.txt")
    with pytest.raises(ValueError, match="only apply with quantize=int8"):
        load_model("openvino:minilm?attention=mixed")
    with pytest.raises(ValueError, match="attention=fp16: use int8"):
        load_model("openvino:minilm?quantize=int8&attention=fp16")
    with pytest.raises(ValueError, match="no such file"):
        load_model(f"openvino:minilm?quantize=int8&calibration={tmp_path / 'missing.txt'}")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no texts"):
        load_model(f"openvino:minilm?quantize=int8&calibration={empty}")
