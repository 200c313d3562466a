"""Fusing ranked lists: reciprocal rank fusion and weighted sums of normalised scores.

Both work per query on Runs. The arithmetic follows ranx (`ranx.fusion`), so fused scores match it exactly:
RRF gives 1 / (k + rank) per list (rank from 1); min-max maps each list's scores to [0, 1] (a list with a
single distinct score maps to 0) and a document a list did not retrieve adds 0, i.e. it counts as that
list's worst hit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedscope.runs import Run

NORMS = ("min-max", "z-score")
_FLOOR = 1e-9  # ranx's guard against a zero spread


def _query_ids(runs: Sequence[Run]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        seen.update(dict.fromkeys(run.scores))
    return list(seen)


def rrf(runs: Sequence[Run], k: int = 60, weights: Sequence[float] | None = None, name: str = "rrf") -> Run:
    """Reciprocal rank fusion (Cormack et al., SIGIR 2009): score(d) = sum_i w_i / (k + rank_i(d))."""
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    weights = _weights(runs, weights, default=1.0)
    fused: dict[str, dict[str, float]] = {}
    for qid in _query_ids(runs):
        scores: dict[str, float] = {}
        for run, w in zip(runs, weights):
            for rank, (did, _) in enumerate(run.ranked(qid), start=1):
                scores[did] = scores.get(did, 0.0) + w / (k + rank)
        fused[qid] = scores
    return Run(name, fused, {"kind": "fusion", "fusion": "rrf", "rrf_k": k, "weights": list(weights)})


def normalize_scores(scores: dict[str, float], norm: str) -> tuple[dict[str, float], float]:
    """One query's scores normalised, plus the value a document missing from this list gets."""
    if not scores:
        return {}, 0.0
    values = np.fromiter(scores.values(), dtype=float, count=len(scores))
    if norm == "min-max":
        low, high = float(values.min()), float(values.max())
        spread = max(high - low, _FLOOR)
        return {d: (s - low) / spread for d, s in scores.items()}, 0.0
    if norm == "z-score":
        mean, std = float(values.mean()), max(float(values.std()), _FLOOR)
        normed = {d: (s - mean) / std for d, s in scores.items()}
        # A missing document is below everything the list retrieved: give it the list's lowest z, not 0
        # (0 is the list's mean and would rank unretrieved documents above half of the retrieved ones).
        return normed, min(normed.values())
    raise ValueError(f"norm must be one of {NORMS}, got '{norm}'")


def weighted_sum(runs: Sequence[Run], weights: Sequence[float] | None = None, norm: str = "min-max",
                 name: str = "wsum") -> Run:
    """Convex combination of per-query normalised scores: score(d) = sum_i w_i * norm_i(d)."""
    weights = _weights(runs, weights, default=1.0 / len(runs))
    fused: dict[str, dict[str, float]] = {}
    for qid in _query_ids(runs):
        parts = [normalize_scores(run.scores.get(qid, {}), norm) for run in runs]
        docs = dict.fromkeys(d for normed, _ in parts for d in normed)
        fused[qid] = {d: sum(w * normed.get(d, missing) for (normed, missing), w in zip(parts, weights)) for d in docs}
    return Run(name, fused, {"kind": "fusion", "fusion": "weighted", "norm": norm, "weights": list(weights)})


def _weights(runs: Sequence[Run], weights: Sequence[float] | None, default: float) -> list[float]:
    if len(runs) < 2:
        raise ValueError(f"fusion needs at least two runs, got {len(runs)}")
    if weights is None:
        return [default] * len(runs)
    weights = [float(w) for w in weights]
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights given for {len(runs)} runs")
    if any(w < 0 for w in weights):
        raise ValueError(f"fusion weights must be >= 0, got {weights}")
    return weights
