"""The Dask engine: one task per shard on a dask.distributed cluster.

Starts a LocalCluster on 127.0.0.1 (one single-threaded worker process per `workers`) or joins a running
scheduler at `address`. Each worker process builds the model from the spec on its first task and keeps it
(`tasks.worker_model` is cached per process). At most `2 x workers` tasks are in flight, so the driver and
scheduler hold only that many shards of text however large the corpus is. Workers write the shards
themselves, so every worker must reach the cache folder (a shared filesystem when the cluster spans machines).
"""

from __future__ import annotations

from collections.abc import Iterator

from embedscope.distributed.plan import ShardTask, TaskResult
from embedscope.distributed.tasks import embed_task, model_identity


class DaskEngine:
    name = "dask"

    def __init__(self, workers: int = 2, address: str | None = None, in_flight_per_worker: int = 2):
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers, self.address, self.in_flight_per_worker = workers, address, in_flight_per_worker
        self.cluster = self.client = None

    def __enter__(self) -> "DaskEngine":
        from dask.distributed import Client, LocalCluster

        if self.address:
            try:
                self.client = Client(self.address, timeout="30s")
            except OSError as e:
                raise OSError(f"cannot reach the Dask scheduler at {self.address}: {e}") from None
        else:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:  # a cluster we started; one we joined keeps running
            self.cluster.close()

    def describe(self) -> str:
        workers = len(self.client.scheduler_info().get("workers", {}))
        return f"Dask at {self.client.scheduler.address} ({workers} worker(s))"

    def fingerprint(self, spec: str) -> tuple[str, dict]:
        return self.client.submit(model_identity, spec, pure=False).result()

    def run(self, spec: str, cache_root: str, fingerprint: str, tasks: list[ShardTask]) -> Iterator[TaskResult]:
        from dask.distributed import as_completed

        if not tasks:
            return
        workers = max(1, len(self.client.scheduler_info().get("workers", {}))) if self.address else self.workers
        limit = workers * self.in_flight_per_worker
        pending = iter(tasks)

        def submit(task: ShardTask):
            return self.client.submit(embed_task, task, spec, cache_root, fingerprint, pure=False)

        first = [submit(t) for _, t in zip(range(limit), pending)]
        running = as_completed(first)
        futures = set(first)
        try:
            for future in running:
                futures.discard(future)
                result = future.result()  # re-raises a worker's error here, with its message
                following = next(pending, None)
                if following is not None:
                    new = submit(following)
                    futures.add(new)
                    running.add(new)
                yield result
        finally:  # interrupted (error, Ctrl-C, consumer stopped): drop the queue; written shards stay valid
            if futures:
                self.client.cancel(list(futures))
