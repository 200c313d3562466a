"""Encode throughput, single-query latency and peak memory of one embedder on this machine.

Memory is the process's resident set size (RSS, psutil) sampled on a background thread: it sees native
allocations (torch, ONNX Runtime, BLAS) that tracemalloc cannot, at the cost of counting everything the process
does meanwhile. Numbers are deltas against the RSS just before the measured step.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

MEMORY_METHOD = "psutil RSS sampled every 5 ms; delta over the RSS before the step"


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(values.mean()),
            "max": float(values.max()), "n": int(values.size)}


class PeakRSS:
    """Context manager: the highest RSS seen while inside, minus the RSS on entry (bytes)."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


@dataclass
class SpeedResult:
    model: str
    dim: int
    documents: int
    tokens: int | None
    token_counter: str | None
    encode_seconds: float
    docs_per_second: float
    tokens_per_second: float | None
    query_latency_ms: dict = field(default_factory=dict)
    encode_peak_rss_delta_mb: float | None = None
    load_rss_delta_mb: float | None = None
    load_seconds: float | None = None
    memory_method: str = MEMORY_METHOD

    def to_dict(self) -> dict:
        return asdict(self)


def measure_throughput(encode, texts: Sequence[str], warmup: int = 16) -> tuple[float, float]:
    """(seconds, peak RSS delta MB) to encode all texts in one call, after a small warm-up call."""
    if warmup:
        encode(list(texts[:warmup]))
    with PeakRSS() as rss:
        started = time.perf_counter()
        encode(list(texts))
        seconds = time.perf_counter() - started
    return seconds, rss.delta_mb


def measure_latency(encode, queries: Sequence[str], repeats: int | None = None, warmup: int = 5) -> dict[str, float]:
    """Single-query latency (one text per call, as a search box sends it), percentiles in milliseconds."""
    queries = list(queries)
    if not queries:
        return {}
    for q in queries[:warmup]:
        encode([q])
    samples = []
    for i in range(repeats or len(queries)):
        started = time.perf_counter()
        encode([queries[i % len(queries)]])
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def benchmark(model, documents: Sequence[str], queries: Sequence[str], *, latency_queries: int = 100,
              warmup: int = 16, count_tokens=None) -> SpeedResult:
    """Throughput over `documents` (encode_documents) and latency over single `queries` (encode_queries)."""
    from embedscope.perf.tokens import model_counter

    seconds, peak = measure_throughput(model.encode_documents, documents, warmup=warmup)
    latency = measure_latency(model.encode_queries, list(queries)[:latency_queries], warmup=min(5, warmup))
    counter = (count_tokens, "given") if count_tokens else model_counter(model, truncate=True)
    tokens = int(sum(counter[0](documents))) if counter else None
    return SpeedResult(
        model=model.name, dim=int(model.dim), documents=len(documents), tokens=tokens,
        token_counter=counter[1] if counter else None, encode_seconds=seconds,
        docs_per_second=len(documents) / seconds if seconds > 0 else float("inf"),
        tokens_per_second=tokens / seconds if tokens and seconds > 0 else None,
        query_latency_ms=latency, encode_peak_rss_delta_mb=peak,
    )


def load_measured(spec):
    """(model, seconds, RSS delta MB) for loading a model spec: what it costs to have the model in memory."""
    from embedscope.models import load_model

    with PeakRSS() as rss:
        started = time.perf_counter()
        model = load_model(spec)
        seconds = time.perf_counter() - started
    return model, seconds, rss.delta_mb


INT8_FLAGS = {"avx512_vnni", "avx_vnni", "avx_vnni_int8", "amx_int8"}  # int8 dot products; bf16 flags are not


def hardware() -> dict:
    import psutil

    info = {"machine": platform.machine(), "processor": platform.processor() or None, "system": platform.system(),
            "cpu_count_logical": os.cpu_count(), "cpu_count_physical": psutil.cpu_count(logical=False),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), None)
        flags = set(next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), []))
        # int8 dot-product instructions decide how much int8 models gain over fp32 here
        info["int8_instructions"] = sorted(flags & INT8_FLAGS)
    except OSError:
        pass
    return info
