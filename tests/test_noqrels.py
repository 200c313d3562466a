"""Evaluation without qrels: query generation + filter, depth pooling, the LLM judge, and scores on its labels.

An OpenAI-compatible chat server on 127.0.0.1 (stdlib http.server in a thread) answers deterministically; as a
judge it is an oracle that grades by the real SciFact qrels, so scores on its labels must reproduce the
qrels-based scores wherever pooling makes them comparable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from embedscope.data import Dataset, Document, load_beir
from embedscope.data.readers import read_qrels_tsv
from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.noqrels import (
    ChatClient,
    LLMJudge,
    LLMQueryGenerator,
    OfflineQueryGenerator,
    QueryFilter,
    depth_pool,
    generate_queries,
    judge_pool,
    judged_at_k,
    parse_grade,
    read_pool,
    write_generated,
    write_pool,
)
from embedscope.noqrels.judge import MAX_DOC_CHARS
from embedscope.noqrels.querygen import longest_copied_span
from embedscope.runs import Run
from embedscope.runs.dense import DenseRetriever

K = 10
METRICS = [f"ndcg@{K}", f"precision@{K}", f"mrr@{K}", f"hit@{K}"]


class FakeChat:
    """A chat-completions endpoint whose replies come from `self.responder(system, user) -> str`."""

    def __init__(self):
        self.responder = lambda system, user: ""
        self.requests = 0
        self.lock = threading.Lock()
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                with chat.lock:
                    chat.requests += 1
                messages = {m["role"]: m["content"] for m in body["messages"]}
                # a message without a system prompt is the client's pre-flight check: any answer will do
                reply = chat.responder(messages["system"], messages["user"]) if "system" in messages else "OK"
                payload = json.dumps({
                    "id": "fake", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def client(self, model: str = "fake") -> ChatClient:
        return ChatClient(self.url, model, api_key="test", retries=0, timeout=10)


@pytest.fixture
def fake_chat():
    chat = FakeChat()
    chat.thread.start()
    yield chat
    chat.server.shutdown()
    chat.server.server_close()
    chat.thread.join(timeout=5)


def oracle(dataset: Dataset, qrels: dict[str, dict[str, int]]):
    """A judge that grades by the real qrels, replying in the varied formats real models produce.

    The first request for every fifth pair gets an unusable reply, so the judge's retry path is exercised."""
    by_text = {}
    for qid, query in dataset.queries.items():
        for did, doc in dataset.corpus.items():
            by_text[(query, doc.full_text[:MAX_DOC_CHARS])] = qrels.get(qid, {}).get(did, 0)
    formats = ["Relevance: {g}", "{g}", '{{"relevance": {g}}}', "**Relevance:** {g}", "relevance = {g}."]
    seen: dict[tuple, int] = {}
    lock = threading.Lock()

    def respond(system: str, user: str) -> str:
        query, _, document = user.removeprefix("Query: ").partition("\n\nDocument: ")
        key = (query, document)
        grade = by_text[key]
        with lock:
            seen[key] = seen.get(key, 0) + 1
            n_pair, first = len(seen), seen[key] == 1
        if first and n_pair % 5 == 0:
            return "I would say this is somewhat relevant."
        return formats[n_pair % len(formats)].format(g=grade)

    return respond


@pytest.mark.parametrize("reply, grade", [
    ("2", 2), ("Relevance: 1", 1), ("relevance:0", 0), ("**Relevance:** 2", 2), ('{"relevance": 1}', 1),
    ('{"score": "2"}', 2), ("Grade = 0.", 0), ("  1\n", 1), ("Relevance: 2\nThe document answers it.", 2),
    ("", None), ("relevant", None), ("3", None), ("Relevance: 5", None), ("Relevance: 1 or Relevance: 2", None),
    ('{"relevance": 7}', None), ("I think 2 of the 3 claims match", None),
])
def test_parse_grade_accepts_only_one_clear_grade(reply, grade):
    assert parse_grade(reply) == grade


