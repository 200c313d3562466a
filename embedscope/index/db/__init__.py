"""Vector databases as indexes: one file per backend behind the `VectorDB` Protocol (base.py).

Importing this package registers every backend's spec prefix; each backend imports its client library
only when built, so a missing package is a clear error for that backend alone.
"""

import importlib

from embedscope.index.db.base import Filter, VectorDB

BACKENDS = ("lancedb", "qdrant", "milvus", "pgvector", "redis")

for _module in BACKENDS:
    importlib.import_module(f"embedscope.index.db.{_module}")

__all__ = ["BACKENDS", "Filter", "VectorDB"]
