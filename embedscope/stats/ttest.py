"""Paired Student's t-test, two-sided (scipy), the parametric counterpart of the randomization test."""

from __future__ import annotations

import numpy as np
from scipy import stats


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of the two-sided paired t-test on per-query scores a and b (same query order).

    Differences that are the same on every query have no variance to test (scipy returns NaN or warns of
    precision loss): no difference at all is p = 1, the same nonzero shift on every query is p = 0.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same queries: {a.shape} vs {b.shape}")
    if len(a) < 2:
        return 1.0
    d = a - b
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return 1.0 if abs(float(d.mean())) <= 1e-12 else 0.0
    p = stats.ttest_rel(a, b, alternative="two-sided").pvalue
    return 1.0 if np.isnan(p) else float(p)
