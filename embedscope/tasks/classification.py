"""Classification: (text, label) rows; a linear probe on frozen embeddings, plus a kNN probe.

MTEB's protocol, so scores compare with published ones (Banking77Classification and the like):
- `experiments` (10) times, draw `samples_per_label` (8) training rows per label: the training row order is
  shuffled by numpy's RandomState(seed 42), each experiment shuffling the previous experiment's order again,
  and the first n rows of each label are kept;
- fit scikit-learn's LogisticRegression(max_iter=100, random_state=42) on their embeddings, predict the test
  rows, score accuracy and macro-F1 (and weighted F1); report the mean over experiments.
The kNN probe (k=3, cosine) is fitted on the same samples. `samples_per_label=all` trains on every training row
(one experiment: the fit is deterministic). Without a training table, 5-fold cross-validation over the one table
(shuffled with seed 42) stands in for it, sampling each fold's training part the same way.

Unit for the statistics: test rows, resampled within each gold label (per-class resamples), so every resample
keeps the class balance. Accuracy is a mean over rows (randomization test); macro-F1 is recomputed on each
resample (paired bootstrap test).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from embedscope.data.errors import DataError
from embedscope.tasks.base import Embed, Outcome, TaskData, TaskSource, one_thread
from embedscope.tasks.metrics import macro_f1, weighted_f1
from embedscope.tasks.tables import data_path, dataset_name, find_split, label_value, read_task_table, resolve_columns, split_table, text_value

SEED = 42
FOLDS = 5


@dataclass
class LabelledTexts(TaskData):
    texts: list[str] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # test labels as ints
    train_texts: list[str] = field(default_factory=list)
    train_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    label_names: list[str] = field(default_factory=list)  # int -> label as written
    cross_validation: bool = False


def read_labelled(path, source: TaskSource, roles: dict[str, list[str]]) -> tuple[list[str], list[str], list[str]]:
    """(texts, labels, units) of one table; a missing label or empty text names its line."""
    table = read_task_table(path, header=source.header, expected=list(roles.values()))
    cols = resolve_columns(table, roles, source.columns)
    texts, labels, units = [], [], []
    for row in table.rows:
        texts.append(text_value(table, row, cols["text"], "text"))
        labels.append(label_value(table, row, cols["label"]))
        units.append(str(row.line))
    return texts, labels, units


def load_labelled(source: TaskSource, roles: dict[str, list[str]], *, need_train: bool) -> LabelledTexts:
    path = split_table(source.data, source.split)
    texts, labels, units = read_labelled(path, source, roles)
    files = {"data": str(path.resolve())}
    notes: list[str] = []
    if source.max_rows and source.max_rows < len(texts):
        notes.append(f"first {source.max_rows} of {len(texts)} rows evaluated (--max-rows)")
        texts, labels, units = texts[: source.max_rows], labels[: source.max_rows], units[: source.max_rows]
    train_path = None
    if need_train:
        if source.train:
            train_path = split_table(source.train, "train")
        elif data_path(source.data).is_dir():  # a folder with train and test tables (banking77/)
            train_path = find_split(data_path(source.data), "train")
    train_texts, train_labels = [], []
    if train_path is not None:
        if train_path.resolve() == path.resolve():
            raise DataError(path, "the training table is the evaluation table; name another with --train")
        train_texts, train_labels, _ = read_labelled(train_path, source, roles)
        files["train"] = str(train_path.resolve())
    names = sorted(set(train_labels) | set(labels))
    code = {name: i for i, name in enumerate(names)}
    data = LabelledTexts(name=source.name or dataset_name(path, source.split), units=units, files=files, notes=notes,
                         texts=texts, labels=np.array([code[x] for x in labels], dtype=int),
                         train_texts=train_texts, train_labels=np.array([code[x] for x in train_labels], dtype=int),
                         label_names=names, cross_validation=need_train and train_path is None)
    data.strata = data.labels
    data.counts = {"rows": len(texts), "labels": len(set(labels))}
    if train_path is not None:
        data.counts["train_rows"] = len(train_texts)
        unseen = sorted(set(labels) - set(train_labels))
        if unseen:
            rows = sum(1 for x in labels if x in set(unseen))
            data.counts["rows_with_unseen_label"] = rows
            data.notes.append(f"{len(unseen)} label(s) in {path.name} never occur in {train_path.name}: "
                              f"{', '.join(map(repr, unseen[:5]))}{' ...' if len(unseen) > 5 else ''}; "
                              f"their {rows} row(s) are kept and count as misclassified")
    elif need_train:
        data.notes.append(f"no training table: {FOLDS}-fold cross-validation over {path.name}")
    return data


def undersample(labels: np.ndarray, per_label: int, experiments: int, seed: int = SEED) -> list[np.ndarray]:
    """MTEB's draws: the order is reshuffled by a fresh RandomState(seed) each experiment, first n of each label."""
    order = np.arange(len(labels))
    draws = []
    for _ in range(experiments):
        np.random.RandomState(seed).shuffle(order)
        taken: dict[int, int] = defaultdict(int)
        picked = []
        for i in order:
            if taken[labels[i]] < per_label:
                picked.append(i)
                taken[labels[i]] += 1
        draws.append(np.array(picked, dtype=int))
    return draws


