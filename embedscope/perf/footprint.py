"""How much memory and disk the vectors take: per vector, per index, at the user's scale and beyond.

Flat index = N x bytes per vector. HNSW adds its neighbour graph, estimated as FAISS IndexHNSW stores it:
each vector keeps 2M int32 links on level 0 and M on each upper level; levels are drawn with
P(level >= l) = M^-l, so a vector has 1/(M-1) upper levels on average. Plus FAISS's per-vector level
(int32) and offset (int64):
    graph bytes per vector = 4 * M * (2 + 1/(M-1)) + 12
"""

from __future__ import annotations

import math

PRECISIONS = ("float32", "float16", "int8", "binary")
SCALES = (1_000_000, 10_000_000, 100_000_000)


def bytes_per_vector(dim: int, precision: str) -> int:
    if precision == "float32":
        return 4 * dim
    if precision == "float16":
        return 2 * dim
    if precision == "int8":
        return dim
    if precision == "binary":
        return math.ceil(dim / 8)
    raise ValueError(f"precision {precision}: use one of {', '.join(PRECISIONS)}")


def hnsw_graph_bytes_per_vector(m: int = 32) -> float:
    if m < 2:
        raise ValueError("HNSW M must be at least 2")
    return 4 * m * (2 + 1 / (m - 1)) + 12


def footprint(dim: int, corpus_size: int | None = None, scales=SCALES, hnsw_m: int = 32) -> dict:
    """Bytes per vector by precision, flat index bytes at each scale, and the HNSW graph overhead separately."""
    sizes = ([("corpus", corpus_size)] if corpus_size else []) + [(f"{n:,}", n) for n in scales]
    per_vector = {p: bytes_per_vector(dim, p) for p in PRECISIONS}
    graph = hnsw_graph_bytes_per_vector(hnsw_m)
    return {
        "dim": dim,
        "bytes_per_vector": per_vector,
        "flat_index_bytes": {label: {"vectors": n, **{p: n * b for p, b in per_vector.items()}} for label, n in sizes},
        "hnsw": {"M": hnsw_m, "graph_bytes_per_vector": graph,
                 "formula": "4*M*(2 + 1/(M-1)) + 12 bytes per vector, on top of the flat vectors",
                 "graph_bytes": {label: n * graph for label, n in sizes}},
    }


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"
