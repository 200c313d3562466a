"""Published scores next to your own: MTEB result files, model-card references, and whether the orders agree.

A leaderboard ranks models on public data; what matters is the order on yours. This module imports MTEB
result JSON (for models you cannot run here, so they still appear in the comparison as references), lines
reference scores up against the scores measured on the user's data, and measures how far the two orders agree
(Kendall's tau and Spearman's rho), with a warning when they do not.

Every split MTEB publishes is read (test, dev, validation: C-MTEB's retrieval tasks publish only dev) and every
language subset (`hf_subset`), and the section says which split and subset each score comes from. Unless one is
asked for, the split shown is the first published of test, dev, validation; the subset is "default", else the
mean over the task's subsets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.data.errors import DataError

_MTEB_METRIC = re.compile(r"^(ndcg|recall|precision|mrr|map|hit_rate)_at_(\d+)$")
_OURS = {"ndcg": "ndcg", "recall": "recall", "precision": "precision", "mrr": "mrr", "map": "map", "hit_rate": "hit"}


SPLITS = ("test", "dev", "validation")  # preferred in this order when a task publishes several
MEAN = "mean"  # the subset name of the mean over a multilingual task's subsets
# MTEB retrieval task names for dataset folder names (BEIR, and C-MTEB's Chinese retrieval tasks)
TASKS = {"scifact": "SciFact", "nfcorpus": "NFCorpus", "fiqa": "FiQA2018", "arguana": "ArguAna",
         "trec-covid": "TRECCOVID", "scidocs": "SCIDOCS", "quora": "QuoraRetrieval", "nq": "NQ",
         "hotpotqa": "HotpotQA", "msmarco": "MSMARCO", "touche2020": "Touche2020", "dbpedia-entity": "DBPedia",
         "fever": "FEVER", "climate-fever": "ClimateFEVER", "cqadupstack": "CQADupstackRetrieval",
         "t2retrieval": "T2Retrieval", "mmarcoretrieval": "MMarcoRetrieval", "duretrieval": "DuRetrieval",
         "covidretrieval": "CovidRetrieval", "cmedqaretrieval": "CmedqaRetrieval", "ecomretrieval": "EcomRetrieval",
         "medicalretrieval": "MedicalRetrieval", "videoretrieval": "VideoRetrieval"}


@dataclass
class Reference:
    """A model's published scores on one task, split and language subset, not computed here."""

    model: str
    task: str
    split: str
    metrics: dict[str, float]
    source: str
    meta: dict = field(default_factory=dict)
    subset: str = "default"


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
    meta = {"mteb_version": data.get("mteb_version")}
    if isinstance(data.get("scores"), dict):
        for split, entries in data["scores"].items():
            entries = entries if isinstance(entries, list) else [entries]
            per = {str(e.get("hf_subset", "default")): _metrics(e) for e in entries if isinstance(e, dict)}
            per = {subset: metrics for subset, metrics in per.items() if metrics}
            for subset, metrics in per.items():
                refs.append(Reference(name, task, split, metrics, str(path), meta, subset))
            if len(per) > 1 and "default" not in per:  # a multilingual task: also the mean over its subsets
                keys = set.intersection(*(set(m) for m in per.values()))
                mean = {k: sum(m[k] for m in per.values()) / len(per) for k in keys}
                refs.append(Reference(name, task, split, mean, str(path), meta | {"subsets": sorted(per)}, MEAN))
    else:
        for split, scores in data.items():
            if isinstance(scores, dict):
                metrics = _metrics(scores)
                if metrics:
                    refs.append(Reference(name, task, split, metrics, str(path), meta))
    if not refs:
        raise DataError(path, f"no retrieval metrics (ndcg_at_10, ...) found for task {task}")
    return refs


def read_references(paths, task: str | None = None, split: str | None = None,
                    subset: str | None = None) -> list[Reference]:
    """Every MTEB result under the given files/folders, kept to one task (matched loosely by name) and, when
    given, one split and one language subset."""
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
    return [r for r in found if (split is None or r.split == split) and (subset is None or r.subset == subset)]


def _split_rank(split: str) -> tuple[int, str]:
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


def choose(references: list[Reference], split: str | None = None, subset: str | None = None) -> Reference | None:
    """The one reference to show among a model's: the split and subset asked for, else the preferred split
    (test, dev, validation) and subset (default, else the mean over subsets, else the first)."""
    candidates = [r for r in references
                  if (split is None or r.split == split) and (subset is None or r.subset == subset)]
    if not candidates:
        return None
    best_split = min((r.split for r in candidates), key=_split_rank)
    candidates = [r for r in candidates if r.split == best_split]
    order = {"default": 0, MEAN: 1}
    return min(candidates, key=lambda r: (order.get(r.subset, 2), r.subset))


