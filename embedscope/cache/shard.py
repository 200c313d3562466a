"""One cache shard on disk, and how it proves it is intact.

A shard is a Parquet table of `key` (hex text hash) and `vector` (fixed-size list of float32). Its schema
metadata names the model fingerprint and role it belongs to, the number of vectors and their dimension; its
file name ends in a BLAKE2b checksum of the whole file:

    shard-<time ns>-<random>-<checksum of the file>.parquet

Any change to the file after it was written (a flipped bit anywhere, a truncation, a shard copied into another
model's folder) fails the check on read, and the shard is set aside instead of being trusted. Shards written
before checksums existed (no checksum in the name) are still read, with their vectors checked for finite values.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMAT = 2
METADATA_KEY = b"embedscope"
NAME = re.compile(r"^shard-(\d{20})-([0-9a-f]{8})(?:-([0-9a-f]{32}))?\.parquet$")


class CorruptShard(Exception):
    """A shard that must not be trusted; the message says why."""


@dataclass
class Shard:
    keys: list[str]
    vectors: np.ndarray
    checked: bool  # False for a shard written before checksums: only its values could be checked

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def checksum(data) -> str:
    """BLAKE2b of bytes or any buffer (a memory-mapped file is hashed without a copy)."""
    return hashlib.blake2b(memoryview(data), digest_size=16).hexdigest()


def encode_shard(fingerprint: str, role: str, keys: list[str], vectors: np.ndarray) -> tuple[str, bytes]:
    """(file name, file bytes) of a new shard; the name carries the checksum of exactly these bytes."""
    meta = {"format": FORMAT, "fingerprint": fingerprint, "role": role, "count": len(keys),
            "dim": int(vectors.shape[1])}
    table = pa.table({
        "key": pa.array(keys, pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
    }).replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    return f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-{checksum(data)}.parquet", data


def decode_shard(path: Path, fingerprint: str, role: str) -> Shard:
    """The shard at `path`, checked against its checksum and against the model and role of its folder.
    Raises CorruptShard with the reason; OSError when the file cannot be read at all."""
    match = NAME.match(path.name)
    if not match:
        raise CorruptShard("not a shard file name")
    # Memory-mapped: hashed and parsed from the page cache, so a shard is not also held as a Python bytes copy.
    data = pa.memory_map(str(path)).read_buffer()
    expected = match.group(3)
    if expected is not None and checksum(data) != expected:
        raise CorruptShard(f"checksum mismatch ({data.size:,} bytes): the file changed after it was written")
    try:
        # ParquetFile reads the one file directly (read_table goes through the dataset API and imports pandas).
        table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
        keys = table.column("key").to_pylist()
        column = table.column("vector").combine_chunks()
        dim = column.type.list_size
        # A copy owned by numpy, so the Arrow buffers are freed now rather than when the vectors are.
        vectors = _floats(column.values).reshape(-1, dim)
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        del table, column  # the vectors are numpy's own copy now; free the Arrow buffers at once
    except Exception as e:  # any decoding failure: truncated, not Parquet, missing columns
        raise CorruptShard(f"unreadable ({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None
    if expected is not None:
        if raw is None:
            raise CorruptShard("no embedscope metadata")
        meta = json.loads(raw)
        if meta.get("fingerprint") != fingerprint or meta.get("role") != role:
            raise CorruptShard(f"belongs to model {meta.get('fingerprint')} ({meta.get('role')}), "
                               f"not to this folder's model {fingerprint} ({role})")
        if meta.get("count") != len(keys) or meta.get("dim") != dim:
            raise CorruptShard(f"holds {len(keys)} vectors of {dim} dimensions, its metadata says "
                               f"{meta.get('count')} of {meta.get('dim')}")
    if len(keys) != len(vectors):
        raise CorruptShard(f"{len(keys)} keys but {len(vectors)} vectors")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise CorruptShard(f"{int(bad.sum())} vector(s) with NaN or infinite values")
    return Shard(keys, vectors, checked=expected is not None)


def _floats(values) -> np.ndarray:
    """An Arrow float array as a float32 numpy copy. float32 without nulls (what shards store) is copied straight
    from its buffer: Array.to_numpy imports pandas, a second of a cached run's start."""
    if values.type == pa.float32() and values.null_count == 0:
        return np.frombuffer(values.buffers()[1], dtype=np.float32, count=len(values), offset=values.offset * 4).copy()
    return np.array(values.to_numpy(zero_copy_only=False), dtype=np.float32)
