"""Data: corpora, queries and graded qrels from BEIR folders or plain tables."""

from __future__ import annotations

from pathlib import Path

from embedscope.data.beir import load_beir
from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.tables import load_tables


def load_dataset(path: str | Path, split: str = "test", **table_options) -> Dataset:
    """A BEIR folder, or (with corpus=/queries=/qrels= table paths) separate tables."""
    if table_options.get("corpus"):
        return load_tables(**table_options)
    return load_beir(path, split=split)


__all__ = ["DataError", "Dataset", "Document", "load_beir", "load_dataset", "load_tables"]
