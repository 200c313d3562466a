"""Load test of an OpenAI-compatible embeddings server: N concurrent clients, bounded by requests and time.

Each client thread sends one request after another (closed loop), so `concurrency` is the number of requests
in flight. Reports completed requests per second over the wall-clock time, latency percentiles of the
successful requests, and the errors.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from embedscope.perf.speed import percentiles

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def load_test(url: str, texts: Sequence[str], *, model: str = "default", concurrency: int = 4, requests: int = 100,
              duration_s: float = 30.0, batch: int = 1, timeout_s: float = 30.0, api_key: str | None = None,
              allow_remote: bool = False) -> dict:
    """POST {url}/embeddings (url like http://127.0.0.1:8000/v1) until `requests` are done or `duration_s` passes."""
    import httpx

    host = urlparse(url).hostname
    if not allow_remote and host not in LOOPBACK:
        raise ValueError(f"--url {url}: load tests target a server on this machine (127.0.0.1) only")
    if not texts:
        raise ValueError("load test needs at least one text")
    if concurrency < 1 or requests < 1 or batch < 1:
        raise ValueError("concurrency, requests and batch must be at least 1")
    endpoint = url.rstrip("/") + "/embeddings"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    errors: Counter = Counter()
    deadline = time.perf_counter() + duration_s

    def take() -> int | None:
        nonlocal issued
        with lock:
            if issued >= requests or time.perf_counter() >= deadline:
                return None
            issued += 1
            return issued - 1

    def client() -> None:
        with httpx.Client(timeout=timeout_s, headers=headers) as http:
            while (n := take()) is not None:
                start = (n * batch) % len(texts)
                payload = {"model": model, "input": [texts[(start + i) % len(texts)] for i in range(batch)]}
                began = time.perf_counter()
                try:
                    response = http.post(endpoint, json=payload)
                    ok = response.status_code == 200 and len(response.json().get("data", [])) == batch
                    error = None if ok else f"HTTP {response.status_code}"
                except httpx.HTTPError as e:
                    error = type(e).__name__
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if error:
                        errors[error] += 1
                    else:
                        latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    return {
        "url": endpoint, "model": model, "concurrency": concurrency, "batch": batch,
        "requests": issued, "succeeded": len(latencies), "errors": dict(errors), "seconds": wall,
        "requests_per_second": len(latencies) / wall if wall > 0 else 0.0,
        "texts_per_second": len(latencies) * batch / wall if wall > 0 else 0.0,
        "latency_ms": percentiles(latencies),
        "stopped_by": "requests" if issued >= requests else "time",
    }
