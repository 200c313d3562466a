"""Paired randomization (permutation) test, two-sided: Fisher's test as IR evaluation uses it.

Under the null hypothesis the two systems are exchangeable on every query, so each per-query difference is
as likely to have either sign. The p-value is the share of sign assignments whose mean difference is at
least as far from zero as the observed one (Smucker et al., CIKM 2007; ranx's "fisher" test).
With few queries (2^n <= permutations) every assignment is enumerated and the p-value is exact; otherwise
random sign flips are drawn with a fixed seed.
"""

from __future__ import annotations

import itertools

import numpy as np

from embedscope import progress

DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 0
_CHUNK = 2_000
# Means that differ only by float summation order must count as equal (identical runs give p = 1).
_TOLERANCE = 1e-12


def sign_matrices(n: int, permutations: int, seed: int = DEFAULT_SEED):
    """Yields blocks of +-1 sign flips (rows); all 2^n of them when that is no more than `permutations`."""
    if n <= 20 and 2**n <= permutations:
        yield np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return
    rng = np.random.default_rng(seed)
    for start in range(0, permutations, _CHUNK):
        rows = min(_CHUNK, permutations - start)
        yield np.where(rng.random((rows, n)) < 0.5, -1.0, 1.0)


def randomization_tests(
    differences: np.ndarray, permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Two-sided p-values for each column of per-query differences (n queries x m comparisons).

    All columns share the same sign flips, so many comparisons cost one matrix product per block.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim == 1:
        d = d[:, None]
    n = d.shape[0]
    if n == 0:
        raise ValueError("a randomization test needs at least one query")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    threshold = extreme_from(d.mean(axis=0))
    extreme = np.zeros(d.shape[1])
    drawn = 0
    with progress.task("randomization test", min(permutations, 2**n if n <= 20 else permutations)) as advance:
        for signs in sign_matrices(n, permutations, seed):
            extreme += (np.abs(signs @ d / n) >= threshold).sum(axis=0)
            drawn += len(signs)
            advance(len(signs))
    return extreme / drawn


def extreme_from(observed_means: np.ndarray) -> np.ndarray:
    """The |mean| a sign assignment must reach to count as at least as extreme as the observed one."""
    observed = np.abs(observed_means)
    return observed - _TOLERANCE * np.maximum(1.0, observed)


def randomization_test(
    a: np.ndarray, b: np.ndarray, permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_SEED
) -> float:
    """p-value of the paired two-sided randomization test on per-query scores a and b (same query order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same queries: {a.shape} vs {b.shape}")
    return float(randomization_tests(a - b, permutations, seed)[0])
