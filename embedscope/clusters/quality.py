"""How good is a clustering: agreement with known labels (NMI, ARI) and retrieval quality per cluster."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def label_agreement(labels_true: Sequence, labels_pred: Sequence) -> dict[str, float]:
    """NMI and ARI (sklearn) between known labels and cluster ids; 1 = same partition, ~0 = unrelated."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if len(labels_true) != len(labels_pred):
        raise ValueError(f"{len(labels_true)} labels for {len(labels_pred)} clustered documents")
    return {"nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
            "ari": float(adjusted_rand_score(labels_true, labels_pred))}


def metric_by_cluster(per_query: dict[str, float], query_clusters: dict[str, int]) -> dict[int, dict]:
    """Mean of a per-query metric over the queries assigned to each cluster (nearest centroid)."""
    groups: dict[int, list[float]] = defaultdict(list)
    for qid, value in per_query.items():
        if qid in query_clusters:
            groups[int(query_clusters[qid])].append(value)
    return {c: {"mean": float(np.mean(v)), "queries": len(v)} for c, v in sorted(groups.items())}
