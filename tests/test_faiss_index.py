"""faiss indexes behind VectorIndex: exact agreement with our ExactIndex, ANN recall, quantizers, binary search."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed")

from embedscope.index import ExactIndex, VectorIndex, build_index  # noqa: E402
from embedscope.index.faiss_index import BinaryIndex, FaissIndex, parse_spec  # noqa: E402
from embedscope.sweeps.ann import recall_vs_exact  # noqa: E402


@pytest.fixture(scope="module")
def vectors():
    """Clustered vectors (like text embeddings, unlike isotropic noise) so ANN structure has something to find."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(40, 48))
    docs = centers[rng.integers(0, 40, 3000)] + 0.6 * rng.normal(size=(3000, 48))
    queries = centers[rng.integers(0, 40, 120)] + 0.6 * rng.normal(size=(120, 48))
    return docs.astype(np.float32), queries.astype(np.float32)


@pytest.fixture(scope="module")
def static_vectors(small_set, static_model, session_cache):
    from embedscope.runs.dense import DenseRetriever

    docs, queries, _ = DenseRetriever(static_model, session_cache).embed(small_set)
    return docs, queries


def exact_top(docs, queries, k, metric):
    index = ExactIndex(metric)
    index.add(docs)
    return index.search(queries, k)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_faiss_flat_agrees_with_exact_index(vectors, metric):
    docs, queries = vectors
    want_s, want_i = exact_top(docs, queries, 20, metric)
    index = build_index("faiss:Flat", metric)
    assert isinstance(index, VectorIndex)
    index.add(docs)
    got_s, got_i = index.search(queries, 20)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-4, atol=1e-3)
    # Same documents at every rank, unless two scores tie to float precision.
    same = got_i == want_i
    assert same.mean() > 0.99
    assert np.all(np.isclose(got_s[~same], want_s[~same], rtol=1e-5, atol=1e-4))


def test_faiss_flat_matches_raw_index_flat_ip(static_vectors):
    """Cosine through our wrapper = faiss.IndexFlatIP over L2-normalized vectors, as faiss documents it."""
    docs, queries = static_vectors
    d, q = docs.copy(), queries.copy()
    faiss.normalize_L2(d)
    faiss.normalize_L2(q)
    raw = faiss.IndexFlatIP(d.shape[1])
    raw.add(d)
    want_s, want_i = raw.search(q, 10)
    index = build_index("faiss:Flat", "cosine")
    index.add(docs)
    got_s, got_i = index.search(queries, 10)
    np.testing.assert_allclose(got_s, want_s, atol=1e-5)
    assert (got_i == want_i).mean() > 0.99
    ours_s, _ = exact_top(docs, queries, 10, "cosine")
    np.testing.assert_allclose(got_s, ours_s, atol=1e-5)


