"""A task run directory read back: its data reloaded from the source recorded in results.json, and its texts shaped
as a retrieval dataset so that `embedscope bench --run-dir` measures speed, footprint and cost on them."""

from __future__ import annotations

from embedscope.data.dataset import Dataset, Document
from embedscope.tasks import TaskSource, get_task


def reload(results):
    """(task, data) of a task run directory (its `embedscope.results.Results`)."""
    source = dict(results.settings.source)
    task = get_task(source.pop("task"))
    return task, task.load(TaskSource(**{k: v for k, v in source.items() if k in TaskSource.__dataclass_fields__}))


def texts_of(data) -> tuple[list[str], list[str]]:
    """(texts embedded as documents or on their own, texts embedded as queries) of a task's data, each once."""
    if hasattr(data, "candidates"):  # reranking
        return [c for cands in data.candidates for c in cands], list(data.queries)
    if hasattr(data, "text1"):  # sts, pairs
        return list(data.text1) + list(data.text2), list(data.text1)
    return list(data.texts) + list(getattr(data, "train_texts", [])), list(data.texts)


def as_dataset(results) -> Dataset:
    _, data = reload(results)
    documents, queries = (list(dict.fromkeys(t)) for t in texts_of(data))
    return Dataset(name=data.name, corpus={str(i): Document(str(i), t) for i, t in enumerate(documents)},
                   queries={str(i): t for i, t in enumerate(queries)})
