"""Run configuration: embedded defaults < YAML file < command-line options."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from embedscope.errors import ConfigError

KEYS = {"data", "split", "models", "k", "depth", "metrics", "index", "similarity", "output", "cache",
        "corpus", "queries", "qrels", "columns", "name", "max_queries", "max_docs",
        "judgments", "references", "reference_task", "chunk_tokens"}


def defaults() -> dict:
    return yaml.safe_load(resources.files("embedscope").joinpath("defaults.yaml").read_text())


def load_config(path: str | Path | None) -> dict:
    config = defaults()
    if path is None:
        return config
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        given = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(given).__name__}")
    unknown = set(given) - KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(KEYS)}")
    # Relative data paths in a config file are relative to the file, so configs travel with their data.
    def near_file(value: str) -> str:
        return value if Path(value).is_absolute() else str((path.parent / value).resolve())

    for key in ("data", "corpus", "queries", "qrels", "judgments", "references"):
        if isinstance(given.get(key), str):
            given[key] = near_file(given[key])
        elif isinstance(given.get(key), list):
            given[key] = [near_file(v) if isinstance(v, str) else v for v in given[key]]
    if "models" in given and not isinstance(given["models"], list):
        raise ConfigError(f"{path}: 'models' must be a list")
    config.update(given)
    return config
