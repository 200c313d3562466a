"""Holm's step-down correction: many model pairs tested at once without inflating false "wins"."""

from __future__ import annotations

import numpy as np


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values, in the input order (same values as statsmodels' multipletests(method="holm")).

    The i-th smallest p (1-based) is multiplied by m - i + 1; a running maximum keeps the adjusted values in
    the same order as the raw ones, and they are capped at 1.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
