"""Run configuration: embedded defaults < YAML file < command-line options."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


from embedscope.errors import ConfigError

KEYS = {"data", "split", "models", "k", "depth", "metrics", "index", "similarity", "output", "cache",
        "corpus", "queries", "qrels", "columns", "name", "max_queries", "max_docs",
        "judgments", "references", "reference_task", "reference_split", "reference_subset", "chunk_tokens",
        "task", "train", "no_header", "max_rows", "bad_vectors", "fast", "filters"}


def defaults() -> dict:
    import yaml

    return yaml.load(resources.files("embedscope").joinpath("defaults.yaml").read_text(),
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when built


def _whole(minimum: int, optional: bool = False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"a whole number of at least {minimum}"
    return check


def _text(value):
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _texts(value):
    ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    return None if ok else "a string or a list of strings"


def _models(value):
    ok = isinstance(value, list) and value and all(isinstance(v, (str, dict)) for v in value)
    return None if ok else "a list of model specs (strings, or mappings with a type)"


def _columns(value):
    ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return None if ok else "a mapping of role: column name"


def _similarity(value):
    return None if value in ("cosine", "dot", "l2") else "one of cosine, dot, l2"


def _flag(value):
    return None if isinstance(value, bool) else "true or false"


def _bad_vectors(value):
    return None if value in ("stop", "record") else "stop or record"


def _optional(check):
    return lambda value: None if value is None else check(value)


# What each setting must be; a config file's value of another type stops with the file, the line and the rule.
RULES = {
    "data": _text, "split": _text, "models": _models, "k": _whole(1), "depth": _whole(1), "metrics": _texts,
    "index": _text, "similarity": _similarity, "output": _text, "cache": _text, "corpus": _optional(_text),
    "queries": _optional(_text), "qrels": _optional(_text), "columns": _optional(_columns), "name": _optional(_text),
    "max_queries": _whole(1, optional=True), "max_docs": _whole(1, optional=True), "judgments": _optional(_texts),
    "references": _optional(_texts), "reference_task": _optional(_text), "reference_split": _optional(_text),
    "reference_subset": _optional(_text), "chunk_tokens": _whole(1, optional=True),
    "task": _optional(_text), "train": _optional(_text), "no_header": _optional(_flag), "max_rows": _whole(1, optional=True),
    "bad_vectors": _bad_vectors, "fast": _optional(_flag), "filters": _optional(_texts),
}
assert set(RULES) == KEYS


def _key_lines(text: str) -> dict[str, int]:
    """The 1-based line of each top-level key of a YAML mapping."""
    import yaml

    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _show(value) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean: YAML reads yes/no/on/off as booleans)"
    return repr(value)


def load_config(path: str | Path | None) -> dict:
    """The embedded defaults updated with the settings of the YAML file at `path` (if any)."""
    config = defaults()
    if path is not None:
        config.update(read_config(path))
    return config


def read_config(path: str | Path) -> dict:
    """The settings a YAML config file gives, checked (unknown key, wrong type: the file, the line and the rule),
    with relative paths made relative to the file."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        given = yaml.safe_load(text) or {}
        lines = _key_lines(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(given).__name__}")
    for key, value in given.items():
        where = f"{path}:{lines[key]}" if key in lines else str(path)
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown setting '{key}'; known: {', '.join(sorted(KEYS))}")
        problem = RULES[key](value)
        if problem:
            raise ConfigError(f"{where}: '{key}' must be {problem}, got {_show(value)}")

    # Relative data paths in a config file are relative to the file, so configs travel with their data; a dataset
    # name (beir:scifact, or one registered with `embedscope datasets add`) stays a name.
    def near_file(value: str, key: str) -> str:
        if Path(value).is_absolute():
            return value
        beside = (path.parent / value).resolve()
        if key == "data" and not beside.exists():
            from embedscope.data.named import is_name

            if is_name(value):
                return value
        return str(beside)

    for key in ("data", "corpus", "queries", "qrels", "judgments", "references", "train"):
        if isinstance(given.get(key), str):
            given[key] = near_file(given[key], key)
        elif isinstance(given.get(key), list):
            given[key] = [near_file(v, key) for v in given[key]]
    return given
