"""Paired Student's t-test, two-sided, the parametric counterpart of the randomization test.

The p-value is Student's t tail from the regularized incomplete beta function (Lentz's continued fraction, as in
Numerical Recipes), equal to scipy.stats.ttest_rel's to ~1e-14 (tests/test_stats.py): importing scipy.stats or
scipy.special would cost a cached run more than all of its statistics.
"""

from __future__ import annotations

import math

import numpy as np


def _incomplete_beta_cf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2))."""
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the CDF of Beta(a, b) at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _incomplete_beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _incomplete_beta_cf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    if math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t))


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
    n = len(d)
    t = float(d.mean()) / (float(d.std(ddof=1)) / math.sqrt(n))  # scipy.stats.ttest_rel's statistic
    p = t_two_sided_p(t, n - 1)
    return 1.0 if math.isnan(p) else min(1.0, p)
