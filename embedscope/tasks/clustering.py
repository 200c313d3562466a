"""Clustering with labels: (text, label) rows; KMeans with k = the number of labels, scored against the labels.

As MTEB's ClusteringEvaluator: scikit-learn's MiniBatchKMeans(n_clusters=k, batch_size=500, n_init="auto",
random_state=42) on the embeddings; V-measure is the main score. NMI (arithmetic mean, scikit-learn's default)
is the same quantity as V-measure with beta=1, so the two agree; ARI is reported beside them.

Unit for the statistics: rows, resampled within each gold label, with the clustering held fixed: the interval
says how much the score would move with another sample of texts from the same classes.
"""

from __future__ import annotations

import numpy as np

from embedscope.tasks.base import Embed, Outcome, TaskData, TaskSource, one_thread
from embedscope.tasks.classification import LabelledTexts, load_labelled
from embedscope.tasks.metrics import cluster_scores

SEED = 42


class ClusteringTask:
    name = "clustering"
    metrics = ("v_measure", "nmi", "ari")
    unit = "rows (bootstrap resamples within each gold label; clusters held fixed)"
    roles = {"text": ["text", "sentence", "title", "body"], "label": ["label", "category", "cluster", "topic", "class"]}

    def __init__(self, batch_size: int = 500, seed: int = SEED):
        self.batch_size, self.seed = batch_size, seed

    def settings(self) -> dict:
        return {"algorithm": "MiniBatchKMeans (scikit-learn)", "batch_size": self.batch_size, "seed": self.seed}

    def load(self, source: TaskSource) -> TaskData:
        return load_labelled(source, self.roles, need_train=False)

    def score(self, data: LabelledTexts, embed: Embed) -> Outcome:
        from sklearn.cluster import MiniBatchKMeans

        vectors = embed(data.texts, "query")
        k = len(data.label_names)
        model = MiniBatchKMeans(n_clusters=k, batch_size=self.batch_size, n_init="auto", random_state=self.seed)
        with one_thread():
            clusters = model.fit(vectors).labels_
        y = data.labels

        def metrics(idx: np.ndarray) -> dict[str, float]:
            return cluster_scores(y[idx], clusters[idx])

        scores = metrics(np.arange(len(y)))
        rows = [{"unit": u, "label": data.label_names[t], "cluster": int(c)} for u, t, c in zip(data.units, y, clusters)]
        return Outcome(scores=scores, resample=metrics, rows=rows, details={"k": k, **self.settings()})
