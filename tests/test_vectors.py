"""Bad vectors are never cached or silently scored: NaN, infinite, wrong-dimension and (under cosine) all-zero
vectors stop the run naming the model, the text and the fault, or with --bad-vectors record are left out and
listed as failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
import fake_providers  # noqa: E402
from fake_providers import FakeProvider, FakeServer  # noqa: E402

from embedscope.cache import EmbeddingCache  # noqa: E402
from embedscope.cache.vectors import BadVectorError  # noqa: E402
from embedscope.data import Dataset, Document  # noqa: E402
from embedscope.runs.dense import DenseRetriever  # noqa: E402

KEY = "sk-test-vectors"
FAST = "retry_base_delay=0.01&retry_max_delay=0.05&timeout=5&dim=16&batch_size=4&concurrency=2"


def tiny() -> Dataset:
    corpus = {f"d{i}": Document(f"d{i}", f"document {i} about subject {i % 4}") for i in range(12)}
    corpus["d7"] = Document("d7", "POISON document seven")
    queries = {f"q{i}": f"subject {i}" for i in range(4)}
    qrels = {f"q{i}": {f"d{i}": 1, "d7": 1} for i in range(4)}
    return Dataset("tiny", corpus, queries, qrels)


class Poisoned:
    """A local embedder whose vector for any text containing POISON is `bad` (NaN, zeros, ...)."""

    name = "poisoned"
    dim = 8

    def __init__(self, bad):
        self.bad, self.calls = bad, []

    def fingerprint(self) -> str:
        return f"poisoned-{self.bad!r}"

    def _encode(self, texts):
        self.calls.append(list(texts))
        rng = np.random.default_rng(0)
        out = rng.standard_normal((len(texts), self.dim)).astype(np.float32) + np.arange(len(texts))[:, None]
        for i, t in enumerate(texts):
            if "POISON" in t:
                out[i] = self.bad
        return out

    encode_queries = encode_documents = _encode


@pytest.mark.parametrize("bad, fault", [(np.nan, "NaN values"), (np.inf, "infinite values")])
def test_non_finite_vector_stops_the_run_and_is_never_cached(tmp_path, bad, fault):
    model = Poisoned(bad)
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(BadVectorError) as err:
        DenseRetriever(model, cache).retrieve(tiny(), 5)
    message = str(err.value)
    assert "'poisoned'" in message and "document 'd7'" in message and fault in message
    assert "--bad-vectors record" in message
    stored = cache.load(model.fingerprint(), "document")
    assert len(stored) == 11 and all(np.isfinite(v).all() for v in stored.values())  # the good ones are kept


def test_zero_vector_stops_a_cosine_run_but_scores_under_dot(tmp_path):
    model = Poisoned(0.0)
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(BadVectorError, match=r"document 'd7': an all-zero vector"):
        DenseRetriever(model, cache, metric="cosine").retrieve(tiny(), 5)
    run = DenseRetriever(model, cache, metric="dot").retrieve(tiny(), 12)  # a zero vector is a valid dot product
    assert all(np.isfinite(s) for hits in run.scores.values() for s in hits.values())
    assert "failures" not in run.meta


def test_recorded_failures_are_left_out_listed_and_retried_next_time(tmp_path):
    from embedscope.compare import Comparison, Result
    from embedscope.metrics import evaluate
    from embedscope.report.outputs import write_outputs

    model = Poisoned(np.nan)
    dataset = tiny()
    dataset.queries["q3"] = "POISON query"
    cache = EmbeddingCache(tmp_path / "cache", bad_vectors="record")
    run = DenseRetriever(model, cache).retrieve(dataset, 12)
    assert run.meta["failures"] == {"documents": {"d7": "NaN values"}, "queries": {"q3": "NaN values"}}
    assert all("d7" not in hits for hits in run.scores.values())  # never retrieved
    assert run.scores.get("q3", {}) == {}  # retrieves nothing, so it scores zero
    assert len(run.scores["q0"]) == 11
    assert all(np.isfinite(s) for hits in run.scores.values() for s in hits.values())

    # shown in the results and the summary
    evaluation = evaluate(dataset.qrels, run, ["ndcg@10"])
    assert evaluation.per_query["ndcg@10"]["q3"] == 0.0
    comparison = Comparison(dataset, ["ndcg@10"], [Result("poisoned", "poisoned", run, evaluation)], 10)
    paths = write_outputs(comparison, tmp_path / "run")
    results = json.loads(paths["results"].read_text())
    assert results["models"][0]["run"]["failures"]["documents"] == {"d7": "NaN values"}
    summary = paths["summary"].read_text()
    assert "## Failures" in summary and "| poisoned | document | d7 | NaN values |" in summary

    # the bad vectors were not cached: the next run asks the model for exactly those texts again
    model.calls.clear()
    DenseRetriever(model, cache).retrieve(dataset, 12)
    assert sorted(t for call in model.calls for t in call) == ["POISON document seven", "POISON query"]


def test_wrong_dimension_is_refused(tmp_path):
    class Shrinking(Poisoned):
        def _encode(self, texts):
            out = super()._encode(texts)
            return out[:, :4] if any("POISON" in t for t in texts) else out

        encode_queries = encode_documents = _encode

    cache = EmbeddingCache(tmp_path, shard_size=4, flush_seconds=1e-9)  # one call per few texts
    with pytest.raises(BadVectorError, match=r"4 dimensions, expected 8"):
        DenseRetriever(Shrinking(0.0), cache).retrieve(tiny(), 5)


def test_cached_bad_vectors_from_an_older_version_are_set_aside(tmp_path, caplog):
    """A shard written before validation existed, holding a NaN vector, is not trusted: set aside, re-embedded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = Poisoned(np.nan)
    folder = tmp_path / model.fingerprint() / "document"
    folder.mkdir(parents=True)
    legacy = np.full((1, 8), np.nan, np.float32)
    from embedscope.cache import text_key

    table = pa.table({"key": [text_key("document 0 about subject 0")],
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(legacy.reshape(-1)), 8)})
    pq.write_table(table, folder / "shard-00000000000000000001-abcdef12.parquet")  # the old name, no checksum
    cache = EmbeddingCache(tmp_path)
    with caplog.at_level("WARNING", logger="embedscope.cache"):
        vectors, stats = cache.encode(model.fingerprint(), "document", ["document 0 about subject 0"], model._encode)
    assert np.isfinite(vectors).all() and stats["encoded"] == 1
    assert "NaN or infinite" in caplog.text and list(folder.glob("*.corrupt"))


