"""What a worker does with one task: embed its texts with a model built there from the spec, write one shard.

Models are never shipped between processes: every worker builds its own from the spec string, once, and keeps
it for the tasks that follow (`worker_model` is cached per process). The worker checks that its model has the
fingerprint the plan was made for, so a machine with other weights cannot mix its vectors into the cache.
"""

from __future__ import annotations

import functools
import os
import socket
import time

import numpy as np

from embedscope.cache import EmbeddingCache
from embedscope.distributed.plan import ShardTask, TaskResult


@functools.lru_cache(maxsize=4)
def worker_model(spec: str):
    from embedscope.models import load_model

    model = load_model(spec)
    if not hasattr(model, "encode_documents"):
        raise ValueError(f"model '{spec}' is not an embedder (it retrieves without vectors); nothing to cache")
    return model


@functools.lru_cache(maxsize=4)
def worker_fingerprint(spec: str) -> str:
    return worker_model(spec).fingerprint()


def model_identity(spec: str) -> tuple[str, dict]:
    """(fingerprint, model.json metadata) of the model this worker builds from `spec`."""
    model = worker_model(spec)
    return worker_fingerprint(spec), {"name": model.name, "class": type(model).__name__, "spec": spec,
                                      "dim": int(model.dim)}


def embed_task(task: ShardTask, spec: str, cache_root: str, fingerprint: str) -> TaskResult:
    if worker_fingerprint(spec) != fingerprint:
        raise RuntimeError(f"model '{spec}' on {socket.gethostname()} has fingerprint {worker_fingerprint(spec)}, "
                           f"the plan was made for {fingerprint}: install the same weights on every worker")
    model = worker_model(spec)
    encode = model.encode_queries if task.role == "query" else model.encode_documents
    started = time.perf_counter()
    vectors = np.asarray(encode(task.texts), dtype=np.float32)
    seconds = time.perf_counter() - started
    if vectors.shape[0] != len(task):
        raise RuntimeError(f"model '{spec}' returned {vectors.shape[0]} vectors for {len(task)} texts")
    EmbeddingCache(cache_root).write_shard(fingerprint, task.role, task.keys, vectors)
    return TaskResult(task.number, task.role, len(task), seconds, f"{socket.gethostname()}:{os.getpid()}")
