"""Is the query set big enough? Minimum detectable effect and queries needed, from the observed variance.

Both use the normal approximation of the paired t-test at a two-sided level alpha (not corrected for
multiple pairs) and the given power:  effect = (z[1 - alpha/2] + z[power]) * sd(differences) / sqrt(n).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

DEFAULT_POWER = 0.8


def _z(alpha: float, power: float) -> float:
    normal = NormalDist()  # the standard normal's quantiles, from the standard library (no scipy to import)
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def minimum_detectable_effect(
    differences: np.ndarray, alpha: float = 0.05, power: float = DEFAULT_POWER
) -> float | None:
    """Smallest mean difference that n queries with this spread of per-query differences detect with `power`.

    None with fewer than two queries, where the spread is unknown.
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    return _z(alpha, power) * float(np.std(d, ddof=1)) / math.sqrt(len(d))


def queries_needed(differences: np.ndarray, alpha: float = 0.05, power: float = DEFAULT_POWER) -> int | None:
    """Queries needed to detect the observed mean difference with `power` (None when there is no difference)."""
    d = np.asarray(differences, dtype=float)
    effect = abs(float(d.mean())) if len(d) else 0.0
    if len(d) < 2 or effect < 1e-12:
        return None
    return math.ceil((_z(alpha, power) * float(np.std(d, ddof=1)) / effect) ** 2)