def test_depth_pool_is_the_union_of_top_k_and_round_trips(tmp_path):
    a = Run("a", {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d4": 1.0}})
    b = Run("b", {"q1": {"d3": 5.0, "d5": 4.0, "d1": 0.5}})
    pool = depth_pool([a, b], depth=2)
    assert {q: set(d) for q, d in pool.items()} == {"q1": {"d1", "d2", "d3", "d5"}, "q2": {"d4"}}
    assert pool["q1"][:2] in (["d1", "d3"], ["d3", "d1"])  # best rank first
    path = write_pool(pool, tmp_path / "pool.tsv")
    assert path.read_text().splitlines()[0] == "query-id\tcorpus-id"
    assert read_pool(path) == pool
    labels = {"q1": {"d1": 1, "d2": 0}}
    assert judged_at_k(a, labels, 2, query_ids=["q1"]) == 1.0
    assert judged_at_k(b, labels, 2, query_ids=["q1"]) == 0.0
    assert judged_at_k(a, labels, 3, query_ids=["q1"]) == pytest.approx(2 / 3)


def test_llm_judged_pool_reproduces_qrels_scores_on_scifact(fake_chat, scifact, static_model, session_cache, tmp_path):
    dataset = scifact.subset(n_queries=30, n_docs=400, seed=3)
    runs = [
        DenseRetriever(static_model, session_cache).retrieve(dataset, 100),
        load_model("bm25").retrieve(dataset, 100),
    ]
    pool = depth_pool(runs, K)
    fake_chat.responder = oracle(dataset, dataset.qrels)
    cache_file = tmp_path / "judgments.jsonl"
    labels, stats = judge_pool(pool, dataset, LLMJudge(fake_chat.client("oracle"), cache_path=cache_file), workers=4)

    pairs = sum(len(d) for d in pool.values())
    assert stats["pairs"] == pairs and stats["judged"] == pairs and stats["failed"] == 0
    assert stats["calls"] == pairs + pairs // 5  # one retry for every fifth pair's unusable first reply
    # The labels are exactly the real qrels on the pooled pairs (absent = 0).
    assert labels == {q: {d: dataset.qrels.get(q, {}).get(d, 0) for d in docs} for q, docs in pool.items()}
    pooled_qrels = {q: {d: g for d, g in labels[q].items() if g > 0} for q in labels}

    for run in runs:
        assert judged_at_k(run, labels, K) == 1.0
        on_labels = evaluate(labels, run, METRICS)
        on_qrels = evaluate(dataset.qrels, run, METRICS)
        on_pooled_qrels = evaluate(pooled_qrels, run, METRICS)
        for qid in on_qrels.query_ids:
            if qid not in on_labels.query_ids:
                # No relevant document in any model's top-k: the queries every pooled model scores 0 on.
                assert on_qrels.per_query[f"precision@{K}"][qid] == 0.0
                continue
            # Everything in a pooled model's top-k is judged, so these equal complete-judgment values ...
            for metric in (f"precision@{K}", f"mrr@{K}", f"hit@{K}"):
                assert on_labels.per_query[metric][qid] == pytest.approx(on_qrels.per_query[metric][qid])
            # ... and nDCG equals the qrels' nDCG over the relevant documents the pool found.
            assert on_labels.per_query[f"ndcg@{K}"][qid] == pytest.approx(on_pooled_qrels.per_query[f"ndcg@{K}"][qid])
            assert on_labels.per_query[f"ndcg@{K}"][qid] >= on_qrels.per_query[f"ndcg@{K}"][qid] - 1e-12

    # Cached: a new judge over the same pool sends nothing.
    before = fake_chat.requests
    again, stats = judge_pool(pool, dataset, LLMJudge(fake_chat.client("oracle"), cache_path=cache_file))
    assert again == labels and stats["cached"] == pairs and fake_chat.requests == before

    # A model outside the pool has unjudged hits, and judged@k says how many.
    bm25_only = depth_pool([runs[1]], K)
    partial = {q: {d: labels[q][d] for d in docs} for q, docs in bm25_only.items()}
    expected = [sum(d in partial.get(q, {}) for d, _ in runs[0].ranked(q, K)) / K for q in runs[0].scores]
    assert judged_at_k(runs[0], partial, K) == pytest.approx(sum(expected) / len(expected))
    assert judged_at_k(runs[0], partial, K) < 1.0


def test_judge_leaves_pairs_it_cannot_parse_unjudged(fake_chat):
    dataset = Dataset("tiny", {"d1": Document("d1", "bread baking"), "d2": Document("d2", "volcanoes")},
                      {"q1": "how to bake bread"})
    fake_chat.responder = lambda system, user: "Relevance: 2" if "bread baking" in user else "maybe?"
    labels, stats = judge_pool({"q1": ["d1", "d2"]}, dataset, LLMJudge(fake_chat.client(), attempts=2))
    assert labels == {"q1": {"d1": 2}}
    assert stats["failed"] == 1 and stats["calls"] == 3


TOY = {
    "bread": ("Sourdough bread", "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the "
              "flour, producing carbon dioxide gas that is trapped by the gluten network during a long proofing."),
    "volcano": ("Volcanoes", "A volcano forms where molten rock from the mantle reaches the surface through cracks "
                "in the crust, often at the boundaries of tectonic plates or above hot spots."),
    "bees": ("Honey bees", "Honey bees communicate the location of flowers to their hive mates with the waggle "
             "dance, whose angle and duration encode direction and distance."),
    "tides": ("Ocean tides", "Tides are caused mainly by the gravitational pull of the Moon on the oceans, with the "
              "Sun adding spring and neap variations twice a month."),
    "chess": ("Chess openings", "The Sicilian Defence is a chess opening in which Black answers White's king pawn "
              "move with the c-pawn, fighting for the centre asymmetrically."),
    "coffee": ("Coffee roasting", "Roasting coffee beans triggers the Maillard reaction and caramelisation, which "
               "create the brown colour and most of the aroma compounds."),
}
REPLIES = {
    "bread": "1. Question: Why does sourdough rise without commercial yeast?",     # good (label stripped)
    "volcano": "Why?",                                                            # too short
    "bees": "How do honey bees communicate the location of flowers to their hive mates?",  # copies 11 words
    "tides": "What causes the tides in the ocean?",                               # good
    "chess": "What causes the tides in the ocean?",                               # duplicate of tides
    "coffee": "Who won the football world cup final?",                            # round trip fails
}


def test_llm_query_generation_and_every_filter(fake_chat, tmp_path):
    corpus = {d: Document(d, text, title) for d, (title, text) in TOY.items()}
    fake_chat.responder = lambda system, user: next(REPLIES[d] for d, (_, text) in TOY.items() if text in user)
    generated = generate_queries(corpus, LLMQueryGenerator(fake_chat.client()))
    assert [q.doc_id for q in generated] == list(corpus) and len({q.id for q in generated}) == len(corpus)
    assert generated[0].text == "Why does sourdough rise without commercial yeast?"
    assert longest_copied_span(REPLIES["bees"], TOY["bees"][1]) == 11
    qfilter = QueryFilter(retriever=load_model("bm25"), top_n=1)
    kept, dropped = qfilter.apply(generated, corpus)
    assert [q.doc_id for q in kept] == ["bread", "tides"]
    assert {q.doc_id: reason for q, reason in dropped} == {
        "volcano": "too_short", "bees": "copied", "chess": "duplicate", "coffee": "round_trip"}

    folder = write_generated(tmp_path / "gen", corpus, kept, dropped)
    loaded = load_beir(folder, split="generated")
    assert loaded.qrels == {q.id: {q.doc_id: 1} for q in kept}
    assert json.loads((folder / "generation.json").read_text())["dropped"] == {
        "too_short": 1, "copied": 1, "duplicate": 1, "round_trip": 1}


def test_offline_generator_uses_salient_terms_or_title(scifact):
    corpus = scifact.subset(n_queries=20, n_docs=300, seed=0).corpus
    terms = OfflineQueryGenerator(corpus, mode="terms", n_terms=5)
    for did in list(corpus)[:30]:
        (query,) = terms.generate(corpus[did])
        words = query.split()
        assert 0 < len(words) <= 5 and len(set(words)) == len(words)
        assert all(w in corpus[did].full_text.lower() for w in words)
    titled = next(d for d in corpus.values() if len(d.title.split()) >= 3)
    assert OfflineQueryGenerator(corpus, mode="title").generate(titled) == [titled.title.strip()]


def test_cli_generate_then_pool_and_judge(fake_chat, scifact_dir, tmp_path):
    from embedscope.cli import cli

    runner = CliRunner()
    gen_dir = tmp_path / "generated"
    result = runner.invoke(cli, ["generate-queries", "--data", str(scifact_dir), "--generator", "terms",
                                 "--num-docs", "25", "--max-docs", "300", "--filter-model", "bm25",
                                 "-o", str(gen_dir), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    generated = load_beir(gen_dir, split="generated")
    assert 0 < len(generated.queries) <= 25 and len(generated.corpus) == 300

    fake_chat.responder = oracle(generated, generated.qrels)
    result = runner.invoke(cli, ["pool", "--data", str(gen_dir), "--split", "generated", "-m", "bm25", "-m", "tokenlearn",
                                 "--pool-depth", "5", "--judge-url", fake_chat.url, "--judge-model", "oracle",
                                 "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "-q"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    pool = read_pool(run_dir / "pool" / "pool.tsv")
    llm_rows = read_qrels_tsv(run_dir / "judgments" / "llm-qrels.tsv")
    assert {(q, d) for _, q, d, _ in llm_rows} == {(q, d) for q, docs in pool.items() for d in docs}
    report = json.loads((run_dir / "pool" / "evaluation.json").read_text())
    assert report["unjudged_pool_pairs"] == 0
    assert {row["model"] for row in report["models"]} == {"bm25", "tokenlearn-static-64d"}
    for row in report["models"]:
        assert row["judged@5"] == 1.0
        assert 0 <= row["ndcg@5"] <= 1

    # Rerun on the run directory: every judgment comes from the cache, no request is sent.
    before = fake_chat.requests
    result = runner.invoke(cli, ["pool", "--run-dir", str(run_dir), "--pool-depth", "5", "--judge-url", fake_chat.url,
                                 "--judge-model", "oracle", "--cache", str(tmp_path / "cache"), "-q"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert fake_chat.requests == before
    assert json.loads((run_dir / "pool" / "evaluation.json").read_text())["models"] == report["models"]
