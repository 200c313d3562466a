"""Cross-encoder reranker: sentence-transformers' CrossEncoder from a local folder or a hub name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class CrossEncoderReranker:
    """Reads (query, document) together, so it sees term interactions a bi-encoder cannot; cost grows with
    the number of candidates, which is why it only reranks a first stage's top hits."""

    def __init__(self, path: str | None = None, name: str | None = None, batch_size: int = 32,
                 max_length: int | None = None, device: str | None = None, activation: bool = False):
        from sentence_transformers import CrossEncoder

        if not path:
            raise ValueError("cross-encoder needs a model folder or name, e.g. cross-encoder:/models/ms-marco-MiniLM-L6")
        self.path = str(path)
        self.name = name or Path(self.path).name
        self.model = CrossEncoder(self.path, max_length=max_length, device=device)
        self.batch_size = batch_size
        # Raw logits by default: a sigmoid does not change the order and squeezes scores together near 0 and 1.
        self.activation = activation

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        import torch

        kwargs = {} if self.activation else {"activation_fn": torch.nn.Identity()}
        scores = self.model.predict([(query, d) for d in documents], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True, **kwargs)
        return np.asarray(scores, dtype=float).reshape(len(documents), -1)[:, 0].tolist()
