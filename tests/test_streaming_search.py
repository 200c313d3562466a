"""Streaming search over cache shards: exact equals ExactIndex, IVF reaches high recall, memory stays bounded."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pyarrow as pa
import pytest

from embedscope.cache import EmbeddingCache, text_key
from embedscope.index import ExactIndex
from embedscope.index.streaming import DocumentKeys, StreamingExactSearch, StreamingIVFIndex, cache_shards

FP = "synthetic-model"


def write_shards(cache: EmbeddingCache, keys: list[str], vectors: np.ndarray, shard_size: int, seed: int = 0):
    """Rows in a shuffled order, as several engines writing at once would leave them."""
    order = np.random.default_rng(seed).permutation(len(keys))
    for start in range(0, len(order), shard_size):
        rows = order[start : start + shard_size]
        cache.write_shard(FP, "document", [keys[r] for r in rows], vectors[rows])


def corpus(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts = [f"doc {i}" for i in range(n)]
    return texts, [text_key(t) for t in texts], rng.standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_streaming_exact_matches_exact_index(tmp_path, metric):
    texts, keys, vectors = corpus(6000, 32)
    cache = EmbeddingCache(tmp_path)
    write_shards(cache, keys, vectors, shard_size=700)
    queries = np.random.default_rng(1).standard_normal((40, 32)).astype(np.float32)
    exact = ExactIndex(metric)
    exact.add(vectors)
    want_s, want_i = exact.search(queries, 25)
    # small query blocks and doc blocks exercise the blocking inside each shard too
    got_s, got_i = StreamingExactSearch(cache_shards(cache, FP), DocumentKeys(keys), metric,
                                        query_block=16, doc_block=300).search(queries, 25)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)  # the same bits, not just close: rankings cannot differ


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_scores_and_ties_do_not_depend_on_blocking(tmp_path, metric):
    """Float32 BLAS changes a score's last bits with the shape of the product around it; near-tied documents
    then swap between an in-memory and a streamed search. Scores accumulate in float64, so every blocking gives
    the same bits; exact ties (repeated vectors, straddling the cut at k) go to the earlier document."""
    texts, keys, vectors = corpus(3000, 48, seed=3)
    vectors[1000:1040] = vectors[7]  # 41 equal documents: whichever search, the cut at k falls inside them
    queries = np.random.default_rng(4).standard_normal((37, 48)).astype(np.float32)
    queries[:5] = vectors[7] + 0.01 * queries[:5]
    exact = ExactIndex(metric)
    exact.add(vectors)
    want_s, want_i = exact.search(queries, 20)
    assert (want_s[:5, 0] == want_s[:5, 19]).all()  # the tie group fills and overflows the top 20
    assert want_i[:5].tolist() == [[7] + list(range(1000, 1019))] * 5  # equal scores: earlier document first
    cache = EmbeddingCache(tmp_path)
    write_shards(cache, keys, vectors, shard_size=183, seed=5)
    for query_block, doc_block in ((1, 50), (16, 32768)):
        got_s, got_i = StreamingExactSearch(cache_shards(cache, FP), DocumentKeys(keys), metric,
                                            query_block=query_block, doc_block=doc_block).search(queries, 20)
        np.testing.assert_array_equal(got_s, want_s)
        np.testing.assert_array_equal(got_i, want_i)
    one_at_a_time = np.vstack([exact.search(q[None, :], 20)[0] for q in queries])
    np.testing.assert_array_equal(one_at_a_time, want_s)


def test_rows_map_to_documents_by_key(tmp_path):
    """Duplicate texts score for every document that has them; cached texts of other corpora are left out;
    k beyond the corpus pads with -1."""
    texts, keys, vectors = corpus(50, 8)
    cache = EmbeddingCache(tmp_path)
    write_shards(cache, keys, vectors, shard_size=7)
    foreign = np.full((3, 8), 100, dtype=np.float32)  # would win every query if it leaked in
    cache.write_shard(FP, "document", [text_key(f"other corpus {i}") for i in range(3)], foreign)
    doc_texts = texts + [texts[4]]  # the last document repeats document 4's text
    query = vectors[4:5] * 2
    s, i = StreamingExactSearch(cache_shards(cache, FP), DocumentKeys.from_texts(doc_texts)).search(query, 60)
    assert set(i[0, :2]) == {4, 50}
    assert s[0, 0] == pytest.approx(1.0, abs=1e-5) and s[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert (i[0, :51] >= 0).all() and (i[0, 51:] == -1).all() and np.isneginf(s[0, 51:]).all()
    assert sorted(i[0, :51].tolist()) == list(range(51))


def test_missing_vectors_are_an_error(tmp_path):
    texts, keys, vectors = corpus(30, 8)
    cache = EmbeddingCache(tmp_path)
    cache.write_shard(FP, "document", keys[:20], vectors[:20])
    with pytest.raises(ValueError, match="10 of 30 documents have no cached vector"):
        StreamingExactSearch(cache_shards(cache, FP), DocumentKeys(keys)).search(vectors[:2], 5)
    with pytest.raises(ValueError, match="no cached document vectors"):
        cache_shards(cache, "another-model")


def test_streaming_memory_stays_bounded(tmp_path):
    """200k x 64 float32 (51 MB) in 40 shards: the search holds one shard's working set and the running top-k.

    The bound is the working set of one shard, from its size: the vectors as read and the rows of this corpus
    (float32, twice), their float64 copy for scoring (twice the float32 size), and the queries x shard scores
    (float64 while accumulated, float32, and argpartition's float32 keys and int64 positions), plus one flag a
    document; half as much again for what numpy allocates around it. Holding every vector would exceed it
    several times over, which the test checks too, so it cannot pass by a generous limit."""
    n, dim, shard, n_queries, k = 200_000, 64, 5_000, 32, 10
    rng = np.random.default_rng(0)
    keys = [f"{i:032x}" for i in range(n)]
    cache = EmbeddingCache(tmp_path)
    for start in range(0, n, shard):
        cache.write_shard(FP, "document", keys[start : start + shard],
                          rng.standard_normal((shard, dim)).astype(np.float32))
    queries = rng.standard_normal((n_queries, dim)).astype(np.float32)
    documents = DocumentKeys(keys)
    arrow_bytes = []  # Arrow buffers (the shard as read) live outside tracemalloc's view: watch them directly

    def shards():
        for read in cache.iter_shards(FP, "document"):
            arrow_bytes.append(pa.total_allocated_bytes())
            yield read

    search = StreamingExactSearch(shards, documents, "dot")
    tracemalloc.start()
    try:
        scores, positions = search.search(queries, k)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = n * dim * 4
    shard_bytes = shard * dim * 4
    working_set = 2 * shard_bytes + 2 * shard_bytes + n_queries * shard * (8 + 4 + 4 + 8) + n
    bound = 1.5 * working_set
    print(f"streaming peak {peak / 1e6:.1f} MB, bound {bound / 1e6:.1f} MB, all vectors {total / 1e6:.1f} MB")
    assert total > 3 * bound, "the bound must be far below holding every vector, or the test proves nothing"
    assert peak < bound, f"peak {peak / 1e6:.1f} MB over the one-shard bound {bound / 1e6:.1f} MB"
    assert len(arrow_bytes) == n // shard and max(arrow_bytes) < 2 * shard_bytes, \
        f"Arrow held {max(arrow_bytes):,} bytes for shards of {shard_bytes:,}"
    assert (positions >= 0).all() and len(set(positions[0])) == k
    # and it is still the right answer: compare with an exact search over everything
    exact = ExactIndex("dot")
    for keys_, vectors in cache.iter_shards(FP, "document"):
        exact.add(vectors)
    want_s, want_i = exact.search(queries, k)
    np.testing.assert_array_equal(positions, want_i)
    np.testing.assert_array_equal(scores, want_s)


def search_cache(dataset, cache: EmbeddingCache, fingerprint: str, k: int = 100, similarity: str = "cosine",
                 ann: str | None = None, nprobe: int = 16):
    """A Run for `dataset` from the cached vectors of one model, reading document shards one at a time.

    Query vectors must be cached too (`embedscope embed` caches both). `ann` is an IVF factory string
    ('IVF1024,PQ16'); without it the search is exact.
    """
    from embedscope.runs.run import Run

    cached = cache.load(fingerprint, "query")
    missing = [t for t in dataset.query_texts if text_key(t) not in cached]
    if missing:
        raise ValueError(f"{len(missing):,} queries have no cached vector for model {fingerprint}: embed them first")
    queries = np.stack([cached[text_key(t)] for t in dataset.query_texts])
    documents = DocumentKeys.from_texts(dataset.doc_texts)
    shards = cache_shards(cache, fingerprint)
    if ann:
        searcher = StreamingIVFIndex(ann, similarity, nprobe).build(shards, documents)
    else:
        searcher = StreamingExactSearch(shards, documents, similarity)
    scores, positions = searcher.search(queries, min(k, len(dataset.corpus)))
    meta = {"kind": "dense", "index": searcher.name, "similarity": similarity, "embedding": {"fingerprint": fingerprint}}
    return Run.from_topk(fingerprint, dataset.query_ids, dataset.doc_ids, scores, positions, meta=meta)


@pytest.fixture(scope="module")
def scifact_cached(scifact, static_model, tmp_path_factory):
    """SciFact's full corpus embedded by the static model into a cache (shards of 1,000)."""
    from embedscope.runs.dense import DenseRetriever

    cache = EmbeddingCache(tmp_path_factory.mktemp("stream"), shard_size=1000)
    dataset = scifact.subset(n_queries=150, seed=0)
    retriever = DenseRetriever(static_model, cache)
    return dataset, cache, retriever


def test_search_cache_equals_dense_retriever(scifact_cached):
    dataset, cache, retriever = scifact_cached
    want = retriever.retrieve(dataset, 100)
    got = search_cache(dataset, cache, retriever.embedder.fingerprint(), k=100)
    for qid in dataset.query_ids:
        assert got.ranked(qid) == want.ranked(qid)  # the same documents, order and scores


@pytest.mark.parametrize("factory, min_recall", [("IVF32,SQ8", 0.95), ("IVF32,PQ32", 0.8)])
def test_streaming_ivf_recall(scifact_cached, factory, min_recall):
    dataset, cache, retriever = scifact_cached
    retriever.retrieve(dataset, 10)  # fills the cache (no-op when another test already did)
    fp = retriever.embedder.fingerprint()
    query_vectors = cache.load(fp, "query")
    queries = np.stack([query_vectors[text_key(t)] for t in dataset.query_texts])
    documents = DocumentKeys.from_texts(dataset.doc_texts)
    shards = cache_shards(cache, fp)
    _, exact = StreamingExactSearch(shards, documents).search(queries, 10)
    index = StreamingIVFIndex(factory, nprobe=16, train_size=3000).build(shards, documents)
    _, approx = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= min_recall, f"{factory}: recall@10 {recall:.3f}"
    assert index.index.ntotal == len(dataset.corpus)
    assert index.nbytes < len(dataset.corpus) * queries.shape[1] * 4  # codes, not float vectors


def test_streaming_ivf_rejects_non_ivf():
    with pytest.raises(ValueError, match="IVF factory"):
        StreamingIVFIndex("HNSW32")


def test_dense_retriever_streams_from_the_cache_without_holding_document_vectors(scifact_cached):
    """index=streaming: the same run as exact search over vectors in memory, and no document matrix is ever made."""
    from embedscope.runs.dense import DenseRetriever

    dataset, cache, retriever = scifact_cached
    want = retriever.retrieve(dataset, 10)
    streaming = DenseRetriever(retriever.embedder, cache, index="streaming")
    docs, _, stats = streaming.embed(dataset)
    assert docs is None and stats["keys"].count == len(dataset.corpus)
    got = streaming.retrieve(dataset, 10)
    assert got.meta["index"] == "streaming-exact-cosine" and got.meta["dim"] == want.meta["dim"]
    for qid in dataset.query_ids:
        assert [d for d, _ in got.ranked(qid)] == [d for d, _ in want.ranked(qid)]


def test_streaming_run_encodes_what_is_missing_and_chunks(scifact, static_model, tmp_path):
    """A fresh cache: streaming encodes every text once (then nothing), and chunked MaxP streams like exact."""
    from embedscope.runs.dense import DenseRetriever

    dataset = scifact.subset(n_queries=40, n_docs=600, seed=1)
    cache = EmbeddingCache(tmp_path, shard_size=128)
    first = DenseRetriever(static_model, cache, index="streaming:IVF8,Flat?nprobe=8", chunk_tokens=64)
    run = first.retrieve(dataset, 10)
    assert run.meta["embedding"]["documents"]["encoded"] > len(dataset.corpus)  # chunks, all new
    assert "IVF8,Flat,nprobe=8" in run.meta["index"]
    again = DenseRetriever(static_model, cache, index="streaming", chunk_tokens=64).retrieve(dataset, 10)
    assert again.meta["embedding"]["documents"]["encoded"] == 0
    exact = DenseRetriever(static_model, cache, chunk_tokens=64).retrieve(dataset, 10)
    for qid in dataset.query_ids:
        assert [d for d, _ in again.ranked(qid)] == [d for d, _ in exact.ranked(qid)]
    # nprobe = all 8 lists: the IVF-Flat search is exhaustive too
    assert np.mean([len({d for d, _ in run.ranked(q)} & {d for d, _ in exact.ranked(q)}) / 10
                    for q in dataset.query_ids]) > 0.99


def test_streaming_spec_errors():
    from embedscope.index import build_index
    from embedscope.index.streaming import streaming_index

    with pytest.raises(ValueError, match="unknown parameter 'efSearch=8'"):
        streaming_index("streaming:IVF8,Flat?efSearch=8", "cosine", lambda: iter(()), DocumentKeys([]))
    with pytest.raises(ValueError, match="nprobe must be a whole number"):
        streaming_index("streaming:IVF8,Flat?nprobe=many", "cosine", lambda: iter(()), DocumentKeys([]))
    with pytest.raises(ValueError, match="straight from the embedding cache"):
        build_index("streaming", "cosine")
