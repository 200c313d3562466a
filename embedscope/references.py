"""Published scores next to your own: MTEB result files, model-card references, and whether the orders agree.

A leaderboard ranks models on public data; what matters is the order on yours. This module imports MTEB
result JSON (for models you cannot run here, so they still appear in the comparison as references), lines
reference scores up against the scores measured on the user's data, and measures how far the two orders agree
(Kendall's tau and Spearman's rho), with a warning when they do not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.data.errors import DataError

_MTEB_METRIC = re.compile(r"^(ndcg|recall|precision|mrr|map|hit_rate)_at_(\d+)$")
_OURS = {"ndcg": "ndcg", "recall": "recall", "precision": "precision", "mrr": "mrr", "map": "map", "hit_rate": "hit"}


@dataclass
class Reference:
    """A model's published scores on one task, not computed here."""

    model: str
    task: str
    split: str
    metrics: dict[str, float]
    source: str
    meta: dict = field(default_factory=dict)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _metrics(scores: dict) -> dict[str, float]:
    out = {}
    for key, value in scores.items():
        m = _MTEB_METRIC.match(key)
        if m and isinstance(value, (int, float)):
            out[f"{_OURS[m.group(1)]}@{m.group(2)}"] = float(value)
    return out


def _model_name(path: Path, data: dict) -> str:
    """MTEB stores results as results/<org>__<model>/<revision>/<Task>.json, with model_meta.json beside them."""
    for folder in (path.parent, path.parent.parent):
        meta = folder / "model_meta.json"
        if meta.exists():
            try:
                name = json.loads(meta.read_text(encoding="utf-8")).get("name")
                if name:
                    return name
            except json.JSONDecodeError:
                pass
    if data.get("model_name"):
        return str(data["model_name"])
    for folder in (path.parent, path.parent.parent):
        if "__" in folder.name:
            return folder.name.replace("__", "/")
    return path.parent.name


def read_mteb_result(path: str | Path, model: str | None = None) -> list[Reference]:
    """One MTEB result file -> a Reference per split. Reads the current format (`task_name`, `scores: {split:
    [{hf_subset, ndcg_at_10, ...}]}`) and the older one (`mteb_dataset_name`, `{split: {ndcg_at_10, ...}}`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except json.JSONDecodeError as e:
        raise DataError(path, f"malformed JSON ({e.msg})", e.lineno) from None
    if not isinstance(data, dict):
        raise DataError(path, "not an MTEB result (expected a JSON object)")
    task = data.get("task_name") or data.get("mteb_dataset_name")
    if not task:
        raise DataError(path, "not an MTEB result (no task_name / mteb_dataset_name)")
    name = model or _model_name(path, data)
    refs = []
    if isinstance(data.get("scores"), dict):
        for split, entries in data["scores"].items():
            entries = entries if isinstance(entries, list) else [entries]
            # Multilingual tasks list one entry per subset; keep 'default' when present, else average them.
            chosen = [e for e in entries if e.get("hf_subset", "default") == "default"] or entries
            per = [_metrics(e) for e in chosen]
            keys = set.intersection(*(set(p) for p in per)) if per else set()
            metrics = {k: sum(p[k] for p in per) / len(per) for k in keys}
            if metrics:
                refs.append(Reference(name, task, split, metrics, str(path), {"mteb_version": data.get("mteb_version")}))
    else:
        for split, scores in data.items():
            if isinstance(scores, dict):
                metrics = _metrics(scores)
                if metrics:
                    refs.append(Reference(name, task, split, metrics, str(path), {"mteb_version": data.get("mteb_version")}))
    if not refs:
        raise DataError(path, f"no retrieval metrics (ndcg_at_10, ...) found for task {task}")
    return refs


def read_references(paths, task: str | None = None, split: str = "test") -> list[Reference]:
    """Every MTEB result under the given files/folders, kept to one task (matched loosely by name) and split."""
    found: list[Reference] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(p, "file or folder not found")
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            if f.name == "model_meta.json":
                continue
            found.extend(read_mteb_result(f))
    if task:
        found = [r for r in found if _norm(r.task) == _norm(task)]
    return [r for r in found if r.split == split]


def task_for(dataset_name: str) -> str:
    """The MTEB task name for a dataset folder name, as far as it can be guessed (SciFact, NFCorpus, ...)."""
    known = {"scifact": "SciFact", "nfcorpus": "NFCorpus", "fiqa": "FiQA2018", "arguana": "ArguAna",
             "trec-covid": "TRECCOVID", "scidocs": "SCIDOCS", "quora": "QuoraRetrieval", "nq": "NQ",
             "hotpotqa": "HotpotQA", "msmarco": "MSMARCO", "touche2020": "Touche2020", "dbpedia-entity": "DBPedia",
             "fever": "FEVER", "climate-fever": "ClimateFEVER", "cqadupstack": "CQADupstackRetrieval"}
    base = dataset_name.lower().split("-sub")[0]
    return known.get(base, dataset_name)


@dataclass
class Agreement:
    """How the public order of models compares with the order measured on the user's data."""

    task: str
    metric: str
    rows: list[dict]
    kendall_tau: float | None
    spearman_rho: float | None
    inversions: list[tuple[str, str]]
    warning: str | None

    def to_dict(self) -> dict:
        return {"task": self.task, "metric": self.metric, "rows": self.rows, "kendall_tau": self.kendall_tau,
                "spearman_rho": self.spearman_rho, "inversions": [list(p) for p in self.inversions],
                "warning": self.warning}