def task_for(dataset_name: str) -> str:
    """The MTEB task name for a dataset folder name, as far as it can be guessed (SciFact, T2Retrieval, ...)."""
    base = dataset_name.lower().split("-sub")[0]
    return TASKS.get(base, TASKS.get(base.replace("_", "").replace("-", ""), dataset_name))


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
    note: str | None = None  # why differing orders do not make a warning (too few models, queries, or no evidence)

    def to_dict(self) -> dict:
        return {"task": self.task, "metric": self.metric, "rows": self.rows, "kendall_tau": self.kendall_tau,
                "spearman_rho": self.spearman_rho, "inversions": [list(p) for p in self.inversions],
                "warning": self.warning, "note": self.note}


def kendall_tau_b(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either list accounted), as scipy.stats.kendalltau computes it. Written out
    because a handful of models needs no more, and importing scipy.stats would cost a cached run a second."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denominator if denominator else float("nan")


def _average_ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1  # tied values share their average rank
        start = end + 1
    return ranks


def spearman_rho(x: list[float], y: list[float]) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks, as scipy.stats.spearmanr computes it."""
    rx, ry = _average_ranks(x), _average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx, sy = sum((a - mx) ** 2 for a in rx) ** 0.5, sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (sx * sy) if sx and sy else float("nan")


MIN_MODELS = 3  # Kendall's tau over two models is +1 or -1: no evidence of disagreement either way
MIN_QUERIES = 30  # below this the per-query tests cannot separate models (embedscope.stats.verdicts)


def agreement(own: dict[str, float], reference: dict[str, float], task: str, metric: str = "ndcg@10",
              min_tau: float = 0.6, pairs: list[dict] | None = None, queries: int | None = None) -> Agreement:
    """Rank correlation between reference and own scores over models that have both, and the pairs whose
    order flips. Warns when the best model differs or Kendall's tau is below `min_tau` — but only with at
    least MIN_MODELS models and (when known) MIN_QUERIES queries, and, when the significance tests are given
    (`pairs`, embedscope.stats), only if some flipped pair differs significantly on the user's data. Otherwise
    the differing orders are a `note`, not a warning."""
    models = [m for m in own if m in reference]
    rows = [{"model": m, "reference": reference[m], "own": own[m]} for m in models]
    inversions = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]
                  if (reference[a] - reference[b]) * (own[a] - own[b]) < 0]
    tau = rho = None
    warning = None
    if len(models) >= 2:
        ref_v, own_v = [reference[m] for m in models], [own[m] for m in models]
        if len(models) >= 3:
            tau = kendall_tau_b(ref_v, own_v)
            rho = spearman_rho(ref_v, own_v)
        else:
            tau = rho = 1.0 if not inversions else -1.0
        best_ref = max(models, key=reference.get)
        best_own = max(models, key=own.get)
        reasons = []
        if best_ref != best_own:
            reasons.append(f"the leaderboard's best ({best_ref}) is not the best on your data ({best_own})")
        if tau is not None and tau < min_tau and len(models) >= 3:
            reasons.append(f"Kendall's tau is {tau:.2f}")
        note = None
        if reasons:
            significant = {frozenset((p["a"], p["b"])) for p in pairs or [] if p["metric"] == metric and p["significant"]}
            evident = [(a, b) for a, b in inversions if frozenset((a, b)) in significant]
            if len(models) < MIN_MODELS:
                note = f"the orders differ, but {len(models)} models are too few to tell (at least {MIN_MODELS})"
            elif queries is not None and queries < MIN_QUERIES:
                note = f"the orders differ, but {queries} queries are too few to tell (at least {MIN_QUERIES})"
            elif pairs is not None and not evident:
                note = ("the orders differ, but no flipped pair differs significantly on your queries: "
                        "this data cannot tell them apart either")
            else:
                flips = ", ".join(f"{a} vs {b}" for a, b in (evident or inversions)[:5])
                label = "significant order flips" if pairs is not None else "order flips"
                warning = ("The public leaderboard and your data disagree: " + "; ".join(reasons)
                           + (f" ({label}: {flips})" if flips else "") + ". Trust your own numbers.")
        return Agreement(task, metric, rows, tau, rho, inversions, warning, note)
    return Agreement(task, metric, rows, tau, rho, inversions, warning)


def _card_reference(result, task: str, split: str | None) -> dict | None:
    """The model card's published score for `task` (the card of the model, or of the model it is a copy of)."""
    from embedscope.models.cards import find_card

    names = [(result.info.get("card") or {}).get("name"), result.name, result.info.get("path"),
             result.spec if isinstance(result.spec, str) else None]
    card = find_card(*names)
    for candidate in (card, find_card(card.base_model) if card and card.base_model else None):
        if candidate and task in (candidate.mteb or {}) and (split is None or candidate.split(task) == split):
            source = candidate.mteb_source or "model card"
            if candidate is not card:
                source = f"{source}; published for {candidate.name}, of which {card.name} is a copy"
            return {"reference": float(candidate.mteb[task]), "source": source, "split": candidate.split(task),
                    "subset": "default"}
    return None


