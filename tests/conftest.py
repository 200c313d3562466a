"""Shared fixtures.

Synthetic data (every test can run on a fresh clone): `synthetic` (a small graded retrieval dataset built here),
`synthetic_dir` (the same as a BEIR folder), `synthetic_tables` (as CSV / Parquet / JSONL tables), `synthetic_runs`
(ranked runs over it with ties and a missing query) and `make_synthetic(...)` for other sizes.

Real data (scifact, nfcorpus, cmrc, ...) comes through the named-dataset resolver, as a user's would: register a copy
with `embedscope datasets add NAME PATH` (CI registers ../shared/datasets/*). A test that uses one is marked
`realdata` automatically and skips, with the reason printed, when the dataset is not registered.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"  # reference tables only; datasets go by name
REAL_DATA_FIXTURES = {"scifact_dir", "nfcorpus_dir", "cmrc_dir", "finetune_examples_dir"}


def _registered(name: str) -> Path:
    """The registered copy of dataset NAME, or skip (never download from a test). Tests take it through the
    fixtures below, which mark them `realdata` so the second pass of scripts/test.sh selects them."""
    from embedscope.data import DataError, resolve

    try:
        return resolve(name, download=False)
    except DataError as e:
        pytest.skip(f"real dataset {name} not registered ({e.reason.split(';')[0]}): "
                    f"`embedscope datasets add {name} PATH` registers a copy")


def pytest_configure(config):
    config.addinivalue_line("markers", "realdata: reads a real dataset through the resolver (set automatically)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realdata)


def pytest_terminal_summary(terminalreporter):
    """How many real-data tests ran, so a CI log shows whether the real datasets were exercised."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if "realdata" in getattr(report, "keywords", {}) and (report.when == "call" or outcome == "skipped"):
                counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        terminalreporter.write_line("real-data tests: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


# ---------------------------------------------------------------- synthetic data

TOPICS = {
    "astronomy": "galaxy telescope orbit planet comet nebula stellar asteroid eclipse lunar cosmic satellite",
    "cooking": "recipe oven flour butter simmer garlic roast dough saucepan spice bake onion",
    "finance": "dividend bond equity inflation portfolio interest mortgage ledger audit revenue stock loan",
    "medicine": "vaccine dosage tumor antibiotic clinical symptom diagnosis cardiac insulin therapy patient virus",
    "sailing": "hull mast keel harbor anchor rudder tide starboard regatta sail knot dinghy",
    "geology": "basalt magma sediment fossil tectonic erosion granite quartz volcano glacier mineral canyon",
    "music": "melody chord violin rhythm tempo orchestra sonata piano lyric harmony guitar concert",
    "gardening": "compost seedling pruning soil tulip greenhouse mulch orchard fertilizer hedge bloom shovel",
}
FILLER = ("the a of and with for about in on this that new old some many report note study guide "
          "simple daily local general notes plan review").split()


def make_synthetic(n_docs: int = 160, n_queries: int = 24, seed: int = 0, name: str = "synthetic"):
    """A small retrieval dataset with real words grouped in topics, so BM25 and embedding models both find the
    relevant documents, but not all of them first: every document also borrows words from another topic, and
    every query carries one word of another topic. Graded qrels: 2 = same topic and shares two query words,
    1 = same topic, and explicit zeros (other topics' documents that share a query word)."""
    from embedscope.data import Dataset, Document

    rng = random.Random(seed)
    topics = {t: w.split() for t, w in TOPICS.items()}
    names = list(topics)
    corpus, doc_topic = {}, {}
    for i in range(n_docs):
        topic = names[i % len(names)]
        other = rng.choice([t for t in names if t != topic])
        words = rng.sample(topics[topic], 3) + rng.sample(topics[other], 2) + rng.sample(FILLER, 4)
        rng.shuffle(words)
        did = f"d{i:03d}" if i % 11 else f"{i:05d}"  # some ids are numeric-looking ("00011"): they stay strings
        title = f"{topic} {rng.choice(FILLER)}" if i % 3 == 0 else ""
        corpus[did] = Document(did, " ".join(words), title)
        doc_topic[did] = topic
    queries, qrels = {}, {}
    for j in range(n_queries):
        topic = names[j % len(names)]
        other = rng.choice([t for t in names if t != topic])
        words = rng.sample(topics[topic], 2) + rng.sample(topics[other], 1)
        rng.shuffle(words)
        qid = f"q{j:02d}"
        queries[qid] = " ".join(words) + ("?" if j % 2 else "")
        rels: dict[str, int] = {}
        for did, doc in corpus.items():
            shared = len(set(words) & set(doc.full_text.split()))
            if doc_topic[did] == topic:
                rels[did] = 2 if shared >= 2 else 1
            elif shared and rng.random() < 0.3:
                rels[did] = 0  # judged: shares a word, but is about something else
        qrels[qid] = rels
    return Dataset(name=name, corpus=corpus, queries=queries, qrels=qrels)


def write_beir_folder(dataset, folder: Path, *, gz: bool = True, crlf: bool = True) -> Path:
    """A dataset as a BEIR folder: corpus.jsonl(.gz), queries.jsonl, qrels/test.tsv with a header."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in dataset.corpus.values())
    if gz:
        with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (folder / "corpus.jsonl").write_text(lines, encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in dataset.queries.items()), encoding="utf-8")
    end = "\r\n" if crlf else "\n"
    rows = [f"{q}\t{d}\t{g}" for q, rels in dataset.qrels.items() for d, g in rels.items()]
    (folder / "qrels" / "test.tsv").write_bytes((end.join(["query-id\tcorpus-id\tscore", *rows]) + end).encode())
    return folder


def write_tables(dataset, folder: Path) -> dict[str, Path]:
    """A dataset as separate tables: corpus as CSV, queries as Parquet, qrels as JSONL (default column names)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"corpus": folder / "corpus.csv", "queries": folder / "queries.parquet", "qrels": folder / "qrels.jsonl"}
    pd.DataFrame([{"_id": d.id, "title": d.title, "text": d.text} for d in dataset.corpus.values()]).to_csv(
        paths["corpus"], index=False)
    pd.DataFrame([{"_id": q, "text": t} for q, t in dataset.queries.items()]).to_parquet(paths["queries"])
    paths["qrels"].write_text("".join(json.dumps({"query-id": q, "corpus-id": d, "score": g}) + "\n"
                                      for q, rels in dataset.qrels.items() for d, g in rels.items()), encoding="utf-8")
    return paths


