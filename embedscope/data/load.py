"""The one loader every command and the web app use: a named dataset, a BEIR folder or separate tables, optionally
sampled, with extra judgments merged in."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path

from embedscope.data.beir import load_beir
from embedscope.data.dataset import Dataset
from embedscope.data.errors import DataError
from embedscope.data.named import is_name, resolve
from embedscope.data.tables import load_tables
from embedscope.errors import ConfigError

log = logging.getLogger(__name__)

# The settings that say where a dataset comes from; run directories record them so readers reload the same data.
SOURCE_KEYS = ("data", "split", "corpus", "queries", "qrels", "columns", "name", "max_queries", "max_docs", "judgments",
               "filters")


def load(
    data: str | Path | None = None,
    *,
    split: str | None = "test",
    corpus: str | Path | None = None,
    queries: str | Path | None = None,
    qrels: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
    name: str | None = None,
    max_queries: int | None = None,
    max_docs: int | None = None,
    judgments: str | Path | list | None = None,
    filters: str | list | None = None,
) -> Dataset:
    """A dataset from `data` (a name such as `beir:scifact` or `banking77`, or a BEIR folder) or from `corpus` +
    `queries` (+ `qrels`) tables; `max_queries`/`max_docs` sample it (judged docs kept); `judgments` (graded qrels
    files) are merged over its qrels; `filters` (FIELD=VALUE or word=WORD) keep only the matching documents."""
    for option, value in (("max_queries", max_queries), ("max_docs", max_docs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{option.replace('_', '-')} must be a whole number of at least 1, got {value!r}")
    if corpus:
        if not queries:
            raise ConfigError("--corpus needs --queries too")
        dataset = load_tables(corpus, queries, qrels, columns=dict(columns or {}), name=name)
    elif data and is_name(str(data)):
        from embedscope.data.named import home
        from embedscope.data.parsed import load_once

        folder, split = resolve(str(data)), split or "test"
        dataset = load_once(folder, split, name, lambda: load_beir(folder, split=split, name=name), home() / ".parsed")
    elif data:
        dataset = load_beir(Path(data), split=split or "test", name=name)
    else:
        raise ConfigError("name a dataset with --data NAME (e.g. beir:scifact) or DIR (a BEIR folder), "
                          "or give --corpus/--queries tables")
    if max_queries or max_docs:
        dataset = dataset.subset(max_queries, max_docs)
    if judgments:
        dataset = add_judgments(dataset, judgments)
    if filters:
        dataset = restrict(dataset, parse_filter(filters))
    return dataset


def load_from(settings: Mapping) -> Dataset:
    """`load` with the source settings of a config or of a run directory's results.json (other keys ignored)."""
    return load(**{key: settings[key] for key in SOURCE_KEYS if settings.get(key) not in (None, ())})


def parse_filter(filters: str | list):
    """A `Filter` from `--filter` values: `word=WORD` (whole word of the text, any case) or `FIELD=VALUE` (a corpus
    field equal to VALUE); all must match."""
    from embedscope.data.filter import Filter

    tags, words = {}, []
    for text in [filters] if isinstance(filters, str) else filters:
        key, sep, value = str(text).partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--filter '{text}' is not FIELD=VALUE or word=WORD")
        if key.strip() == "word":
            words.append(value.strip())
        else:
            tags[key.strip()] = value.strip()
    try:
        return Filter(tags=tags, words=tuple(words))
    except ValueError as e:
        raise ConfigError(f"--filter: {e}") from None


def filter_metadata(dataset: Dataset) -> list[dict]:
    """Each document's fields as a `Filter` reads them: its tags and its searchable text."""
    from embedscope.data.filter import TEXT_FIELD

    return [{**doc.tags, TEXT_FIELD: doc.full_text} for doc in dataset.corpus.values()]


def restrict(dataset: Dataset, filter) -> Dataset:
    """The dataset with only the documents `filter` keeps: every model then searches exactly that subset, and
    judgments of other documents are left out (they cannot be retrieved under this filter)."""
    keep = filter.mask(filter_metadata(dataset))
    if not keep.any():
        raise ConfigError(f"--filter matches none of the {len(dataset.corpus):,} documents")
    corpus = {did: doc for (did, doc), kept in zip(dataset.corpus.items(), keep) if kept}
    qrels = {q: {d: g for d, g in rels.items() if d in corpus} for q, rels in dataset.qrels.items()}
    log.info("filter: %d of %d documents match", len(corpus), len(dataset.corpus))
    return dataclasses.replace(dataset, corpus=corpus, qrels={q: r for q, r in qrels.items() if r})


def add_judgments(dataset: Dataset, paths) -> Dataset:
    """Merge judged pairs (graded qrels, e.g. saved by `embedscope serve`) into the dataset's qrels.

    A judgment replaces the dataset's grade for the same pair. Pairs whose query or document is not in
    this dataset (another subset, another corpus) cannot be scored here and are left out, with a note.
    """
    from embedscope.judgments import merge_qrels, read_judgments

    extra: dict[str, dict[str, int]] = {}
    dropped = 0
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        if not Path(path).exists():
            raise DataError(path, "judgments file not found")
        for qid, rels in read_judgments(path).items():
            for did, grade in rels.items():
                if qid in dataset.queries and did in dataset.corpus:
                    extra.setdefault(qid, {})[did] = grade
                else:
                    dropped += 1
    if dropped:
        log.warning("judgments: %d pair(s) name queries or documents not in this dataset; left out", dropped)
    return dataclasses.replace(dataset, qrels=merge_qrels(dataset.qrels, extra))
