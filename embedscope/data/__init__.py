"""Data: corpora, queries and graded qrels from named datasets, BEIR folders or plain tables."""

from __future__ import annotations

from embedscope.data.beir import load_beir
from embedscope.data.dataset import Dataset, Document
from embedscope.data.errors import DataError
from embedscope.data.load import SOURCE_KEYS, add_judgments, load, load_from
from embedscope.data.named import register, resolve
from embedscope.data.tables import load_tables


def load_dataset(path: str, split: str = "test", **table_options) -> Dataset:
    """A BEIR folder or dataset name, or (with corpus=/queries=/qrels= table paths) separate tables."""
    return load(path, split=split, **table_options)


__all__ = ["SOURCE_KEYS", "DataError", "Dataset", "Document", "add_judgments", "load", "load_beir", "load_dataset",
           "load_from", "load_tables", "register", "resolve"]
