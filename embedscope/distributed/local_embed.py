"""The local engine: tasks one after another in this process. The baseline the cluster engines are measured
against, and the right choice when one machine is enough."""

from __future__ import annotations

from collections.abc import Iterator

from embedscope.distributed.plan import ShardTask, TaskResult
from embedscope.distributed.tasks import embed_task, model_identity


class LocalEngine:
    name = "local"

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> str:
        return "this process"

    def fingerprint(self, spec: str) -> tuple[str, dict]:
        return model_identity(spec)

    def run(self, spec: str, cache_root: str, fingerprint: str, tasks: list[ShardTask]) -> Iterator[TaskResult]:
        for task in tasks:
            yield embed_task(task, spec, cache_root, fingerprint)