def agreement(own: dict[str, float], reference: dict[str, float], task: str, metric: str = "ndcg@10",
              min_tau: float = 0.6) -> Agreement:
    """Rank correlation between reference and own scores over models that have both, and the pairs whose
    order flips. Warns when the best model differs or Kendall's tau is below `min_tau`."""
    from scipy.stats import kendalltau, spearmanr

    models = [m for m in own if m in reference]
    rows = [{"model": m, "reference": reference[m], "own": own[m]} for m in models]
    inversions = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]
                  if (reference[a] - reference[b]) * (own[a] - own[b]) < 0]
    tau = rho = None
    warning = None
    if len(models) >= 2:
        ref_v, own_v = [reference[m] for m in models], [own[m] for m in models]
        if len(models) >= 3:
            tau = float(kendalltau(ref_v, own_v).statistic)
            rho = float(spearmanr(ref_v, own_v).statistic)
        else:
            tau = rho = 1.0 if not inversions else -1.0
        best_ref = max(models, key=reference.get)
        best_own = max(models, key=own.get)
        reasons = []
        if best_ref != best_own:
            reasons.append(f"the leaderboard's best ({best_ref}) is not the best on your data ({best_own})")
        if tau is not None and tau < min_tau and len(models) >= 3:
            reasons.append(f"Kendall's tau is {tau:.2f}")
        if reasons:
            flips = ", ".join(f"{a} vs {b}" for a, b in inversions[:5])
            warning = ("The public leaderboard and your data disagree: " + "; ".join(reasons)
                       + (f" (order flips: {flips})" if flips else "") + ". Trust your own numbers.")
    return Agreement(task, metric, rows, tau, rho, inversions, warning)


def _card_reference(result, task: str) -> tuple[float | None, str | None]:
    from embedscope.models.cards import find_card

    names = [result.name, result.info.get("path"), result.spec if isinstance(result.spec, str) else None]
    card = find_card(*names)
    if card and task in (card.mteb or {}):
        return float(card.mteb[task]), card.mteb_source or "model card"
    return None, None


def reference_section(comparison, paths=(), task: str | None = None, metric: str = "ndcg@10") -> dict | None:
    """Published scores beside the scores measured here, and how far the two orders agree.

    Reference scores come from imported MTEB result files first, then from model cards. Imported models that
    were not run here are listed as reference-only rows, so models you cannot run still appear.
    """
    task = task or task_for(comparison.dataset.name)
    imported = read_references(paths, task=task) if paths else []
    metric = metric if metric in comparison.metrics else comparison.main_metric
    by_model = {_norm(r.model): r for r in imported}
    rows, used = [], set()
    for result in comparison.results:
        if result.evaluation is None:
            continue
        ref, source = None, None
        for key in (_norm(result.name), _norm(str(result.info.get("card", {}).get("name", "")))):
            if key in by_model and metric in by_model[key].metrics:
                ref, source = by_model[key].metrics[metric], by_model[key].source
                used.add(key)
                break
        if ref is None:
            ref, source = _card_reference(result, task) if metric == "ndcg@10" else (None, None)
        rows.append({"model": result.name, "own": result.evaluation.mean[metric], "reference": ref, "source": source})
    reference_only = [{"model": r.model, "metrics": r.metrics, "source": r.source}
                      for key, r in by_model.items() if key not in used]
    if not any(row["reference"] is not None for row in rows) and not reference_only:
        return None
    have = {row["model"]: row for row in rows if row["reference"] is not None}
    ag = agreement({m: r["own"] for m, r in have.items()}, {m: r["reference"] for m, r in have.items()}, task, metric)
    return {"task": task, "metric": metric, "models": rows, "reference_only": reference_only,
            "agreement": ag.to_dict()}
