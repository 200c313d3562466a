"""Split embedding work into shard-sized tasks, leaving out every text the cache already holds.

A task is one future cache shard: the texts it embeds and their keys. Whatever runs the tasks (this process,
a Dask cluster, Ray actors) writes each finished task as one shard with `EmbeddingCache.write_shard`, so a run
that dies loses at most its in-flight tasks; planning again finds the written shards and skips their texts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from embedscope.cache import EmbeddingCache, text_key


@dataclass(frozen=True)
class ShardTask:
    """Texts for one shard. `role` picks encode_documents or encode_queries on the worker."""

    number: int
    role: str
    keys: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TaskResult:
    """What a worker reports back for one task: how many texts it embedded and how long the model took."""

    number: int
    role: str
    encoded: int
    encode_seconds: float
    worker: str = ""


@dataclass
class Plan:
    fingerprint: str
    tasks: list[ShardTask]
    texts: dict[str, int] = field(default_factory=dict)  # per role: texts asked for (duplicates included)
    unique: dict[str, int] = field(default_factory=dict)  # per role: distinct texts
    cached: dict[str, int] = field(default_factory=dict)  # per role: distinct texts already in the cache

    @property
    def todo(self) -> int:
        return sum(len(t) for t in self.tasks)

    def limit(self, max_tasks: int | None) -> "Plan":
        """The same plan with only its first `max_tasks` tasks (a partial run, e.g. a budgeted batch job)."""
        if max_tasks is None:
            return self
        return Plan(self.fingerprint, self.tasks[:max_tasks], self.texts, self.unique, self.cached)

    def summary(self) -> str:
        parts = [f"{role}: {self.unique[role]:,} unique texts, {self.cached[role]:,} cached" for role in self.unique]
        return "; ".join(parts) + f"; {self.todo:,} to embed in {len(self.tasks):,} shard(s)"


def cached_keys(cache: EmbeddingCache, fingerprint: str, role: str) -> set[str]:
    """Keys already cached for this model and role, from shards that pass their checks (the cache sets any
    other aside, so its texts count as missing and are planned again)."""
    return cache.keys(fingerprint, role)


def plan(cache: EmbeddingCache, fingerprint: str, texts: dict[str, Sequence[str]], shard_size: int | None = None) -> Plan:
    """Tasks that embed every text in `texts` ({role: texts}) missing from the cache, `shard_size` per task.

    Duplicate texts are embedded once. Tasks come in input order, so a partial run fills the cache from the front.
    """
    shard_size = cache.shard_size if shard_size is None else shard_size
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    tasks: list[ShardTask] = []
    result = Plan(fingerprint, tasks)
    for role, role_texts in texts.items():
        have = cached_keys(cache, fingerprint, role)
        missing: dict[str, str] = {}
        seen: set[str] = set()
        for text in role_texts:
            key = text_key(text)
            seen.add(key)
            if key not in have and key not in missing:
                missing[key] = text
        result.texts[role] = len(role_texts)
        result.unique[role] = len(seen)
        result.cached[role] = len(seen) - len(missing)
        todo = list(missing.items())
        for start in range(0, len(todo), shard_size):
            chunk = todo[start : start + shard_size]
            tasks.append(ShardTask(len(tasks), role, [k for k, _ in chunk], [t for _, t in chunk]))
    return result


def write_model_meta(cache: EmbeddingCache, fingerprint: str, meta: dict) -> None:
    """model.json beside the shards, as `EmbeddingCache.encode` writes it, so cache listings name the model."""
    path = cache.root / fingerprint / "model.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(meta, indent=2, default=str))
