"""Every model through one task: embed (cached), score, then intervals and paired tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.cache import EmbeddingCache
from embedscope.compare import model_info, unique_names
from embedscope.runs.context import log as default_log
from embedscope.tasks.base import Outcome, Task, TaskData
from embedscope.tasks.stats import RESAMPLES, SEED, analyse_task
from embedscope.tasks.vectors import Embedding, can_embed, load_for_task


@dataclass
class TaskResult:
    """One model's outcome on the task; `outcome` is None when the model cannot do it (`reason` says why)."""

    name: str
    spec: str | dict
    outcome: Outcome | None
    info: dict = field(default_factory=dict)
    reason: str | None = None

    @property
    def scores(self) -> dict[str, float] | None:
        return self.outcome.scores if self.outcome else None


@dataclass
class TaskComparison:
    task: Task
    data: TaskData
    results: list[TaskResult]
    settings: dict = field(default_factory=dict)
    analysis: dict | None = None

    @property
    def metrics(self) -> list[str]:
        return list(self.task.metrics)

    @property
    def main_metric(self) -> str:
        return self.task.metrics[0]


def cannot(model, task: Task) -> str:
    kind = getattr(model, "run_kind", None) or type(model).__name__
    return (f"{model.name} ({kind}) ranks documents for a query and gives no vectors: it cannot do {task.name}, "
            "which compares embeddings")


def evaluate_task(task: Task, data: TaskData, models: list[str | dict], *, cache_dir: str | Path = ".embedscope-cache",
                  resamples: int = RESAMPLES, seed: int = SEED, log=None) -> TaskComparison:
    """Every model through one task; progress lines go to `log` (the "embedscope" logger unless given)."""
    log = log or default_log.info
    if not models:
        raise ValueError("name at least one model")
    cache = EmbeddingCache(cache_dir)
    built = [load_for_task(spec) for spec in models]
    results = []
    for model, spec, name in zip(built, models, unique_names([m.name for m in built])):
        model.name = name
        if not can_embed(model):
            reason = cannot(model, task)
            log(f"[{name}] {reason}")
            results.append(TaskResult(name, spec, None, {"class": type(model).__name__}, reason))
            continue
        log(f"[{name}] {task.name} on {data.name}: {len(data.units):,} {task.unit.split(' ')[0]}")
        embedding = Embedding(model, cache)
        started = time.perf_counter()
        outcome = task.score(data, embedding)
        info = model_info(model) | {"seconds": time.perf_counter() - started, "embedding": embedding.stats}
        if embedding.stats["encoded"] and embedding.stats["encode_seconds"] > 0:
            info["texts_per_second"] = embedding.stats["encoded"] / embedding.stats["encode_seconds"]
        results.append(TaskResult(name, spec, outcome, info))
    scored = {r.name: r.outcome for r in results if r.outcome is not None}
    analysis = analyse_task(data, scored, list(task.metrics), resamples=resamples, seed=seed, unit=task.unit)
    settings = {"task": task.name, "unit": task.unit, "cache": str(cache_dir),
                **(task.settings() if hasattr(task, "settings") else {})}
    return TaskComparison(task, data, results, settings, analysis)
