"""On-disk embedding cache keyed by model fingerprint and text hash.

Layout: ROOT/<fingerprint>/<role>/shard-<time>-<random>-<checksum>.parquet (format and checks in
embedscope.cache.shard). Shards are written whole to a temp file and renamed, so a killed run leaves only
complete shards behind and the next run embeds just what is missing. A file lock serialises writers that share
one cache. Any writer that produces shards in this layout — a Ray or Dask cluster embedding a corpus too large
for one machine — feeds the normal pipeline.

How much a kill can cost: a shard is written after at most `flush_seconds` of encoding (or `shard_size`
texts, whichever comes first) and saved on a background thread while the next call encodes, so a killed local
model loses at most about twice that much work. A local model's missing texts are encoded longest first across
the whole set, so each call's batches pad little. An API embedder says how
many texts its next request carries (`request_batch_size`) and how many requests it sends at once
(`concurrency`): each call gets one round of requests, and their vectors are saved before the next round is
sent, so a kill loses at most the requests in flight (one, with concurrency 1) and never bills a saved text
twice.

Every vector is checked before it is written (embedscope.cache.vectors): a bad one is never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from embedscope.cache.shard import CorruptShard, Shard, decode_shard, encode_shard
from embedscope.cache.vectors import BadVectorError, check_policy, describe, text_label, vector_faults
from embedscope.errors import EmbedscopeError

ROLES = ("query", "document")
FIRST_CHUNK = 64  # texts in the first call, before the model's speed is known
log = logging.getLogger("embedscope.cache")


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class CacheError(EmbedscopeError, OSError):
    pass


def texts_in_flight(encode: Callable) -> int | None:
    """How many texts an API embedder sends at once: its next request's size times its concurrency, asked
    afresh before each call (the size adapts to the server). None for a local model. An embedder's bound
    method answers for its embedder."""
    owner = getattr(encode, "__self__", None)
    size = getattr(owner, "request_batch_size", None)
    return int(size) * max(1, int(getattr(owner, "concurrency", 1) or 1)) if size else None


class EmbeddingCache:
    def __init__(self, root: str | Path, shard_size: int = 2048, flush_seconds: float = 30.0,
                 bad_vectors: str = "stop"):
        self.root = Path(root)
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        self.bad_vectors = check_policy(bad_vectors)
        self.set_aside: list[tuple[Path, str]] = []  # corrupt shards found by this process: (new path, reason)
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
        """(keys, vectors) of one shard, or None for a shard that fails its checks (set aside, never trusted)."""
        checked = self._check(shard)
        return None if checked is None else (checked.keys, checked.vectors)

    def _check(self, shard: Path, dim: int | None = None) -> Shard | None:
        try:
            found = decode_shard(shard, fingerprint=shard.parent.parent.name, role=shard.parent.name)
            if dim is not None and found.dim != dim:
                raise CorruptShard(f"{found.dim}-dimensional vectors where the model's other shards have {dim}")
            return found
        except FileNotFoundError:  # another process set it aside first
            return None
        except CorruptShard as e:
            self._set_aside(shard, str(e))
            return None
        except OSError as e:
            raise CacheError(f"cannot read cache shard {shard}: {e.strerror or e}") from None

    def _set_aside(self, shard: Path, reason: str) -> None:
        target = shard.with_suffix(".corrupt")
        try:
            shard.rename(target)
        except FileNotFoundError:
            return
        self.set_aside.append((target, reason))
        log.warning(f"cache: {shard} is corrupt ({reason}); set aside as {target.name}, "
                    f"its texts will be embedded again")

    def iter_shards(self, fingerprint: str, role: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """Shards one at a time, for corpora whose vectors do not fit in memory together. Every shard is
        checked; one that fails is set aside with a warning and skipped. All vectors share the dimension of
        the first intact shard."""
        dim = None
        for shard in self.shards(fingerprint, role):
            found = self._check(shard, dim)
            if found is not None:
                dim = found.dim
                yield found.keys, found.vectors

    def keys(self, fingerprint: str, role: str) -> set[str]:
        """Text keys of every cached vector for this model and role (each shard checked as it is read)."""
        found: set[str] = set()
        for keys, _ in self.iter_shards(fingerprint, role):
            found.update(keys)
        return found

    def load(self, fingerprint: str, role: str) -> dict[str, np.ndarray]:
        """Every cached vector for this model and role, by text key."""
        found: dict[str, np.ndarray] = {}
        for keys, vectors in self.iter_shards(fingerprint, role):
            found.update(zip(keys, vectors))
        return found

    def write_shard(self, fingerprint: str, role: str, keys: list[str], vectors: np.ndarray) -> Path:
        """Save one complete shard atomically. Safe to call from many processes or machines sharing the folder.
        Refuses vectors that may not be cached (not finite), so no writer can put a bad vector in the cache."""
        folder = self.folder(fingerprint, role)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError(f"write_shard needs one 2-D vector per key, got {len(keys)} keys and shape {vectors.shape}")
        faults = vector_faults(vectors)
        if faults:
            row, fault = next(iter(faults.items()))
            raise BadVectorError(f"refusing to cache {len(faults)} bad vector(s) for model {fingerprint} "
                                 f"(text key {keys[row]}: {fault})")
        name, data = encode_shard(fingerprint, role, keys, vectors)
        tmp = folder / f".{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder / ".lock")):
                with open(tmp, "wb") as f:
                    f.write(data)
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
        ids: Sequence[str] | None = None,
        known: dict[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray | None, dict]:
        """Vectors for `texts` in order. Only texts missing from the cache are encoded, and saved as they come
        (see the module notes on what a kill can cost). Returns (vectors, stats) with counts of cached and newly
        encoded texts. `encode` is a function, or an embedder's bound method: then the embedder's
        `request_batch_size` and `concurrency`, where it has them, set how many texts each call gets.

        Every new vector is checked before it is cached. A bad one (wrong dimension, NaN, infinite) is never
        written: with the cache's `bad_vectors="stop"` the call ends with a BadVectorError naming the text (by
        its id in `ids`) and the fault, after saving the good vectors; with "record" its row comes back NaN and
        stats["faults"] maps its positions to the fault.

        With keep_vectors=False the texts are only made sure to be cached and vectors is None: memory stays at
        one shard, for corpora searched straight from the cache (embedscope.index.streaming).

        `known`: vectors the model has made already for some of these texts, by text (its runtime check encodes
        a sample of the run's own texts). Missing texts among them are saved and counted as encoded like the
        rest, without calling `encode`; stats["from_check"] counts them, and the recorded speed leaves them out."""
        if meta and not (self.root / fingerprint / "model.json").exists():
            (self.root / fingerprint).mkdir(parents=True, exist_ok=True)
            (self.root / fingerprint / "model.json").write_text(json.dumps(meta, indent=2, default=str))
        model = (meta or {}).get("name") or fingerprint
        keys = [text_key(t) for t in texts]
        positions = Counter(keys)  # duplicate texts are encoded once but count once per position for progress
        have: dict[str, np.ndarray | None] = {}
        dim = None
        for shard_keys, vectors in self.iter_shards(fingerprint, role):
            dim = vectors.shape[1]
            have.update(zip(shard_keys, vectors) if keep_vectors else dict.fromkeys(shard_keys))
        missing: dict[str, int] = {}  # key -> first position
        for i, key in enumerate(keys):
            if key not in have and key not in missing:
                missing[key] = i
        cached = len(keys) - sum(1 for k in keys if k in missing)
        if on_progress and cached:
            on_progress(cached)
        faults: dict[str, str] = {}  # key -> fault, texts whose vectors were refused
        encode_seconds = 0.0
        # A local model's shards are written on a background thread while the next call encodes; an API's are
        # saved before its next round of requests is sent (a kill never bills a saved text twice).
        writes = ShardWriter(self, fingerprint, role, background=not texts_in_flight(encode))

        def save(chunk: list[tuple[str, int]], vectors, seconds: float) -> None:
            nonlocal dim, encode_seconds
            encode_seconds += seconds
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
                got = vectors.shape[0] if vectors.ndim else 0
                raise BadVectorError(f"model '{model}' returned {got} vectors for {len(chunk)} {role}s")
            bad = vector_faults(vectors, dim)
            good = [row for row in range(len(chunk)) if row not in bad]
            if good:
                dim = vectors.shape[1]
                writes.submit([chunk[r][0] for r in good], vectors[good])
                if keep_vectors:
                    have.update((chunk[r][0], vectors[r]) for r in good)
            for row, fault in bad.items():
                faults[chunk[row][0]] = fault
            if bad and self.bad_vectors == "stop":
                named = {text_label(ids, texts, chunk[r][1]): f for r, f in bad.items()}
                raise BadVectorError(describe(model, role, named, len(texts)))
            if on_progress:
                on_progress(sum(positions[k] for k, _ in chunk))

        ready = [(key, i) for key, i in missing.items() if texts[i] in known] if known else []
        with writes:
            if ready:
                save(ready, np.stack([known[texts[i]] for _, i in ready]), 0.0)
            taken = {key for key, _ in ready}
            self._encode_missing([item for item in missing.items() if item[0] not in taken], texts, encode, save)
        if not keep_vectors:
            matrix = None
        elif not keys:
            matrix = np.zeros((0, 0), np.float32)
        else:
            nan = np.full(dim or 1, np.nan, np.float32)
            matrix = np.stack([have[k] if k in have else nan for k in keys])
        stats = {"texts": len(keys), "cached": cached, "encoded": len(missing), "encode_seconds": encode_seconds,
                 "write_seconds": writes.seconds, "write_wait_seconds": writes.waited}
        if ready:
            stats["from_check"] = len(ready)
        if len(missing) > len(ready) and encode_seconds > 0:
            self.record_speed(fingerprint, role, len(missing) - len(ready), encode_seconds)
        elif not missing and (recorded := self.recorded_speed(fingerprint, role)):
            stats["recorded_speed"] = recorded  # every text was cached: the speed measured when they were encoded
        if faults:
            stats["faults"] = {i: faults[k] for i, k in enumerate(keys) if k in faults}
        return matrix, stats

    def record_speed(self, fingerprint: str, role: str, texts: int, seconds: float) -> None:
        """Add an encoding's texts and seconds to the model's speed record (speed.json beside its shards), so a
        later run that finds every vector cached can still say how fast the model encodes. Best effort: a
        record that cannot be written is only logged."""
        path = self.root / fingerprint / "speed.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.root / fingerprint / ".speed.lock")):
                record = self._speed_record(path)
                entry = record.get(role) or {"texts": 0, "seconds": 0.0}
                record[role] = {"texts": int(entry["texts"]) + int(texts), "seconds": float(entry["seconds"]) + seconds,
                                "measured": time.strftime("%Y-%m-%d", time.gmtime())}
                tmp = path.with_name(f".speed.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
                os.replace(tmp, path)
        except OSError as e:
            log.warning(f"cache: could not record the encoding speed in {path}: {e.strerror or e}")

    def recorded_speed(self, fingerprint: str, role: str) -> dict | None:
        """{"texts_per_second", "texts", "measured"} from the model's speed record, or None."""
        entry = self._speed_record(self.root / fingerprint / "speed.json").get(role)
        try:
            texts, seconds = int(entry["texts"]), float(entry["seconds"])
        except (TypeError, KeyError, ValueError):
            return None
        if texts <= 0 or not seconds > 0:
            return None
        return {"texts_per_second": texts / seconds, "texts": texts, "measured": entry.get("measured")}

    @staticmethod
    def _speed_record(path: Path) -> dict:
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _encode_missing(self, todo: list[tuple[str, int]], texts: Sequence[str], encode: Callable,
                        save: Callable[[list, np.ndarray, float], None]) -> None:
        """Encode `todo` ((key, position) pairs) in calls sized so each result is saved soon: one round of an
        API embedder's requests, else about `flush_seconds` of encoding (from the speed so far); never more than
        `shard_size` texts."""
        limit = self.shard_size

        def call(chunk):
            started = time.perf_counter()
            vectors = encode([texts[i] for _, i in chunk])
            return chunk, vectors, time.perf_counter() - started

        if texts_in_flight(encode):  # an API: one round of requests per call, saved before the next is sent
            start = 0
            while start < len(todo):
                end = start + max(1, min(limit, texts_in_flight(encode)))
                save(*call(todo[start:end]))
                start = end
            return
        # A local model: longest first, across everything missing rather than call by call, so each call (and
        # shard) holds texts of about one length: the encoder's batches pad little, and the slowest work shows first.
        todo = sorted(todo, key=lambda item: -len(texts[item[1]]))
        chars_per_second, start = None, 0
        while start < len(todo):
            if chars_per_second is None:
                end = min(len(todo), start + min(limit, FIRST_CHUNK))
            else:
                budget, end = chars_per_second * self.flush_seconds, start
                while end < len(todo) and end - start < limit and budget > 0:
                    budget -= len(texts[todo[end][1]]) + 1
                    end += 1
            chunk, vectors, seconds = call(todo[start:end])
            chars = sum(len(texts[i]) + 1 for _, i in chunk)
            chars_per_second = chars / max(seconds, 1e-6)
            save(chunk, vectors, seconds)
            start = end


class ShardWriter:
    """Writes shards on a background thread, one at a time, while the caller encodes the next; leaving the
    `with` block waits for the last write and raises its error, if any. At most one shard waits in memory.
    With background=False each shard is written before submit returns."""

    def __init__(self, cache: EmbeddingCache, fingerprint: str, role: str, background: bool = True):
        self.cache, self.fingerprint, self.role, self.background = cache, fingerprint, role, background
        self.pending = None
        self.seconds = 0.0  # spent writing, on the writer thread
        self.waited = 0.0  # the encoding side spent waiting for a write to finish
        self._pool = None

    def _write(self, keys: list[str], vectors: np.ndarray) -> None:
        started = time.perf_counter()
        self.cache.write_shard(self.fingerprint, self.role, keys, vectors)
        self.seconds += time.perf_counter() - started

    def _wait(self) -> None:
        if self.pending is not None:
            started = time.perf_counter()
            pending, self.pending = self.pending, None
            pending.result()
            self.waited += time.perf_counter() - started

    def submit(self, keys: list[str], vectors: np.ndarray) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._wait()
        if not self.background:
            self._write(keys, vectors)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedscope-cache")
        self.pending = self._pool.submit(self._write, keys, vectors)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self._wait()
            elif self.pending is not None:  # already failing: let the write that was started finish quietly
                self.pending.exception()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def _floats(values) -> np.ndarray:
    """An Arrow float array as a float32 numpy copy. float32 without nulls (what write_shard stores) is copied
    straight from its buffer: Array.to_numpy imports pandas, a second of a cached run's start."""
    import pyarrow as pa

