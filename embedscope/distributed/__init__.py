"""Distributed embedding: fill the embedding cache from a cluster, resumably, one shard per task.

    with make_engine("dask", workers=8) as engine:
        report = embed(engine, "minilm", {"document": texts}, cache)

The engines (local, Dask, Ray) only run tasks; `plan` decides what is left to embed, so a run that stops
for any reason is finished by running it again. The normal pipeline (`DenseRetriever`) then finds every
vector in the cache and embeds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from embedscope import progress
from embedscope.cache import EmbeddingCache
from embedscope.distributed.plan import Plan, ShardTask, TaskResult, plan, write_model_meta

ENGINES = ("local", "dask", "ray")


def make_engine(name: str, workers: int = 2, address: str | None = None, **options):
    """An engine by name; use it as a context manager (it starts or joins the cluster, and stops what it started)."""
    if name == "local":
        from embedscope.distributed.local_embed import LocalEngine

        return LocalEngine()
    if name == "dask":
        from embedscope.distributed.dask_embed import DaskEngine

        return DaskEngine(workers, address, **options)
    if name == "ray":
        from embedscope.distributed.ray_embed import RayEngine

        return RayEngine(workers, address, **options)
    raise ValueError(f"unknown engine '{name}'; choose one of {', '.join(ENGINES)}")


@dataclass
class EmbedReport:
    fingerprint: str
    plan: Plan
    results: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def encoded(self) -> int:
        return sum(r.encoded for r in self.results)

    @property
    def texts_per_second(self) -> float:
        return self.encoded / self.seconds if self.seconds else 0.0


def embed(engine, spec: str, texts: dict[str, Sequence[str]], cache: EmbeddingCache, *,
          shard_size: int | None = None, max_tasks: int | None = None,
          on_result: Callable[[TaskResult], None] | None = None) -> EmbedReport:
    """Embed every text in `texts` ({role: texts}) that `cache` lacks, on `engine` (already entered).

    `max_tasks` stops after that many shards (a partial run; the next run continues). `on_result` hears of
    each shard as it is written; an exception raised there stops the run, keeping the shards already written.
    """
    fingerprint, meta = engine.fingerprint(spec)
    work = plan(cache, fingerprint, texts, shard_size).limit(max_tasks)
    write_model_meta(cache, fingerprint, meta)
    report = EmbedReport(fingerprint, work)
    started = time.perf_counter()
    try:
        with progress.task(f"{spec}: embedding on {engine.name}", work.todo) as advance:
            for result in engine.run(spec, str(cache.root.resolve()), fingerprint, work.tasks):
                report.results.append(result)
                advance(result.encoded)
                if on_result:
                    on_result(result)
    finally:
        report.seconds = time.perf_counter() - started
    return report


__all__ = ["ENGINES", "EmbedReport", "Plan", "ShardTask", "TaskResult", "embed", "make_engine", "plan"]
