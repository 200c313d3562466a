"""Task metrics in plain numpy: the same values as scikit-learn's functions (the tests compare them), without their
per-call input checks, since the bootstrap recomputes them a thousand times per model."""

from __future__ import annotations

import numpy as np


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average_precision_score: sum over distinct score thresholds of (recall step) x precision."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    positives = y.sum()
    if positives == 0:
        return 0.0
    last = np.r_[s[1:] != s[:-1], True]  # tied scores form one threshold
    tp = np.cumsum(y)[last]
    seen = np.flatnonzero(last) + 1
    recall = tp / positives
    precision = tp / seen
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def macro_f1(y: np.ndarray, p: np.ndarray, n_labels: int) -> float:
    """scikit-learn's f1_score(average="macro"): over the labels present in y or p; 0 where undefined."""
    tp = np.bincount(y[y == p], minlength=n_labels)
    true, pred = np.bincount(y, minlength=n_labels), np.bincount(p, minlength=n_labels)
    present = (true + pred) > 0
    return float((2 * tp[present] / (true[present] + pred[present])).mean())


def weighted_f1(y: np.ndarray, p: np.ndarray, n_labels: int) -> float:
    """scikit-learn's f1_score(average="weighted"): per-label F1 weighted by the label's count in y."""
    tp = np.bincount(y[y == p], minlength=n_labels)
    true, pred = np.bincount(y, minlength=n_labels), np.bincount(p, minlength=n_labels)
    f1 = np.where(true + pred > 0, 2 * tp / np.maximum(true + pred, 1), 0.0)
    return float((f1 * true).sum() / true.sum())


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def cluster_scores(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """V-measure, NMI (arithmetic mean) and ARI as scikit-learn computes them."""
    c = _contingency(labels, clusters)
    n = c.sum()
    h_labels, h_clusters = _entropy(c.sum(1)), _entropy(c.sum(0))
    nz = c > 0
    outer = np.outer(c.sum(1), c.sum(0))
    mi = float((c[nz] / n * (np.log(c[nz]) - np.log(outer[nz]) + np.log(n))).sum())
    mi = max(mi, 0.0)
    if h_labels == 0 or h_clusters == 0:  # one label or one cluster: scikit-learn's conventions
        v = 1.0 if h_labels == h_clusters else 0.0
        nmi = 1.0 if h_labels == h_clusters else 0.0
    else:
        homogeneity, completeness = mi / h_labels, mi / h_clusters
        v = 2 * homogeneity * completeness / (homogeneity + completeness) if homogeneity + completeness else 0.0
        nmi = mi / ((h_labels + h_clusters) / 2)
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index, rows, cols, total = pairs(c), pairs(c.sum(1)), pairs(c.sum(0)), n * (n - 1) / 2
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    ari = 1.0 if maximum == expected else float((index - expected) / (maximum - expected))
    return {"v_measure": float(v), "nmi": float(nmi), "ari": ari}
