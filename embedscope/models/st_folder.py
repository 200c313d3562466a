"""What a model folder declares in its config files, read without loading the model (no torch, no weights):
prompts, max length, pooling, normalization and the output dimension. A cached run needs only these."""

from __future__ import annotations

import json
import struct
from pathlib import Path

POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_st_settings(folder: str | Path) -> dict:
    """Pooling, normalization, max length, prompts and (when the modules declare it) the output dimension, as a
    sentence-transformers folder's config files give them; None where a value is not declared."""
    folder = Path(folder)
    settings: dict = {"pooling": "mean", "normalize": False, "max_seq_length": None, "prompts": {}, "dim": None}
    entries = _json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if isinstance(entries, list):
        settings["normalize"] = any(e.get("type", "").endswith("Normalize") for e in entries)
        dim, known = None, True
        for e in entries:
            kind = e.get("type", "").rsplit(".", 1)[-1]
            config = _json(folder / e.get("path", "") / "config.json")
            if kind == "Pooling":
                active = [m for m in POOLING_MODES if config.get(f"pooling_mode_{m}")]
                if active:
                    short = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}
                    settings["pooling"] = short.get(active[0], active[0])
                width = config.get("word_embedding_dimension")
                dim = width * max(1, len(active)) if isinstance(width, int) else None
            elif kind == "Dense":
                dim = config.get("out_features") if isinstance(config.get("out_features"), int) else None
            elif kind not in ("Transformer", "Normalize"):
                known = False  # a module whose output width these files do not say
        settings["dim"] = dim if known else None
    st_config = _json(folder / "sentence_bert_config.json")
    settings["max_seq_length"] = st_config.get("max_seq_length")
    settings["prompts"] = _json(folder / "config_sentence_transformers.json").get("prompts") or {}
    return settings


def safetensors_shapes(path: str | Path) -> dict[str, list[int]]:
    """Tensor shapes from a .safetensors file's header (its first bytes), without reading the tensors."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
    return {name: spec["shape"] for name, spec in header.items() if isinstance(spec, dict) and "shape" in spec}