def make_runs(dataset, seed: int = 0) -> dict:
    """Runs of three made-up systems over `dataset`: 'strong' (grade + small noise), 'weak' (more noise) and
    'random'; scores are rounded so ties occur, each keeps its top 50, and 'weak' misses one query."""
    from embedscope.runs import Run

    rng = random.Random(seed)
    runs = {}
    for name, noise in (("strong", 0.6), ("weak", 1.6), ("random", None)):
        scores = {}
        for qid in dataset.queries:
            rels = dataset.qrels.get(qid, {})
            doc_scores = {d: round(rng.random() if noise is None else rels.get(d, 0) + rng.gauss(0, noise), 1)
                          for d in dataset.corpus}
            scores[qid] = dict(sorted(doc_scores.items(), key=lambda kv: -kv[1])[:50])
        if name == "weak":
            scores.pop(next(iter(dataset.queries)))
        runs[name] = Run(name, scores)
    return runs


@pytest.fixture(scope="session")
def synthetic():
    return make_synthetic()


@pytest.fixture(scope="session")
def synthetic_dir(synthetic, tmp_path_factory) -> Path:
    return write_beir_folder(synthetic, tmp_path_factory.mktemp("synthetic") / "synthetic")


@pytest.fixture(scope="session")
def synthetic_tables(synthetic, tmp_path_factory) -> dict[str, Path]:
    return write_tables(synthetic, tmp_path_factory.mktemp("synthetic-tables"))


