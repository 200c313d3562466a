"""Named datasets are parsed once. Reading and checking SciFact's corpus takes longer than the rest of a cached
re-run's data work, and the files of a dataset in the data cache rarely change; so the parsed Dataset is kept
(pickled) in the data cache's `.parsed` folder and reused while nothing it came from has changed.

The record is keyed by every file of the dataset folder (path and a hash of its bytes), the split, the name
given, and the loader's own source: any change parses again. Warnings the parse logged (judged queries that
cannot be scored, ...) are kept with it and logged again on every load, so a reused parse says what a fresh one
says. A record that cannot be read is parsed again and rewritten, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path

from embedscope.data.dataset import Dataset

log = logging.getLogger(__name__)

FORMAT = 1
LOADER_MODULES = ("beir.py", "readers.py", "dataset.py", "parsed.py")


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def source_key(folder: Path, split: str, name: str | None) -> str:
    """What the parse depends on: each file's path and contents (hashed: far faster than parsing, and exact where
    modification times are too coarse to see a quick rewrite), the split and name, and the loader code."""
    files = [(str(path.relative_to(folder)), _file_digest(path)) for path in sorted(folder.rglob("*")) if path.is_file()]
    here = Path(__file__).parent
    loader = hashlib.blake2b(b"".join((here / m).read_bytes() for m in LOADER_MODULES), digest_size=16).hexdigest()
    return _digest(FORMAT, str(folder.resolve()), split, name, files, loader)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    @property
    def warnings(self) -> list[tuple[str, int, str]]:
        return [r for r in self.records if r[1] >= logging.WARNING]


def _replay(records: list[tuple[str, int, str]]) -> None:
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)


def load_once(folder: Path, split: str, name: str | None, parse: Callable[[], Dataset], cache: Path) -> Dataset:
    """`parse()`'s Dataset, from `cache` when the same files were parsed before."""
    key = source_key(folder, split, name)
    path = cache / f"{_digest(str(folder.resolve()), split, name)}.pickle"  # one record per folder, split and name
    try:
        with open(path, "rb") as f:
            kept = pickle.load(f)
        if kept.get("key") == key:
            _replay(kept["warnings"])
            return kept["dataset"]
    except FileNotFoundError:
        pass
    except Exception as e:  # a damaged or foreign record: parsed again below, and replaced
        log.debug("parsed dataset record %s not used: %s", path, e)
    # The parse's log records are caught, kept (warnings) and then logged as a reused parse logs them: the same
    # lines either way, whatever the level the console shows.
    handler = _Kept()
    logger = logging.getLogger("embedscope.data")
    saved = logger.level, logger.propagate
    logger.setLevel(min(logger.getEffectiveLevel(), logging.WARNING))
    logger.propagate = False
    logger.addHandler(handler)
    try:
        dataset = parse()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    _replay(handler.records)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"key": key, "dataset": dataset, "warnings": handler.warnings}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as e:  # a read-only data cache: parsing every time still works
        log.debug("parsed dataset not kept in %s: %s", cache, e)
    return dataset