class ClassificationTask:
    name = "classification"
    metrics = ("accuracy", "f1", "f1_weighted", "knn_accuracy", "knn_f1")
    unit = "test rows (bootstrap resamples within each gold label)"
    roles = {"text": ["text", "sentence", "utterance", "question", "body"],
             "label": ["label", "category", "intent", "class", "target"]}

    def __init__(self, samples_per_label: int | str = 8, experiments: int = 10, k: int = 3, max_iter: int = 100,
                 seed: int = SEED):
        if samples_per_label != "all" and (not isinstance(samples_per_label, int) or samples_per_label < 1):
            raise ValueError(f"classification samples_per_label must be a positive integer or 'all', got {samples_per_label!r}")
        if not isinstance(experiments, int) or experiments < 1:
            raise ValueError(f"classification experiments must be a positive integer, got {experiments!r}")
        self.samples_per_label = samples_per_label
        self.experiments = 1 if samples_per_label == "all" else experiments
        self.k, self.max_iter, self.seed = k, max_iter, seed

    def settings(self) -> dict:
        return {"samples_per_label": self.samples_per_label, "experiments": self.experiments, "knn_k": self.k,
                "max_iter": self.max_iter, "seed": self.seed, "probe": "LogisticRegression (scikit-learn)"}

    def load(self, source: TaskSource) -> TaskData:
        return load_labelled(source, self.roles, need_train=True)

    def _splits(self, data: LabelledTexts):
        """(train texts, train labels, [(train positions, test positions)] per experiment)."""
        if not data.cross_validation:
            train = np.arange(len(data.train_labels))
            draws = (undersample(data.train_labels, self.samples_per_label, self.experiments, self.seed)
                     if self.samples_per_label != "all" else [train])
            everything = np.arange(len(data.labels))
            return data.train_texts, data.train_labels, [(d, everything) for d in draws]
        from sklearn.model_selection import KFold

        if len(data.labels) < FOLDS:
            raise DataError(data.files["data"], f"cross-validation needs at least {FOLDS} rows")
        folds = []
        for train, test in KFold(FOLDS, shuffle=True, random_state=self.seed).split(data.labels):
            if self.samples_per_label != "all":
                train = train[undersample(data.labels[train], self.samples_per_label, 1, self.seed)[0]]
            folds.append((train, test))
        return data.texts, data.labels, folds

    def score(self, data: LabelledTexts, embed: Embed) -> Outcome:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.neighbors import KNeighborsClassifier

        train_texts, train_labels, splits = self._splits(data)
        if data.cross_validation:  # train and test rows come from the one table: embed it once
            needed = list(range(len(data.texts)))
            vectors = embed(data.texts, "query")
            train_of = test_of = lambda rows: vectors[rows]
        else:  # only the training rows some experiment draws are embedded (MTEB embeds the same union)
            needed = sorted(set().union(*(set(tr.tolist()) for tr, _ in splits)))
            position = {j: i for i, j in enumerate(needed)}
            train_vectors = embed([train_texts[j] for j in needed], "query")
            test_vectors = embed(data.texts, "query")
            train_of = lambda rows: train_vectors[[position[j] for j in rows]]  # noqa: E731
            test_of = lambda rows: test_vectors[rows]  # noqa: E731
        n_labels = len(data.label_names)
        y = data.labels
        # predictions[probe][e, i]: experiment e's label for test row i (-1: not in this fold's test part)
        predictions = {"logreg": np.full((len(splits), len(y)), -1), "knn": np.full((len(splits), len(y)), -1)}
        per_experiment = []
        for e, (train, test) in enumerate(splits):
            x_train, x_test, y_train = train_of(train), test_of(test), train_labels[train]
            with one_thread():
                probe = LogisticRegression(max_iter=self.max_iter, random_state=self.seed)
                probe.fit(x_train, y_train)
                predictions["logreg"][e, test] = probe.predict(x_test)
                knn = KNeighborsClassifier(n_neighbors=min(self.k, len(train)), metric="cosine")
                knn.fit(x_train, y_train)
                predictions["knn"][e, test] = knn.predict(x_test)
            p = predictions["logreg"][e, test]
            per_experiment.append({"accuracy": float(accuracy_score(y[test], p)),
                                   "f1": float(f1_score(y[test], p, average="macro")),
                                   "f1_weighted": float(f1_score(y[test], p, average="weighted"))})

        def metrics(idx: np.ndarray) -> dict[str, float]:
            out: dict[str, list[float]] = defaultdict(list)
            for e in range(len(splits)):
                for probe, prefix in (("logreg", ""), ("knn", "knn_")):
                    pred = predictions[probe][e, idx]
                    kept = pred >= 0
                    yy, pp = y[idx][kept], pred[kept]
                    if not len(yy):
                        continue
                    out[prefix + "accuracy"].append(float((yy == pp).mean()))
                    out[prefix + "f1"].append(macro_f1(yy, pp, n_labels))
                    if not prefix:
                        out["f1_weighted"].append(weighted_f1(yy, pp, n_labels))
            return {name: float(np.mean(values)) for name, values in out.items()}

        scores = metrics(np.arange(len(y)))
        made = (predictions["logreg"] >= 0).sum(0)
        per_unit = {"accuracy": (predictions["logreg"] == y).sum(0) / made,
                    "knn_accuracy": (predictions["knn"] == y).sum(0) / made}
        shown = predictions["logreg"].max(0)  # cross-validation: each row's one prediction; else experiment 1's
        if not data.cross_validation:
            shown = predictions["logreg"][0]
        rows = [{"unit": u, "label": data.label_names[t], "predicted": data.label_names[p],
                 "correct_share": float(a)} for u, t, p, a in zip(data.units, y, shown, per_unit["accuracy"])]
        details = {"per_experiment": per_experiment, "train_texts_embedded": len(needed), **self.settings()}
        return Outcome(scores=scores, resample=metrics, per_unit=per_unit, details=details, rows=rows)

