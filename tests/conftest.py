"""Shared fixtures: real data from ../shared (never copied here) and the small bundled models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("EMBEDSCOPE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
DATASETS = SHARED / "datasets"


def dataset_dir(name: str) -> Path:
    path = DATASETS / name
    if not path.is_dir():
        pytest.skip(f"dataset {name} not found at {path} (set EMBEDSCOPE_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return dataset_dir("scifact")


@pytest.fixture(scope="session")
def nfcorpus_dir() -> Path:
    return dataset_dir("nfcorpus")


@pytest.fixture(scope="session")
def cmrc_dir() -> Path:
    return dataset_dir("cmrc2018_dev")


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
