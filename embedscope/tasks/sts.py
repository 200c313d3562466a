"""Semantic textual similarity: pairs (text1, text2, score); Spearman correlation of cosine similarity with gold.

As MTEB's STSEvaluator: both sides embedded the same way, cosine = 1 - paired cosine distance, scipy's spearmanr
against the gold scores (any scale: 0-5, 0-1). Pearson is reported beside it. Unit: pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from embedscope.tasks.base import Embed, Outcome, TaskData, TaskSource, cosine_rows
from embedscope.tasks.pairs import read_pairs


class STSTask:
    name = "sts"
    metrics = ("cosine_spearman", "cosine_pearson")
    unit = "pairs (bootstrap resamples of pairs)"
    roles = {"text1": ["text1", "sentence1", "s1", "query", "a"],
             "text2": ["text2", "sentence2", "s2", "b"],
             "score": ["score", "similarity_score", "similarity", "label", "gold"]}

    def load(self, source: TaskSource) -> TaskData:
        return read_pairs(source, self.roles, "score")

    def score(self, data: TaskData, embed: Embed) -> Outcome:
        similarity = cosine_rows(embed(data.text1, "query"), embed(data.text2, "query"))
        gold = np.asarray(data.target, dtype=float)

        def metrics(idx: np.ndarray) -> dict[str, float]:
            s, g = similarity[idx], gold[idx]
            return {"cosine_spearman": _safe(spearmanr(g, s)[0]), "cosine_pearson": _safe(pearsonr(g, s)[0])}

        scores = metrics(np.arange(len(gold)))
        rows = [{"unit": u, "gold": float(g), "cosine": float(s)} for u, g, s in zip(data.units, gold, similarity)]
        return Outcome(scores=scores, resample=metrics, rows=rows)


def _safe(value) -> float:
    """A correlation with a constant side is undefined: 0, so a degenerate resample cannot crash the statistics."""
    value = float(value)
    return 0.0 if np.isnan(value) else value