@pytest.fixture(scope="session")
def synthetic_runs(synthetic) -> dict:
    return make_runs(synthetic)


@pytest.fixture()
def data_home(tmp_path, monkeypatch) -> Path:
    """An empty data cache of this test's own (EMBEDSCOPE_DATASETS), so named-dataset tests touch nothing else."""
    home = tmp_path / "datasets"
    monkeypatch.setenv("EMBEDSCOPE_DATASETS", str(home))
    return home


# ---------------------------------------------------------------- real data, through the resolver


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return _registered("scifact")


@pytest.fixture(scope="session")
def nfcorpus_dir() -> Path:
    return _registered("nfcorpus")


@pytest.fixture(scope="session")
def cmrc_dir() -> Path:
    return _registered("cmrc2018_dev")


@pytest.fixture(scope="session")
def finetune_examples_dir() -> Path:
    return _registered("flagembedding_finetune_examples")


@pytest.fixture(scope="session")
def scifact(scifact_dir):
    from embedscope.data import load_beir

    return load_beir(scifact_dir)


@pytest.fixture(scope="session")
def nfcorpus(nfcorpus_dir):
    from embedscope.data import load_beir

    return load_beir(nfcorpus_dir)


@pytest.fixture(scope="session")
def scifact_small(scifact):
    """60 SciFact test queries over 800 docs (their judged docs kept): seconds to embed with MiniLM on a CPU."""
    return scifact.subset(n_queries=60, n_docs=800, seed=1)


@pytest.fixture(scope="session", params=["synthetic", pytest.param("scifact", marks=pytest.mark.realdata)])
def small_set(request):
    """60 queries over 800 documents: synthetic ones built here, then SciFact's (`scifact_small`) when SciFact is
    registered. For tests whose claims hold on any data: each runs on both."""
    if request.param == "synthetic":
        return make_synthetic(n_docs=800, n_queries=60, seed=1, name="synthetic-small")
    return request.getfixturevalue("scifact_small")


@pytest.fixture(scope="session")
def nfcorpus_small(nfcorpus):
    """50 NFCorpus test queries (graded 1-2) over 1,000 docs."""
    return nfcorpus.subset(n_queries=50, n_docs=1000, seed=1)


@pytest.fixture(scope="session")
def minilm():
    from embedscope.models import load_model

    return load_model("minilm")


@pytest.fixture(scope="session")
def static_model():
    from embedscope.models import load_model

    return load_model("tokenlearn")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """One embedding cache for the whole test session, so a model embeds each subset once."""
    from embedscope.cache import EmbeddingCache

    return EmbeddingCache(tmp_path_factory.mktemp("cache"))


def embedscope_run(tmp: Path, *args: str) -> Path:
    """`embedscope run` in-process into tmp/runs (cache in tmp/cache); returns the run directory."""
    from click.testing import CliRunner

    from embedscope.cli import cli

    result = CliRunner().invoke(cli, ["run", *args, "-o", str(tmp / "runs"), "--cache", str(tmp / "cache"), "-q"],
                                standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.return_value)


@pytest.fixture(scope="session")
def runtime_subset(scifact):
    """The SciFact subset on which every inference runtime (ONNX Runtime, OpenVINO) is checked against PyTorch."""
    return scifact.subset(n_queries=40, n_docs=250, seed=3)


def dense_ndcg10(model, dataset, cache) -> float:
    from embedscope.metrics import evaluate
    from embedscope.runs.dense import DenseRetriever

    run = DenseRetriever(model, cache).retrieve(dataset, 10)
    return evaluate(dataset.qrels, run, ["ndcg@10"]).mean["ndcg@10"]


def cosines(a, b):
    import numpy as np

    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="session")
def pytorch_reference(minilm, runtime_subset, session_cache):
    """PyTorch sentence-transformers MiniLM on the runtime subset: its document vectors and nDCG@10."""
    return minilm.encode_documents(runtime_subset.doc_texts), dense_ndcg10(minilm, runtime_subset, session_cache)
