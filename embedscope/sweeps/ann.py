"""Approximate search traded against speed: recall of the exact top-k, task quality, QPS, build time, memory.

Each distinct index (the spec without its search-time parameters) is built once, then searched at every
efSearch / nprobe of the grid. Timings (`Timing`) use `threads` faiss threads (1 by default, so numbers do not depend on
how busy the machine's other cores are):
  qps_batch   all queries in one search call (offline / batch throughput)
  qps_single  one query per call (online serving, per-call overhead included)
Each is the best of repeated passes lasting at least `min_seconds` in all.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np

from embedscope.index import ExactIndex, timed_build
from embedscope.index.faiss_index import SEARCH_PARAMS, parse_spec
from embedscope.metrics import canonical, evaluate
from embedscope.runs import Run

GRIDS = ("default", "quick")


def _ivf_lists(n_docs: int) -> int:
    """A power of two near 4*sqrt(n), capped so each centroid gets >= 39 training vectors (faiss's minimum
    without a warning)."""
    target = min(4 * math.sqrt(n_docs), n_docs / 39)
    return max(1, 2 ** int(math.floor(math.log2(max(target, 1)))))


def _pq_bytes(dim: int) -> int:
    """PQ sub-quantizers: the largest divisor of dim that is at most dim/8 (48 bytes for 384 dims)."""
    return max(m for m in range(1, dim + 1) if dim % m == 0 and m <= max(1, dim // 8))


def grid(name: str, n_docs: int, dim: int) -> list[str]:
    """Index specs for a named grid, sized to the corpus: HNSW32 over efSearch, IVF-Flat and IVF-PQ over nprobe.
    IVF-PQ needs >= 256 training vectors (8-bit codebooks) and is left out below that."""
    if name not in GRIDS:
        raise ValueError(f"--grid must be one of {', '.join(GRIDS)}, got '{name}'")
    nlist = _ivf_lists(n_docs)
    if name == "quick":
        ef, probes = (16, 64), (1, 8)
    else:
        ef, probes = (16, 32, 64, 128, 256), (1, 2, 4, 8, 16, 32, 64)
    probes = sorted({p for p in probes if p < nlist} | {min(max(probes), nlist)})
    specs = ["faiss:Flat"]
    specs += [f"faiss:HNSW32?efSearch={e}" for e in ef]
    specs += [f"faiss:IVF{nlist},Flat?nprobe={p}" for p in probes]
    if n_docs >= 256:
        m = _pq_bytes(dim)
        specs += [f"faiss:IVF{nlist},PQ{m}?nprobe={p}" for p in probes]
    return specs


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'faiss:HNSW32?efSearch=64' -> ('faiss:HNSW32', {'efSearch': '64'}): what is built vs what is searched."""
    if not spec.startswith("faiss:"):
        return spec, {}
    factory, params = parse_spec(spec[len("faiss:"):])
    if factory.startswith("Binary"):  # binary indexes take their parameters at build time
        return spec, {}
    build = {k: v for k, v in params.items() if k not in SEARCH_PARAMS}
    search = {k: v for k, v in params.items() if k in SEARCH_PARAMS}
    built = "&".join(f"{k}={v}" for k, v in build.items())
    return f"faiss:{factory}" + (f"?{built}" if built else ""), search


def family(build_spec: str) -> str:
    return build_spec.removeprefix("faiss:")


@contextlib.contextmanager
def faiss_threads(n: int | None):
    if not n:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _best_rate(fn, items: int, min_seconds: float) -> float:
    """Items per second of the fastest pass; passes repeat until min_seconds in all (at least two)."""
    best, spent, passes = math.inf, 0.0, 0
    while passes < 2 or spent < min_seconds:
        started = time.perf_counter()
        fn()
        took = time.perf_counter() - started
        best, spent, passes = min(best, took), spent + took, passes + 1
    return items / best if best > 0 else math.inf


def recall_vs_exact(positions: np.ndarray, exact: np.ndarray, k: int) -> np.ndarray:
    """Per query: share of the exact top-k found in the approximate top-k."""
    out = np.empty(len(exact))
    for i, (got, want) in enumerate(zip(positions[:, :k], exact[:, :k])):
        want = want[want >= 0]
        out[i] = len(np.intersect1d(got[got >= 0], want)) / len(want) if len(want) else 1.0
    return out


@dataclass
class AnnSweep:
    model: str
    dim: int
    similarity: str
    k: int
    metrics: list[str]
    rows: list[dict]
    settings: dict

    def to_dict(self) -> dict:
        return {"model": self.model, "dim": self.dim, "similarity": self.similarity, "k": self.k, "metrics": self.metrics,
                "settings": self.settings, "points": self.rows}


@dataclass(frozen=True)
class Timing:
    """How speed is measured: faiss threads while timing (None: all cores), and how long the passes behind each
    QPS figure (the best of them) last in all."""

    threads: int | None = 1
    min_seconds: float = 0.2


def ann_sweep(
    dataset,
    doc_vectors: np.ndarray,
    query_vectors: np.ndarray,
    *,
    model: str = "model",
    specs: list[str] | None = None,
    grid_name: str = "default",
    similarity: str = "cosine",
    k: int = 10,
    metrics=None,
    timing: Timing = Timing(),
) -> AnnSweep:
    """One row per spec: recall@k of the exact top-k, task metrics from the approximate run, speed, memory."""
    metrics = [canonical(m) for m in (metrics or [f"ndcg@{k}"])]
    k = min(k, len(doc_vectors))
    chosen = bool(specs)
    specs = specs or grid(grid_name, len(doc_vectors), doc_vectors.shape[1])
    exact = ExactIndex(similarity)
    exact.add(doc_vectors)
    _, exact_pos = exact.search(query_vectors, k)
    groups: dict[str, list[dict]] = {}
    for spec in specs:
        build, search = split_spec(spec)
        groups.setdefault(build, []).append(search)
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    rows = []
    threads, min_seconds = timing.threads, timing.min_seconds
    with faiss_threads(threads):
        for build, searches in groups.items():
            index, built = timed_build(build, similarity, doc_vectors)
            build_seconds = built["index_seconds"]
            for params in searches:
                if params:
                    index.set_search_params(**params)
                scores, positions = index.search(queries, k)
                recall = recall_vs_exact(positions, exact_pos, k)
                run = Run.from_topk(model, dataset.query_ids, dataset.doc_ids, scores, positions)
                quality = evaluate(dataset.qrels, run, metrics).mean if dataset.has_qrels else {}
                qps_batch = _best_rate(lambda: index.search(queries, k), len(queries), min_seconds)
                single = [queries[i : i + 1] for i in range(len(queries))]
                qps_single = _best_rate(lambda: [index.search(q, k) for q in single], len(queries), min_seconds)
                given = "&".join(f"{a}={b}" for a, b in params.items())
                spec = build if not params else build + ("&" if "?" in build else "?") + given
                row = {
                    "model": model, "spec": spec, "family": family(build), "params": dict(params),
                    f"recall@{k}": float(recall.mean()), "metrics": quality,
                    "qps_batch": qps_batch, "qps_single": qps_single,
                    "build_seconds": build_seconds,
                    "index_bytes": int(getattr(index, "nbytes", 0) or 0),
                    "bytes_per_vector": int(getattr(index, "code_size", 0) or 0),
                }
                rows.append(row)
    settings = {"threads": threads, "min_seconds": min_seconds, "grid": None if chosen else grid_name,
                "queries": len(queries), "documents": len(doc_vectors)}
    return AnnSweep(model, int(doc_vectors.shape[1]), similarity, k, metrics, rows, settings)