def _names(result) -> tuple[list[str], str | None]:
    """Every name a published result for this model may be filed under (its own, its card's), and the model it
    is a copy of, whose published results stand in for its own."""
    from embedscope.models.cards import find_card

    card_info = result.info.get("card") or {}
    names = [n for n in (result.name, card_info.get("name"), *(card_info.get("aliases") or [])) if n]
    card = find_card(card_info.get("name")) if card_info.get("name") else None
    return names, card.base_model if card else None


def _trained_on(result, task: str) -> list[str]:
    """The model's declared training data that is the published score's task: that score is not zero-shot."""
    from embedscope.models.training_data import card_training_data, trained_on

    names = [result.name, result.info.get("path"), result.spec if isinstance(result.spec, str) else None]
    return trained_on(card_training_data(result.info, *names)[0], task)


def reference_section(comparison, paths=(), task: str | None = None, metric: str = "ndcg@10",
                      significance: dict | None = None) -> dict | None:
    """Published scores beside the scores measured here, and how far the two orders agree.

    Reference scores come from imported MTEB result files first, then from model cards (a quantized copy takes
    its base model's, marked so). Imported models that were not run here are listed as reference-only rows, so
    models you cannot run still appear. Each score says its split and subset; `reference_split` and
    `reference_subset` in the comparison's settings pick them, else the preferred ones are shown.
    """
    task = task or task_for(comparison.dataset.name)
    split = comparison.settings.get("reference_split")
    subset = comparison.settings.get("reference_subset")
    imported = read_references(paths, task=task) if paths else []
    metric = metric if metric in comparison.metrics else comparison.main_metric
    grouped: dict[str, list[Reference]] = {}
    for r in imported:
        grouped.setdefault(_norm(r.model), []).append(r)
    by_model = {key: chosen for key, refs in grouped.items()
                if (chosen := choose([r for r in refs if metric in r.metrics], split, subset)) is not None}
    rows, used = [], set()
    for result in comparison.results:
        if result.evaluation is None:
            continue
        found = None
        names, base = _names(result)
        for key in [_norm(n) for n in names] + ([_norm(base)] if base else []):
            if key in by_model:
                ref = by_model[key]
                source = ref.source if not base or key != _norm(base) else \
                    f"{ref.source}; published for {ref.model}, of which {result.name} is a copy"
                found = {"reference": ref.metrics[metric], "source": source, "split": ref.split, "subset": ref.subset}
                used.add(key)
                break
        if found is None and metric == "ndcg@10":
            found = _card_reference(result, task, split)
        found = found or {"reference": None, "source": None, "split": None, "subset": None}
        rows.append({"model": result.name, "own": result.evaluation.mean[metric], **found,
                     "trained_on": _trained_on(result, task)})
    reference_only = [{"model": r.model, "metrics": r.metrics, "source": r.source, "split": r.split,
                       "subset": r.subset} for key, r in by_model.items() if key not in used]
    if not any(row["reference"] is not None for row in rows) and not reference_only:
        return None
    shown = sorted({row["split"] for row in rows if row["reference"] is not None}
                   | {row["split"] for row in reference_only}, key=_split_rank)
    have = {row["model"]: row for row in rows if row["reference"] is not None}
    ag = agreement({m: r["own"] for m, r in have.items()}, {m: r["reference"] for m, r in have.items()}, task, metric,
                   pairs=(significance or {}).get("pairs"), queries=len(comparison.dataset.qrels))
    return {"task": task, "metric": metric, "split": "/".join(shown), "models": rows, "reference_only": reference_only,
            "agreement": ag.to_dict()}
