"""Start fast, load late: `embedscope --help` and a fully cached run import no heavy library, and a local model's
fingerprint, dimension, prompts and max length come from its files, equal to what the loaded model says.

Timings belong in benchmarks/startup.py; here the mechanism is checked: which modules a process imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from embedscope.models import load_model

# Libraries that cost a noticeable fraction of a second (or several) to import.
HEAVY = {"numpy", "pandas", "pyarrow", "scipy", "sklearn", "torch", "transformers", "sentence_transformers",
         "model2vec", "wordllama", "openvino", "onnxruntime", "ray", "dask", "plotly", "faiss", "rich", "yaml",
         "pydantic", "jinja2", "httpx", "openai", "bm25s"}
MODEL_LIBRARIES = {"torch", "transformers", "sentence_transformers", "model2vec", "wordllama", "tokenizers"}


def imported(args: list[str], cwd: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess]:
    """Top-level packages a fresh `python -m embedscope ARGS` imported (from -X importtime)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "embedscope", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
               if line.startswith("import time:")}
    return modules, result


def test_help_imports_nothing_heavy():
    modules, result = imported(["--help"])
    assert result.returncode == 0 and "datasets" in result.stdout
    assert not modules & HEAVY, f"`embedscope --help` imports {sorted(modules & HEAVY)}"


def test_a_fully_cached_run_loads_no_model(synthetic_dir, tmp_path):
    args = ["run", "--data", str(synthetic_dir), "-m", "minilm", "-m", "wordllama", "-m", "tokenlearn", "-m", "bm25",
            "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "runs"), "--max-queries", "12"]
    first = subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    modules, second = imported(args)
    assert second.returncode == 0, second.stderr
    assert not modules & MODEL_LIBRARIES, f"a cached run imported {sorted(modules & MODEL_LIBRARIES)}"
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    scores = [{m["name"]: m["metrics"] for m in json.loads((r / "results.json").read_text())["models"]} for r in runs]
    assert scores[0] == scores[1]


@pytest.mark.parametrize("spec", ["minilm", "tokenlearn", "wordllama", "sre"])
def test_settings_from_files_equal_the_loaded_model(spec):
    if spec == "sre":
        package = pytest.importorskip("sre_embedding_model", reason="sre-embedding-model is not installed")
        folder = Path(package.__file__).parent
        found = [p.parent for p in folder.rglob("modules.json")]
        if not found:
            pytest.skip("no sentence-transformers folder in sre-embedding-model")
        spec = f"st:{found[0]}"
    model = load_model(spec)
    before = (model.fingerprint(), model.dim, getattr(model, "max_seq_length", None),
              model.prompts() if hasattr(model, "prompts") else None)
    assert model._model is None, "asking for fingerprint, dim, max length or prompts loaded the model"
    loaded = model.model  # now load it
    assert model._model is not None
    after = (model.fingerprint(), model.dim, getattr(model, "max_seq_length", None),
             model.prompts() if hasattr(model, "prompts") else None)
    assert before == after
    if hasattr(loaded, "max_seq_length"):  # a SentenceTransformer
        dimension = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        assert before[1] == dimension()
        assert before[2] == loaded.max_seq_length
        declared = {k: v for k, v in (loaded.prompts or {}).items() if v}
        assert {k: v for k, v in model.own_prompts().items() if v} == declared


def test_a_missing_text_loads_the_model_once(synthetic, tmp_path):
    from embedscope.cache import EmbeddingCache
    from embedscope.runs.dense import DenseRetriever

    model = load_model("tokenlearn")
    cache = EmbeddingCache(tmp_path / "cache")
    DenseRetriever(model, cache).retrieve(synthetic, 10)
    assert model._model is not None
    again = load_model("tokenlearn")
    DenseRetriever(again, cache).retrieve(synthetic, 10)
    assert again._model is None  # every vector came from the cache
    bigger = synthetic.subset(n_queries=3)
    bigger.queries["q-new"] = "a query no cache has seen"
    DenseRetriever(again, cache).retrieve(bigger, 10)
    assert again._model is not None
