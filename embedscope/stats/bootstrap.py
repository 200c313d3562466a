"""Percentile bootstrap over queries: how much a mean score would move with another sample of queries.

Each resample draws n queries with replacement. Counting how often each query is drawn turns every resample of
every column (models x metrics, or pairwise differences) into one matrix product, so thousands of resamples
cost milliseconds. All columns share the same resamples, which keeps paired quantities paired.
"""

from __future__ import annotations

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
_CHUNK = 2_000  # resamples per matrix product: bounds memory at _CHUNK x n counts


def bootstrap_means(values: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Means of `resamples` bootstrap samples of the rows of `values` (n queries x m columns) -> (resamples, m)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    if n == 0:
        raise ValueError("bootstrap needs at least one query")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    out = np.empty((resamples, values.shape[1]))
    for start, counts in count_blocks(n, resamples, seed):
        out[start : start + len(counts)] = counts @ values / n
    return out


def count_blocks(n: int, resamples: int, seed: int = DEFAULT_SEED):
    """The resamples as (first row, counts) blocks: counts[r, i] = how often resample r draws query i. The same
    seed gives the same blocks, so every statistic drawn from them (and embedscope.stats.resampled) agrees."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        rows = min(start + _CHUNK, resamples) - start
        # n draws with replacement per resample, counted per query (the multinomial counts, drawn 8x faster than
        # with rng.multinomial): one bincount over all rows, each row's draws offset into its own n bins.
        draws = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        yield start, np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)


def percentile_ci(
    values: np.ndarray, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of the mean: (low, high) floats for a vector, arrays (one per column) else."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    means = bootstrap_means(values, resamples, seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    if np.ndim(values) == 1:
        return float(low[0]), float(high[0])
    return low, high
