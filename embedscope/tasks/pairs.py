"""Pair classification (duplicates, paraphrases): pairs (text1, text2, 0/1); average precision over cosine
similarity, and the F1 / accuracy of the best similarity threshold.

As MTEB's PairClassificationEvaluator for cosine: AP is scikit-learn's average_precision_score with the cosine as
the score. The best F1 is searched over every threshold that exists — a cut between two distinct similarities —
and the threshold reported is the midpoint of that gap, as MTEB reports it. (MTEB also cuts between tied
similarities, a threshold no model could apply; with continuous cosines the two agree.) Unit: pairs, resampled
within each label so every resample keeps the share of duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedscope.data.errors import DataError
from embedscope.tasks.base import Embed, Outcome, TaskData, TaskSource, cosine_rows
from embedscope.tasks.metrics import average_precision
from embedscope.tasks.tables import binary_value, dataset_name, number_value, read_task_table, resolve_columns, split_table, text_value


@dataclass
class PairsData(TaskData):
    text1: list[str] = field(default_factory=list)
    text2: list[str] = field(default_factory=list)
    target: list[float] = field(default_factory=list)


def read_pairs(source: TaskSource, roles: dict[str, list[str]], target: str, binary: bool = False) -> PairsData:
    path = split_table(source.data, source.split)
    table = read_task_table(path, header=source.header, expected=list(roles.values()))
    cols = resolve_columns(table, roles, source.columns)
    text1, text2, values, units = [], [], [], []
    for row in table.rows:
        text1.append(text_value(table, row, cols["text1"], "text1 (a pair with an empty side)"))
        text2.append(text_value(table, row, cols["text2"], "text2 (a pair with an empty side)"))
        values.append(binary_value(table, row, cols[target], target) if binary
                      else number_value(table, row, cols[target], target))
        units.append(str(row.line))
    notes = [] if table.header else [f"{path.name}: no header row; columns read as {', '.join(roles)}"]
    if source.max_rows and source.max_rows < len(units):
        keep = slice(0, source.max_rows)
        text1, text2, values, units = text1[keep], text2[keep], values[keep], units[keep]
        notes.append(f"first {source.max_rows} of {len(table.rows)} pairs evaluated (--max-rows)")
    data = PairsData(name=source.name or dataset_name(path, source.split), units=units, files={"data": str(path.resolve())},
                     counts={"pairs": len(units)}, notes=notes, text1=text1, text2=text2, target=values)
    if binary:
        labels = np.asarray(values, dtype=int)
        positives = int(labels.sum())
        if positives == 0 or positives == len(labels):
            raise DataError(path, f"pair classification needs both 0 and 1 labels; all {len(labels)} pairs are "
                                  f"{labels[0]}")
        data.strata = labels
        data.counts["positives"] = positives
    return data


def best_threshold(similarity: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """F1 (with its precision and recall) and accuracy of the best cut "similarity above t means duplicate"."""
    order = np.argsort(-similarity, kind="stable")
    s, y = similarity[order], labels[order]
    positives, n = y.sum(), len(y)
    tp, fp = np.cumsum(y), np.cumsum(1 - y)
    last = np.r_[s[1:] != s[:-1], True]  # cut only after the last of tied similarities
    cut_s, tp, fp = s[last], tp[last], fp[last]
    following = np.r_[cut_s[1:], cut_s[-1]]
    thresholds = (cut_s + following) / 2
    precision = tp / (tp + fp)
    recall = tp / positives if positives else np.zeros_like(tp, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    accuracy = (tp + (n - positives - fp)) / n
    best_acc = int(np.argmax(accuracy))
    return {"f1": float(f1[best]), "precision": float(precision[best]), "recall": float(recall[best]),
            "f1_threshold": float(thresholds[best]), "accuracy": float(accuracy[best_acc]),
            "accuracy_threshold": float(thresholds[best_acc])}


class PairClassificationTask:
    name = "pairs"
    metrics = ("cosine_ap", "cosine_f1", "cosine_accuracy", "cosine_precision", "cosine_recall")
    unit = "pairs (bootstrap resamples within each label)"
    roles = {"text1": ["text1", "sentence1", "question1", "s1", "a"],
             "text2": ["text2", "sentence2", "question2", "s2", "b"],
             "label": ["label", "is_duplicate", "duplicate", "target"]}

    def load(self, source: TaskSource) -> TaskData:
        return read_pairs(source, self.roles, "label", binary=True)

    def score(self, data: PairsData, embed: Embed) -> Outcome:
        similarity = cosine_rows(embed(data.text1, "query"), embed(data.text2, "query"))
        labels = np.asarray(data.target, dtype=int)

        def metrics(idx: np.ndarray) -> dict[str, float]:
            s, y = similarity[idx], labels[idx]
            best = best_threshold(s, y)
            return {"cosine_ap": average_precision(y, s), "cosine_f1": best["f1"],
                    "cosine_accuracy": best["accuracy"], "cosine_precision": best["precision"],
                    "cosine_recall": best["recall"]}

        everything = np.arange(len(labels))
        scores = metrics(everything)
        best = best_threshold(similarity, labels)
        rows = [{"unit": u, "label": int(y), "cosine": float(s), "predicted": int(s > best["f1_threshold"])}
                for u, y, s in zip(data.units, labels, similarity)]
        return Outcome(scores=scores, resample=metrics, rows=rows,
                       details={"f1_threshold": best["f1_threshold"], "accuracy_threshold": best["accuracy_threshold"]})