def test_spec_parsing_and_errors():
    assert parse_spec("IVF256,PQ16?nprobe=16") == ("IVF256,PQ16", {"nprobe": "16"})
    assert parse_spec("HNSW32?efSearch=64&efConstruction=80") == ("HNSW32", {"efSearch": "64", "efConstruction": "80"})
    assert isinstance(build_index("faiss:SQ8"), FaissIndex)
    assert isinstance(build_index("faiss:BinaryFlat?rescore=4"), BinaryIndex)
    assert build_index("faiss:HNSW32?efSearch=64").spec == "faiss:HNSW32?efSearch=64"
    with pytest.raises(ValueError, match="unknown parameter 'efsearch'"):
        build_index("faiss:HNSW32?efsearch=64")
    with pytest.raises(ValueError, match="names no index"):
        build_index("faiss:?nprobe=4")
    with pytest.raises(ValueError, match="Bogus"):
        build_index("faiss:Bogus").add(np.ones((10, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="nprobe must be a whole number"):
        build_index("faiss:IVF4,Flat?nprobe=x").add(np.ones((300, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="cannot be trained on 50 vectors"):
        build_index("faiss:IVF256,Flat").add(np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="rescoring|rescore"):
        build_index("faiss:BinaryFlat?rescore_with=float")


def test_the_old_comma_spelling_is_read_with_one_warning(caplog):
    from embedscope import specs

    specs._warned.clear()
    with caplog.at_level("WARNING", logger="embedscope.specs"):
        assert parse_spec("IVF256,PQ16,nprobe=16") == ("IVF256,PQ16", {"nprobe": "16"})
        assert parse_spec("IVF256,PQ16,nprobe=16") == ("IVF256,PQ16", {"nprobe": "16"})
        assert build_index("faiss:HNSW32,efSearch=64").spec == "faiss:HNSW32?efSearch=64"
    assert caplog.text.count("faiss:IVF256,PQ16?nprobe=16") == 1 and "faiss:HNSW32?efSearch=64" in caplog.text


def test_hnsw_large_ef_search_reaches_exact_recall(vectors):
    docs, queries = vectors
    _, want = exact_top(docs, queries, 10, "cosine")
    low, high = build_index("faiss:HNSW16?efSearch=10", "cosine"), build_index("faiss:HNSW16?efSearch=512", "cosine")
    for index in (low, high):
        index.add(docs)
    recall_low = recall_vs_exact(low.search(queries, 10)[1], want, 10).mean()
    recall_high = recall_vs_exact(high.search(queries, 10)[1], want, 10).mean()
    assert recall_high >= 0.99
    assert recall_high >= recall_low


def test_ivf_probing_every_list_is_exact_and_fewer_lists_is_not(vectors):
    docs, queries = vectors
    _, want = exact_top(docs, queries, 10, "dot")
    index = build_index("faiss:IVF32,Flat?nprobe=1", "dot")
    index.add(docs)
    one = recall_vs_exact(index.search(queries, 10)[1], want, 10).mean()
    index.set_search_params(nprobe=32)  # no rebuild: the sweep walks nprobe this way
    all_lists = recall_vs_exact(index.search(queries, 10)[1], want, 10).mean()
    assert all_lists == pytest.approx(1.0, abs=0.005)
    assert one < all_lists


def test_ivf_pq_codes_are_m_bytes_and_memory_shrinks(vectors):
    docs, queries = vectors
    flat, pq = build_index("faiss:Flat", "cosine"), build_index("faiss:IVF16,PQ8?nprobe=16", "cosine")
    for index in (flat, pq):
        index.add(docs)
    assert flat.code_size == 4 * docs.shape[1]
    assert pq.code_size == 8
    assert pq.nbytes < flat.nbytes / 4
    _, want = exact_top(docs, queries, 10, "cosine")
    assert recall_vs_exact(pq.search(queries, 10)[1], want, 10).mean() > 0.3  # lossy, but far above chance


def test_small_training_sets_warn_once_instead_of_once_per_sub_quantizer(vectors, capfd, caplog):
    docs, _ = vectors  # 3,000 vectors: IVF128 asks for 4,992 and PQ's 256 centroids for 9,984
    build_index("faiss:IVF128,PQ12?nprobe=8", "cosine").add(docs)
    err = capfd.readouterr().err
    assert "WARNING clustering" not in err  # FAISS's own line, once per sub-quantizer: 12 here
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("faiss:IVF128,PQ12?nprobe=8 trained on 3,000 vectors" in w for w in warned) == 1
    assert "IVF needs 4,992 for 128 centroids" in warned[0] and "PQ needs 9,984 for 256 centroids" in warned[0]
    caplog.clear()
    build_index("faiss:IVF16,Flat", "cosine").add(docs)  # 39 x 16 = 624 vectors are enough: no warning
    assert capfd.readouterr().err == "" and not caplog.records


def test_scalar_quantizers_stay_close_to_float(static_vectors):
    docs, queries = static_vectors
    want_s, want_i = exact_top(docs, queries, 10, "cosine")
    for spec, bytes_per_dim, tolerance in (("faiss:SQfp16", 2, 2e-3), ("faiss:SQ8", 1, 3e-2)):
        index = build_index(spec, "cosine")
        index.add(docs)
        got_s, got_i = index.search(queries, 10)
        assert index.code_size == bytes_per_dim * docs.shape[1]
        assert np.abs(got_s[:, 0] - want_s[:, 0]).max() < tolerance
        assert recall_vs_exact(got_i, want_i, 10).mean() > 0.9


def test_binary_hamming_matches_numpy_reference(static_vectors):
    docs, queries = static_vectors
    index = build_index("faiss:BinaryFlat", "cosine")
    index.add(docs)
    scores, positions = index.search(queries, 10)
    bits_d, bits_q = docs > 0, queries > 0
    hamming = (bits_q[:, None, :] != bits_d[None, :, :]).sum(-1)
    np.testing.assert_array_equal(-scores, np.sort(hamming, axis=1)[:, :10])
    np.testing.assert_array_equal(-scores, np.take_along_axis(hamming, positions, axis=1))
    assert index.code_size == docs.shape[1] // 8


def test_binary_rescoring_scores_float_query_against_bits_or_originals(static_vectors):
    docs, queries = static_vectors
    sign = np.where(docs > 0, 1.0, -1.0).astype(np.float32)
    binary = build_index("faiss:BinaryFlat?rescore=4", "dot")
    floats = build_index("faiss:BinaryFlat?rescore=4&rescore_with=float", "dot")
    for index in (binary, floats):
        index.add(docs)
    s_bin, i_bin = binary.search(queries, 10)
    s_flt, i_flt = floats.search(queries, 10)
    np.testing.assert_allclose(s_bin, np.einsum("qd,qkd->qk", queries, sign[i_bin]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s_flt, np.einsum("qd,qkd->qk", queries, docs[i_flt]), rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(s_bin, axis=1) <= 1e-6) and np.all(np.diff(s_flt, axis=1) <= 1e-6)
    # Candidates are the top 40 by Hamming: rescoring reorders them, it cannot reach further.
    plain = build_index("faiss:BinaryFlat", "dot")
    plain.add(docs)
    _, top40 = plain.search(queries, 40)
    assert all(set(row) <= set(cands) for row, cands in zip(i_flt, top40))
    assert floats.extra_bytes_per_vector == 4 * docs.shape[1] and binary.extra_bytes_per_vector == 0


def test_fewer_docs_than_k_pads_with_minus_one():
    docs = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32)
    for spec in ("faiss:Flat", "faiss:HNSW8", "faiss:BinaryFlat?rescore=2"):
        index = build_index(spec, "cosine")
        index.add(docs)
        scores, positions = index.search(docs[:2], 8)
        assert (positions[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
        assert sorted(positions[0, :5].tolist()) == list(range(5))


def test_dense_retriever_runs_through_a_faiss_index(small_set, static_model, session_cache):
    """`embedscope run --index faiss:...` takes this path: build_index inside DenseRetriever."""
    from embedscope.metrics import evaluate
    from embedscope.runs.dense import DenseRetriever

    exact = DenseRetriever(static_model, session_cache, index="exact").retrieve(small_set, 10)
    hnsw = DenseRetriever(static_model, session_cache, index="faiss:HNSW32?efSearch=128").retrieve(small_set, 10)
    assert hnsw.meta["index"].startswith("faiss:HNSW32?efSearch=128")
    a = evaluate(small_set.qrels, exact, ["ndcg@10"]).mean["ndcg@10"]
    b = evaluate(small_set.qrels, hnsw, ["ndcg@10"]).mean["ndcg@10"]
    assert b == pytest.approx(a, abs=0.01)
