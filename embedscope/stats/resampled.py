"""The bootstrap resamples and sign flips of one set of queries, kept with their sums so that a change to a few
queries' scores updates every interval and test without drawing or multiplying again.

Both statistics are linear in the per-query scores: a resample's mean is counts @ scores / n and a sign
assignment's mean is signs @ scores / n. So the draws (the same ones `bootstrap_means` and
`randomization_tests` make from the same seed) are kept, with these means for every (metric, model) column; a
pair's difference is the difference of two columns. When the scores change, only the rows (queries) that
changed are added in: O(draws x columns) per query instead of O(draws x queries x columns). This is what makes
re-scoring after a judgment in `embedscope serve` fast; a new number of queries draws afresh.

The draws are kept as small integers (n x draws bytes each); above MAX_CELLS the caller draws afresh each time.
"""

from __future__ import annotations

import numpy as np

from embedscope.stats.bootstrap import count_blocks
from embedscope.stats.randomization import extreme_from, sign_matrices

MAX_CELLS = 40_000_000  # queries x draws kept per kind (bytes): 40 MB each at most
REBUILD_SHARE = 0.25  # above this share of changed queries, one matrix product costs less than row updates


class Resampled:
    """Draws of `n` queries (resamples for intervals, sign flips for tests, both seeded as the fresh ones)."""

    def __init__(self, n: int, resamples: int, permutations: int, seed: int):
        self.n, self.resamples, self.permutations, self.seed = n, resamples, permutations, seed
        # query-major (n x draws): a changed query's column of draws is one contiguous row
        counts = np.concatenate([c for _, c in count_blocks(n, resamples, seed)]).T
        self.counts = counts.astype(np.uint8 if counts.max(initial=0) <= np.iinfo(np.uint8).max else np.int32)
        self.signs = np.concatenate(list(sign_matrices(n, permutations, seed))).T.astype(np.int8)
        self.columns: tuple = ()
        self.values = np.zeros((n, 0))
        self.boot = np.zeros((resamples, 0))
        self.flips = np.zeros((self.signs.shape[1], 0))

    @staticmethod
    def fits(n: int, resamples: int, permutations: int) -> bool:
        return n * max(resamples, permutations) <= MAX_CELLS

    def matches(self, n: int, resamples: int, permutations: int, seed: int) -> bool:
        return (self.n, self.resamples, self.permutations, self.seed) == (n, resamples, permutations, seed)

    def sync(self, columns: tuple, values: np.ndarray) -> None:
        """Bring the kept means up to date with `values` (n x columns, named by `columns`): only changed rows."""
        values = np.asarray(values, dtype=float)
        if columns != self.columns or values.shape != self.values.shape:
            self._full(columns, values)
            return
        changed = np.flatnonzero((values != self.values).any(axis=1))
        if len(changed) > REBUILD_SHARE * self.n:
            self._full(columns, values)
            return
        for row in changed:
            delta = (values[row] - self.values[row]) / self.n
            self.boot += np.outer(self.counts[row], delta)
            self.flips += np.outer(self.signs[row], delta)
        self.values = values.copy()

    def _full(self, columns: tuple, values: np.ndarray) -> None:
        self.columns, self.values = columns, values.copy()
        self.boot = self.counts.T @ values / self.n
        self.flips = self.signs.T @ values / self.n

    def weights(self, combos: list[tuple[int, int | None]]) -> np.ndarray:
        """columns x combos: +1 on each combo's first column, -1 on its second (a difference), if any."""
        w = np.zeros((len(self.columns), len(combos)))
        for k, (plus, minus) in enumerate(combos):
            w[plus, k] += 1
            if minus is not None:
                w[minus, k] -= 1
        return w

    def column(self, metric: str, model: str) -> int:
        return self.columns.index((metric, model))

    def means(self, combos: list[tuple[int, int | None]]) -> np.ndarray:
        """Resampled means (resamples x combos) of columns or of column differences."""
        return self.boot @ self.weights(combos)

    def p_values(self, combos: list[tuple[int, int]], observed_means: np.ndarray) -> np.ndarray:
        """Two-sided randomization p-values of column differences, as `randomization_tests` gives them."""
        flipped = np.abs(self.flips @ self.weights(combos))
        return (flipped >= extreme_from(observed_means)).sum(axis=0) / flipped.shape[0]


class KeptDraws:
    """The draws one analysis after another reuses (a web app re-scoring as you judge): hand one to
    `embedscope.stats.analyse(..., draws=...)`. Draws afresh when the number of queries or the options change."""

    def __init__(self):
        self.current: Resampled | None = None

    def get(self, n: int, resamples: int, permutations: int, seed: int) -> Resampled | None:
        if not Resampled.fits(n, resamples, permutations):
            return None
        if self.current is None or not self.current.matches(n, resamples, permutations, seed):
            self.current = Resampled(n, resamples, permutations, seed)
        return self.current