# --- an API that returns NaN or all-zero vectors ---------------------------------------------------------------

@pytest.fixture
def poisoning_api(monkeypatch):
    """The fake OpenAI server, answering NaN for texts with POISON-NAN and zeros for POISON-ZERO."""
    real = fake_providers.fake_vector

    def vector(text, input_type, dim):
        if "POISON-NAN" in text:
            return np.full(dim, np.nan, np.float32)
        if "POISON-ZERO" in text:
            return np.zeros(dim, np.float32)
        return real(text, input_type, dim)

    monkeypatch.setattr(fake_providers, "fake_vector", vector)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeServer(FakeProvider("openai", api_key=KEY)) as server:
        yield server


def _corpus(tmp_path: Path, poison: str) -> list[str]:
    docs = [{"_id": f"d{i}", "text": f"text number {i} on theme {i % 3}"} for i in range(10)]
    docs[4]["text"] = f"{poison} text"
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": f"theme {i}"})
                                                      for i in range(3)))
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3)))
    return ["--corpus", str(tmp_path / "corpus.jsonl"), "--queries", str(tmp_path / "queries.jsonl"),
            "--qrels", str(tmp_path / "qrels.tsv")]


def _cli(args):
    from embedscope.cli import cli

    return CliRunner().invoke(cli, args, standalone_mode=False)


@pytest.mark.parametrize("poison, fault", [("POISON-NAN", "NaN values"), ("POISON-ZERO", "an all-zero vector")])
def test_api_returning_bad_vectors_stops_the_run_with_one_line(poisoning_api, tmp_path, poison, fault):
    spec = f"openai:text-embedding-3-small?base_url={poisoning_api.url}/v1&{FAST}"
    args = ["run", *_corpus(tmp_path, poison), "-m", spec, "-o", str(tmp_path / "runs"),
            "--cache", str(tmp_path / "cache"), "-q"]
    result = _cli(args)  # the only model stops, so the run does: exit 2 (with other models, they go on: exit 3)
    message = str(result.exception)
    assert "returned bad vectors" in message and "document 'd4'" in message and fault in message, result.output
    assert "text-embedding-3-small" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run directory
    # nothing non-finite in the cache (a zero vector is cached: it is a valid vector for dot and l2)
    for fp in (tmp_path / "cache").iterdir():
        for keys, vectors in EmbeddingCache(tmp_path / "cache").iter_shards(fp.name, "document"):
            assert np.isfinite(vectors).all()

    recorded = _cli([*args, "--bad-vectors", "record"])
    assert recorded.exception is None, recorded.output
    run_dir = Path(recorded.return_value)
    results = json.loads((run_dir / "results.json").read_text())
    assert fault in results["models"][0]["run"]["failures"]["documents"]["d4"]
    assert any("bad vectors" in w for w in results["models"][0]["info"]["warnings"])
    assert " d4 " not in (run_dir / results["models"][0]["run_file"]).read_text()
