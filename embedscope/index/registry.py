"""Index specs beyond 'exact' register here from their own modules (faiss, vector databases).

A spec is read once, here, in the one spec grammar (embedscope.specs): each builder gets its parsed `Spec`
(kind, target, options) and the similarity."""

from __future__ import annotations

import importlib
from collections.abc import Callable

_BUILDERS: dict[str, Callable] = {}
_MODULES = ("faiss_index", "db")


def register(prefix: str):
    def wrap(builder: Callable) -> Callable:
        _BUILDERS[prefix] = builder
        return builder

    return wrap


def build(spec: str, similarity: str):
    from embedscope.specs import index_spec

    parsed = index_spec(spec)
    prefix = parsed.kind
    if prefix not in _BUILDERS:
        for module in _MODULES:
            try:
                importlib.import_module(f"embedscope.index.{module}")
            except ImportError:
                pass
    if prefix not in _BUILDERS:
        raise ValueError(f"unknown index spec '{spec}'; known: exact, {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[prefix](parsed, similarity)
