"""Tasks beyond retrieval: classification, STS, pair classification, clustering, reranking.

Each task type is one file behind the `Task` Protocol (embedscope.tasks.base): it reads its labelled tables
(CSV/TSV/JSONL/Parquet, columns mapped by role), asks for the embeddings it needs, and scores them the way MTEB
does so published numbers compare. `evaluate_task` runs every model through one task with the embedding cache
and adds bootstrap intervals and Holm-corrected paired tests over the task's unit.

Task specs (CLI `--task`) take options like model specs: `classification?samples_per_label=16&experiments=5`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from embedscope.tasks.base import Outcome, Task, TaskData, TaskSource
from embedscope.tasks.classification import ClassificationTask
from embedscope.tasks.clustering import ClusteringTask
from embedscope.tasks.pairs import PairClassificationTask
from embedscope.tasks.reranking import RerankingTask
from embedscope.tasks.sts import STSTask

TASKS = {"classification": ClassificationTask, "sts": STSTask, "pairs": PairClassificationTask,
         "clustering": ClusteringTask, "reranking": RerankingTask}
ALIASES = {"pair-classification": "pairs", "pair_classification": "pairs", "duplicates": "pairs",
           "similarity": "sts", "clusters": "clustering", "rerank": "reranking"}
RETRIEVAL = "retrieval"


def task_names() -> list[str]:
    return [RETRIEVAL, *TASKS]


def get_task(spec: str) -> Task:
    """A task from 'name' or 'name?option=value&...'."""
    from embedscope.models import _coerce

    head, _, query = spec.partition("?")
    name = ALIASES.get(head.strip().lower(), head.strip().lower())
    if name not in TASKS:
        raise ValueError(f"unknown task '{head}'; known: {', '.join(task_names())}")
    options = {k: _coerce(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    try:
        return TASKS[name](**options)
    except TypeError as e:
        raise ValueError(f"task '{spec}': {e}") from None


def evaluate_task(*args, **kwargs):
    from embedscope.tasks.evaluate import evaluate_task as run

    return run(*args, **kwargs)


__all__ = ["ALIASES", "RETRIEVAL", "TASKS", "Outcome", "Task", "TaskData", "TaskSource", "evaluate_task", "get_task",
           "task_names"]
