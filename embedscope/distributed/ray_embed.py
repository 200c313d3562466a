"""The Ray engine: Ray Data streams shard tasks through a pool of actors, one model per actor.

Starts Ray on this machine bound to 127.0.0.1 (no dashboard, no usage reporting) or joins a cluster at
`address` ('auto' or 'ray://host:10001'). Each actor builds the model from the spec once, in its
constructor, and takes a GPU when the cluster has them (`num_gpus=1` per actor), else one CPU. Actors write
the shards themselves, so every node must reach the cache folder (a shared filesystem across machines).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict

from embedscope.distributed.plan import ShardTask, TaskResult
from embedscope.distributed.tasks import embed_task, model_identity


class ShardEmbedder:
    """Ray Data actor: one model per actor process, one shard written per task row."""

    def __init__(self, spec: str, cache_root: str, fingerprint: str):
        from embedscope.distributed.tasks import worker_model

        self.spec, self.cache_root, self.fingerprint = spec, cache_root, fingerprint
        worker_model(spec)  # build now, so the first batch is not slower than the rest

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"number": [], "role": [], "encoded": [], "encode_seconds": [], "worker": []}
        for number, role, keys, texts in zip(batch["number"], batch["role"], batch["keys"], batch["texts"]):
            task = ShardTask(int(number), str(role), [str(k) for k in keys], [str(t) for t in texts])
            result = embed_task(task, self.spec, self.cache_root, self.fingerprint)
            for field, values in out.items():
                values.append(getattr(result, field))
        return out


class RayEngine:
    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, gpus_per_worker: float | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers, self.address, self.gpus_per_worker = workers, address, gpus_per_worker
        self.started = False

    def __enter__(self) -> "RayEngine":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
        import ray

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                         log_to_driver=False, configure_logging=False)
            self.started = True
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours is drawn from the results as they stream back
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self.started:  # a Ray we started; one the caller started keeps running
            ray.shutdown()

    def describe(self) -> str:
        import ray

        resources = ray.cluster_resources()
        return f"Ray ({int(resources.get('CPU', 0))} CPU, {int(resources.get('GPU', 0))} GPU), {self.workers} actor(s)"

    def _gpus(self) -> float:
        import ray

        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0

    def fingerprint(self, spec: str) -> tuple[str, dict]:
        import ray

        return ray.get(ray.remote(model_identity).options(num_cpus=1).remote(spec))

    def run(self, spec: str, cache_root: str, fingerprint: str, tasks: list[ShardTask]) -> Iterator[TaskResult]:
        import ray.data

        if not tasks:
            return
        gpus = self._gpus()
        dataset = ray.data.from_items([asdict(t) for t in tasks], override_num_blocks=min(len(tasks), 10_000))
        dataset = dataset.map_batches(
            ShardEmbedder,
            fn_constructor_kwargs={"spec": spec, "cache_root": cache_root, "fingerprint": fingerprint},
            batch_size=1,  # one row is one whole shard task
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_gpus=gpus,
            num_cpus=0 if gpus else 1,
        )
        # Streaming: results come back as actors finish shards; stopping early shuts the pipeline down.
        for row in dataset.iter_rows():
            yield TaskResult(int(row["number"]), str(row["role"]), int(row["encoded"]),
                             float(row["encode_seconds"]), str(row["worker"]))
