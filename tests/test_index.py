"""Exact search: blocked top-k equals a plain full sort, for every metric."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.index import ExactIndex, build_index


def brute(docs, queries, metric, k):
    if metric == "cosine":
        docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    if metric == "l2":
        s = -((queries[:, None, :] - docs[None, :, :]) ** 2).sum(-1)
    else:
        s = queries @ docs.T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), order


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_blocked_equals_brute_force(metric):
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(1000, 16)).astype(np.float32)
    queries = rng.normal(size=(37, 16)).astype(np.float32)
    index = ExactIndex(metric, query_block=8, doc_block=97)  # odd block sizes cross every boundary
    index.add(docs[:500])
    index.add(docs[500:])
    scores, idx = index.search(queries, 10)
    ref_s, ref_i = brute(docs, queries, metric, 10)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-4, atol=1e-4)


def test_k_larger_than_corpus_pads_with_minus_one():
    index = build_index("exact", "dot")
    index.add(np.eye(3, dtype=np.float32))
    scores, idx = index.search(np.ones((2, 3), np.float32), 5)
    assert (idx[:, 3:] == -1).all() and (idx[:, :3] >= 0).all()


def test_unknown_index_spec():
    with pytest.raises(ValueError, match="unknown index spec"):
        build_index("nonsense:thing")
