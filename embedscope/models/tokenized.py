"""What every transformer runtime shares: the model's own tokenizer, prompts, pooling and normalization, and
length-sorted batching. A runtime (ONNX Runtime, OpenVINO) only supplies the forward pass."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint
from embedscope.models.st_folder import read_st_settings

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    if mode == "max":
        return np.where(mask[:, :, None] > 0, hidden, -np.inf).max(axis=1)
    if mode == "lasttoken":
        last = mask.sum(axis=1) - 1  # right padding: the last real token of each row
        return hidden[np.arange(len(hidden)), last]
    raise ValueError(f"pooling={mode}: use mean, cls, max or lasttoken")


@dataclass(frozen=True)
class EncodingOptions:
    """How texts are cut, batched and pooled; None keeps what the model folder declares."""

    pooling: str | None = None
    normalize: bool | None = None
    max_seq_length: int | None = None
    batch_size: int = 8
    sort_by_length: bool = True


class TokenizedEncoder:
    """Tokenize once, sort by length, batch, run the runtime's forward pass, pool, normalize.

    Each batch pads only to its own longest text, and vectors come back in the input order. Subclasses set
    `input_names` and `_dim` and implement `_forward(feed) -> last hidden state`.
    """

    runtime = "runtime"
    input_names: list[str]
    _dim: int

    def __init__(
        self,
        model_file: str | Path,
        tokenizer: str | Path,
        name: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        quantized: str | None = None,
        card: str | None = None,
        **encoding,
    ):
        """`encoding`: the spec options of EncodingOptions (pooling, normalize, max_seq_length, batch_size,
        sort_by_length); what the model folder declares applies where one is not given."""
        from tokenizers import Tokenizer

        from embedscope.models.cards import card_settings, package_of

        options = EncodingOptions(**encoding)
        self.model_file = Path(model_file)
        self.tokenizer_dir = Path(tokenizer)
        declared = read_st_settings(self.tokenizer_dir)
        self.pooling = options.pooling or declared["pooling"]
        self.normalize = declared["normalize"] if options.normalize is None else bool(options.normalize)
        self.max_seq_length = int(options.max_seq_length or declared["max_seq_length"] or 512)
        prompts = declared["prompts"]
        self.batch_size = int(options.batch_size)
        self.sort_by_length = bool(options.sort_by_length)
        self.quantized = quantized
        self.name = name or f"{self.tokenizer_dir.name}-{self.runtime}" + (f"-{quantized}" if quantized else "")
        settings = card_settings(card, self.name, self.tokenizer_dir, package_of(self.model_file),
                                 package_of(self.tokenizer_dir), query_prompt=query_prompt,
                                 document_prompt=document_prompt, own_prompts=prompts, model_label=self.name)
        self.query_prompt = settings.query_prompt if settings.query_prompt is not None else prompts.get("query")
        self.document_prompt = (settings.document_prompt if settings.document_prompt is not None
                                else prompts.get("document"))
        self.card, self.warnings = settings.card_dict, list(settings.warnings)

        self.timings = {"tokenize_seconds": 0.0, "forward_seconds": 0.0}  # where encoding time goes (the profile)
        self.tokenizer = Tokenizer.from_file(str(self.tokenizer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else (self.tokenizer.token_to_id("<pad>") or 0)

    @property
    def dim(self) -> int:
        return self._dim

    def prompts(self) -> dict[str, str | None]:
        return {"query": self.query_prompt, "document": self.document_prompt}

    def fingerprint(self) -> str:
        settings = (self.runtime, self.pooling, self.normalize, self.max_seq_length, self.prompts())
        return folder_fingerprint(self.model_file, folder_fingerprint(self.tokenizer_dir / "tokenizer.json"), *settings)

    def feeds(self, encodings) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One padded batch as the model's inputs, and its attention mask for pooling."""
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: feed[name] for name in self.input_names}, mask

    def _forward(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _embed_batch(self, feed: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """Pooled (not yet normalized) vectors of one batch."""
        return pool(self._forward(feed), mask, self.pooling)

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        texts = [f"{prompt}{t}" for t in texts] if prompt else list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        started = time.perf_counter()
        encodings = self.tokenizer.encode_batch_fast(texts)  # no character offsets: they are never used here
        order = np.argsort([len(e.ids) for e in encodings], kind="stable") if self.sort_by_length else np.arange(len(texts))
        tokenized = time.perf_counter()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_batch(*self.feeds([encodings[i] for i in chunk]))
        self.timings["tokenize_seconds"] += tokenized - started
        self.timings["forward_seconds"] += time.perf_counter() - tokenized
        if self.normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.query_prompt)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.document_prompt)
