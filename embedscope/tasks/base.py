"""The one small Protocol every task type implements, and the shapes that flow between a task and the runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

# embed(texts, role) -> one vector per text, in order. role is "query" (texts embedded as queries: every
# symmetric task, as MTEB prompts them) or "document" (reranking candidates).
Embed = Callable[[Sequence[str], str], np.ndarray]


@dataclass
class TaskSource:
    """Where a task's rows come from: `data` (a table, or a folder with one table per split), the split to
    score, an optional training table, a column mapping and whether CSVs have a header (None: detect)."""

    data: str | Path
    split: str = "test"
    train: str | Path | None = None
    columns: dict[str, str] | None = None
    header: bool | None = None
    name: str | None = None
    max_rows: int | None = None  # evaluate a sample (quick look); MTEB numbers need the full split


@dataclass
class TaskData:
    """A task's rows, ready to score. `units` are what the statistics resample (rows, pairs or queries);
    `strata`, when set, is the class of each unit: bootstrap resamples are drawn within each class."""

    name: str
    units: list[str]
    strata: np.ndarray | None = None
    files: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warned and counted, never silent

    def summary(self) -> dict:
        return {"name": self.name, "units": len(self.units), "files": self.files, **self.counts,
                "notes": self.notes}


@dataclass
class Outcome:
    """One model's result on a task.

    scores      metric -> value, computed the way MTEB computes it (the number to compare with published ones)
    resample    metrics recomputed on a bootstrap sample of units (an index array into data.units); the same
                indices are given to every model, so differences stay paired
    per_unit    for metrics that are a mean over units (accuracy, AP per query, ...): the per-unit values;
                they take the paired randomization test, the others a paired bootstrap test
    details     extra numbers worth keeping (thresholds, per-experiment scores)
    rows        one dict per unit for per_unit.csv (prediction, similarity, ...)
    """

    scores: dict[str, float]
    resample: Callable[[np.ndarray], dict[str, float]]
    per_unit: dict[str, np.ndarray] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)


class Task(Protocol):
    """A task type: reads its tables, embeds what it needs through `embed`, and scores."""

    name: str
    metrics: tuple[str, ...]  # the first is the main metric
    unit: str  # what a bootstrap resample draws, in words (results.json says it)
    roles: dict[str, list[str]]  # column role -> column names tried, in order

    def load(self, source: TaskSource) -> TaskData: ...

    def score(self, data: TaskData, embed: Embed) -> Outcome: ...


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of a[i] with b[i] (1 - sklearn's paired_cosine_distances, as MTEB computes it)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    # sklearn normalizes with norms clipped away from 0: a zero vector has similarity 0, never NaN
    tiny = np.finfo(np.float64).eps
    return np.einsum("ij,ij->i", a, b) / (np.maximum(na, tiny) * np.maximum(nb, tiny))


def normalize(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, np.finfo(np.float64).eps)


def one_thread():
    """Small fits (a few thousand rows) on one BLAS/OpenMP thread: the same results, and no thread pool spinning
    against other work on a busy machine (seconds become milliseconds)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
