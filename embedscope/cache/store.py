"""On-disk embedding cache keyed by model fingerprint and text hash.

Layout: ROOT/<fingerprint>/<role>/shard-<time>-<uuid>.parquet, each shard a Parquet table with `key` (hex
text hash) and `vector` (fixed-size list of float32). Shards are written whole to a temp file and renamed, so a
killed run leaves only complete shards behind and the next run embeds just what is missing. A file lock
serialises writers that share one cache. Any writer that produces shards in this layout — a Ray or Dask cluster
embedding a corpus too large for one machine — feeds the normal pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from embedscope.errors import EmbedscopeError

ROLES = ("query", "document")


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class CacheError(EmbedscopeError, OSError):
    pass


class EmbeddingCache:
    def __init__(self, root: str | Path, shard_size: int = 2048):
        self.root = Path(root)
        self.shard_size = shard_size
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create cache directory {self.root}: {e.strerror or e}") from None
        if not os.access(self.root, os.W_OK):
            raise CacheError(f"cache directory {self.root} is not writable")

    def folder(self, fingerprint: str, role: str) -> Path:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        return self.root / fingerprint / role

    def shards(self, fingerprint: str, role: str) -> list[Path]:
        return sorted(self.folder(fingerprint, role).glob("shard-*.parquet"))

    def read_shard(self, shard: Path) -> tuple[list[str], np.ndarray] | None:
        """(keys, vectors) of one shard, or None for a shard that cannot be read (set aside, never trusted)."""
        try:
            # ParquetFile reads the one file directly (read_table goes through the dataset API and imports pandas);
            # no reader threads are left holding buffers after return.
            table = pq.ParquetFile(shard).read(use_threads=False)
            keys = table.column("key").to_pylist()
            column = table.column("vector").combine_chunks()
            dim = column.type.list_size
            # A copy owned by numpy, so the Arrow buffers are freed now rather than when the vectors are.
            vectors = _floats(column.values).reshape(-1, dim)
            del table, column
            if len(keys) != len(vectors):
                raise ValueError("key and vector counts differ")
            return keys, vectors
        except Exception:
            shard.rename(shard.with_suffix(".corrupt"))
            return None

    def iter_shards(self, fingerprint: str, role: str):
        """Shards one at a time, for corpora whose vectors do not fit in memory together."""
        for shard in self.shards(fingerprint, role):
            read = self.read_shard(shard)
            if read is not None:
                yield read

    def keys(self, fingerprint: str, role: str) -> set[str]:
        """Text keys of every cached vector for this model and role, without reading the vectors."""
        found: set[str] = set()
        for shard in self.shards(fingerprint, role):
            try:
                found.update(pq.ParquetFile(shard).read(columns=["key"], use_threads=False).column("key").to_pylist())
            except Exception:
                shard.rename(shard.with_suffix(".corrupt"))  # as read_shard: set aside, never trusted
        return found

    def load(self, fingerprint: str, role: str) -> dict[str, np.ndarray]:
        """Every cached vector for this model and role, by text key."""
        found: dict[str, np.ndarray] = {}
        for keys, vectors in self.iter_shards(fingerprint, role):
            found.update(zip(keys, vectors))
        return found

    def write_shard(self, fingerprint: str, role: str, keys: list[str], vectors: np.ndarray) -> Path:
        """Save one complete shard atomically. Safe to call from many processes or machines sharing the folder."""
        folder = self.folder(fingerprint, role)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError(f"write_shard needs one 2-D vector per key, got {len(keys)} keys and shape {vectors.shape}")
        table = pa.table({
            "key": pa.array(keys, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
        })
        name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder / ".lock")):
                with open(tmp, "wb") as f:
                    pq.write_table(table, f, compression="zstd")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, folder / name)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise CacheError(f"cannot write embedding cache shard in {folder}: {e.strerror or e}") from None
        return folder / name

    def encode(
        self,
        fingerprint: str,
        role: str,
        texts: Sequence[str],
        encode: Callable[[Sequence[str]], np.ndarray],
        *,
        on_progress: Callable[[int], None] | None = None,
        meta: dict | None = None,
        keep_vectors: bool = True,
    ) -> tuple[np.ndarray | None, dict]:
        """Vectors for `texts` in order. Only texts missing from the cache are encoded, in shards that are
        saved as soon as they are done. Returns (vectors, stats) with counts of cached and newly encoded texts.

        With keep_vectors=False the texts are only made sure to be cached and vectors is None: memory stays at
        one shard, for corpora searched straight from the cache (embedscope.index.streaming)."""
        folder = self.folder(fingerprint, role)
        if meta and not (self.root / fingerprint / "model.json").exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            (self.root / fingerprint / "model.json").write_text(json.dumps(meta, indent=2, default=str))
        keys = [text_key(t) for t in texts]
        positions = Counter(keys)  # duplicate texts are encoded once but count once per position for progress
        have: dict[str, np.ndarray | None] = (self.load(fingerprint, role) if keep_vectors
                                              else dict.fromkeys(self.keys(fingerprint, role)))
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in have and key not in missing:
                missing[key] = text
        cached = len(keys) - sum(1 for k in keys if k in missing)
        if on_progress and cached:
            on_progress(cached)
        todo = list(missing.items())
        encode_seconds = 0.0
        for start in range(0, len(todo), self.shard_size):
            chunk = todo[start : start + self.shard_size]
            started = time.perf_counter()
            vectors = np.asarray(encode([t for _, t in chunk]), dtype=np.float32)
            encode_seconds += time.perf_counter() - started
            if vectors.shape[0] != len(chunk):
                raise RuntimeError(f"model returned {vectors.shape[0]} vectors for {len(chunk)} texts")
            self.write_shard(fingerprint, role, [k for k, _ in chunk], vectors)
            if keep_vectors:
                have.update(zip((k for k, _ in chunk), vectors))
            if on_progress:
                on_progress(sum(positions[k] for k, _ in chunk))
        if not keep_vectors:
            matrix = None
        else:
            matrix = np.stack([have[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
        stats = {"texts": len(keys), "cached": cached, "encoded": len(todo), "encode_seconds": encode_seconds}
        return matrix, stats


def _floats(values) -> np.ndarray:
    """An Arrow float array as a float32 numpy copy. float32 without nulls (what write_shard stores) is copied
    straight from its buffer: Array.to_numpy imports pandas, a second of a cached run's start."""
    import pyarrow as pa

    if values.type == pa.float32() and values.null_count == 0:
        return np.frombuffer(values.buffers()[1], dtype=np.float32, count=len(values), offset=values.offset * 4).copy()
    return np.array(values.to_numpy(zero_copy_only=False), dtype=np.float32)
