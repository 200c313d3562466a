"""results.json: the one schema of a run directory's results, as typed records.

`embedscope run` (and every command that compares models) writes a `Results`; the report, the web app,
`recommend`, `show`, `bench --run-dir` and `embedscope.rundir` read the same records back. Nothing reads
results.json as a bare dict. The layout is documented field by field in docs/reference/results-schema.md.

Versions: `schema_version` counts layouts. A file written by an older layout is upgraded on reading (each
step is one function in `_UPGRADES`); a file from a newer embedscope fails with one line naming both versions.
Version 1 is the layout before the field existed: model run metadata named the vector similarity "metric",
and a model could not be recorded as failed. Version 3 added each model's file-name `slug` and the list of
files the run wrote (`files`: size and SHA-256 of each, checked by embedscope.rundir when read).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embedscope.errors import EmbedscopeError

SCHEMA_VERSION = 3
FILENAME = "results.json"


class ResultsError(EmbedscopeError, ValueError):
    """results.json is missing, unreadable, of an unknown version, or not in the schema."""


class NotARunDirectory(ResultsError, FileNotFoundError):
    """The folder has no results.json."""


class _Record(BaseModel):
    """A strict record: a field the schema does not name is an error, so a writer cannot drift from it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _OpenRecord(BaseModel):
    """A record whose named fields are typed and that keeps further, component-specific fields as they are
    (a model's info and run metadata differ by kind of model)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def get(self, key: str, default: Any = None) -> Any:
        """A field by name, or a further field the writer added; `default` when absent."""
        if key in type(self).model_fields:
            value = getattr(self, key)
            return default if value is None else value
        return (self.model_extra or {}).get(key, default)


# --- the dataset and the settings the comparison ran with -------------------------------------------------------


class DatasetSummary(_OpenRecord):
    name: str
    documents: int | None = None
    queries: int | None = None
    judged_queries: int | None = None
    judgments: int | None = None
    grades: list[int] = Field(default_factory=list)


class Settings(_OpenRecord):
    """How the comparison ran. `source` is what reloads the dataset (embedscope.rundir.read_dataset)."""

    k: int | None = None
    depth: int | None = None
    index: str | None = None
    similarity: str | None = None
    cache: str | None = None
    chunk_tokens: int | None = None
    source: dict | str | None = None
    reference_paths: list[str] = Field(default_factory=list)
    reference_task: str | None = None
    reference_split: str | None = None
    reference_subset: str | None = None


# --- one model ----------------------------------------------------------------------------------------------------


class ModelInfo(_OpenRecord):
    """What the model says about itself (dimension, prompts, card) and how long the run took."""

    class_name: str | None = Field(None, alias="class")
    dim: int | None = None
    max_seq_length: int | None = None
    path: str | None = None
    card: dict | None = None
    prompts: dict | None = None
    warnings: list[str] = Field(default_factory=list)
    trained_on: list[str] = Field(default_factory=list)  # declared training data that is the dataset scored on
    seconds: float | None = None
    docs_per_second: float | None = None


class RunMeta(_OpenRecord):
    """The run's own metadata (embedscope.runs.Run.meta): kind of retrieval, the index really used, the
    similarity, timings, embedding statistics. Pipelines add their own fields (stages, clusters, ...)."""

    kind: str | None = None
    index: str | None = None
    similarity: str | None = None
    dim: int | None = None
    index_seconds: float | None = None
    search_seconds: float | None = None


class ModelResult(_Record):
    """One model of the comparison. A model that failed has status "failed", a one-line reason, and no
    metrics or run file; the other models' results are still written."""

    name: str
    spec: str | dict
    status: Literal["ok", "failed"] = "ok"
    reason: str | None = None
    info: ModelInfo = Field(default_factory=ModelInfo)
    run: RunMeta = Field(default_factory=RunMeta)
    metrics: dict[str, float] | None = None
    slug: str | None = None  # the model's name as a file name, unique in the run directory
    run_file: str | None = None  # runs/<slug>.trec

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --- statistics (embedscope.stats.analyse) --------------------------------------------------------------------------


class Interval(_Record):
    mean: float
    low: float
    high: float


class ConfidenceIntervals(_Record):
    method: str
    confidence: float
    resamples: int
    seed: int
    queries: int  # units resampled: queries for retrieval; rows, pairs or queries for other tasks (see `unit`)
    models: dict[str, dict[str, Interval]]  # model -> metric -> interval
    unit: str | None = None  # other tasks: what a resample draws, in words


class Pair(_Record):
    """One pair of models on one metric; `a` is ranked above `b` on the main metric."""

    metric: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    difference: float  # mean over queries of (a - b)
    difference_low: float
    difference_high: float
    p_randomization: float
    p_randomization_holm: float
    p_ttest: float | None
    p_ttest_holm: float | None
    significant: bool
    better: str | None
    verdict: str
    minimum_detectable_effect: float | None
    queries_needed: int | None
    test: str | None = None  # other tasks: "randomization" or "bootstrap", the test p_randomization comes from


class Significance(_Record):
    main_metric: str
    alpha: float
    test: str
    second_opinion: str
    permutations: int
    seed: int
    queries: int
    order: list[str]  # best first by the main metric
    pairs: list[Pair]
    warnings: list[str] = Field(default_factory=list)

    def main_pairs(self) -> list[Pair]:
        return [p for p in self.pairs if p.metric == self.main_metric]

    def pair(self, a: str, b: str, metric: str | None = None) -> Pair | None:
        metric = metric or self.main_metric
        return next((p for p in self.pairs if p.metric == metric and {p.a, p.b} == {a, b}), None)


class WinTieLoss(_Record):
    a: str
    b: str
    wins: int
    ties: int
    losses: int


class Disagreement(_Record):
    query_id: str
    query: str
    spread: float
    scores: dict[str, float]
    best: str
    worst: str
    marks: dict[str, str] = Field(default_factory=dict)  # model -> one mark per top-k hit


class PerQuery(_Record):
    metric: str
    k: int
    win_tie_loss: list[WinTieLoss]
    disagreements: list[Disagreement]


# --- published references beside the measured scores (embedscope.references) --------------------------------------


class ReferenceRow(_Record):
    model: str
    own: float
    reference: float | None
    source: str | None
    split: str | None = None  # the split the published score is on (test, dev, validation)
    subset: str | None = None  # its language subset ("default", "mean" over subsets, or a language)
    trained_on: list[str] = Field(default_factory=list)  # the model's declared training data that is this task


class ReferenceOnly(_Record):
    model: str
    metrics: dict[str, float]
    source: str | None
    split: str | None = None
    subset: str | None = None


class Agreement(_Record):
    task: str | None
    metric: str
    rows: list[dict]
    kendall_tau: float | None
    spearman_rho: float | None
    inversions: list[list[str]]
    warning: str | None
    note: str | None = None  # why differing orders made no warning


class References(_Record):
    task: str | None
    metric: str
    split: str | None = None  # the split(s) shown, e.g. "test" or "dev" (C-MTEB), "test/dev" when mixed
    models: list[ReferenceRow]
    reference_only: list[ReferenceOnly]
    agreement: Agreement


# --- the files the run wrote -----------------------------------------------------------------------------------------


class FileEntry(_Record):
    """One file of the run directory as the run wrote it."""

    bytes: int
    sha256: str


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the whole file -------------------------------------------------------------------------------------------------


class Results(_Record):
    """Everything results.json holds. `task` names the kind of evaluation ("retrieval"; other task types
    write their own metrics in the same layout)."""

    schema_version: int = SCHEMA_VERSION
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    task: str = "retrieval"
    dataset: DatasetSummary
    metrics: list[str]  # the first is the main metric
    settings: Settings = Field(default_factory=Settings)
    models: list[ModelResult]
    confidence_intervals: ConfidenceIntervals | None = None
    significance: Significance | None = None
    per_query: PerQuery | None = None
    references: References | None = None
    # Every other file of the run directory by relative path, written before results.json (empty in files
    # written before version 3, and by commands that record none).
    files: dict[str, FileEntry] = Field(default_factory=dict)

    # -- reading helpers every reader shares --

    @property
    def main_metric(self) -> str | None:
        return self.metrics[0] if self.metrics else None

    def model(self, name: str) -> ModelResult:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model '{name}' in these results; they have {', '.join(m.name for m in self.models)}")

    @property
    def ok_models(self) -> list[ModelResult]:
        return [m for m in self.models if m.ok]

    @property
    def failed_models(self) -> list[ModelResult]:
        return [m for m in self.models if not m.ok]

    def score(self, model: str, metric: str | None = None) -> float | None:
        metric = metric or self.main_metric
        found = self.model(model).metrics or {}
        return found.get(metric) if metric else None

    def interval(self, model: str, metric: str) -> tuple[float, float] | None:
        """The confidence interval of a model's mean on a metric, when the statistics were computed."""
        ci = self.confidence_intervals
        found = ci.models.get(model, {}).get(metric) if ci else None
        return (found.low, found.high) if found else None

    def ranked(self) -> list[ModelResult]:
        """Models best first by the main metric; failed and unscored models last, in their own order."""
        main = self.main_metric

        def key(m: ModelResult):
            value = (m.metrics or {}).get(main) if main else None
            return -value if value is not None else float("inf")

        return sorted(self.models, key=key)

    def warnings(self) -> list[str]:
        """Every warning the results carry: the statistics', each model's own, and each failure."""
        found = list(self.significance.warnings) if self.significance else []
        if self.references and self.references.agreement.warning:
            found.append(self.references.agreement.warning)
        for m in self.models:
            found += [f"{m.name}: {w}" for w in m.info.warnings if w]
            if not m.ok:
                found.append(f"{m.name} failed: {m.reason or 'no reason recorded'}")
        return list(dict.fromkeys(found))

    # -- file I/O --

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict, source: str = FILENAME) -> "Results":
        if not isinstance(data, dict):
            raise ResultsError(f"{source}: not a JSON object")
        data = upgrade(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
            raise ResultsError(f"{source}: not in results schema version {SCHEMA_VERSION}: "
                               f"{where}: {first['msg']}{more}") from None

    @classmethod
    def read(cls, run_dir: str | Path) -> "Results":
        path = Path(run_dir) / FILENAME
        if not path.exists():
            raise NotARunDirectory(f"{path}: not a run directory (no {FILENAME}); make one with `embedscope run`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ResultsError(f"{path}: unreadable ({e})") from None
        return cls.from_dict(data, str(path))


# --- upgrading older layouts ---------------------------------------------------------------------------------------


def _v1_to_v2(data: dict) -> dict:
    """Version 1 named the vector similarity "metric" in each model's run metadata (and in the stages of a
    pipeline), and had no model status."""
    data = dict(data)

    def rename(meta):
        if isinstance(meta, dict):
            meta = dict(meta)
            if "metric" in meta and "similarity" not in meta:
                meta["similarity"] = meta.pop("metric")
            for key in ("stage_meta",):
                if isinstance(meta.get(key), dict):
                    meta[key] = {name: rename(m) for name, m in meta[key].items()}
            if isinstance(meta.get("first_stage_meta"), dict):
                meta["first_stage_meta"] = rename(meta["first_stage_meta"])
        return meta

    models = []
    for m in data.get("models") or []:
        m = dict(m)
        m["run"] = rename(m.get("run") or {})
        m.setdefault("status", "ok")
        models.append(m)
    data["models"] = models
    data["schema_version"] = 2
    return data


def _v2_to_v3(data: dict) -> dict:
    """Version 3 added optional fields only (a model's `slug`, the run's `files`)."""
    return dict(data) | {"schema_version": 3}


_UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3}


def upgrade(data: dict, source: str = FILENAME) -> dict:
    """Bring a results dict of any known older layout to the current one; refuse a newer one in one line."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise ResultsError(f"{source}: schema_version {version!r} is not a results schema version")
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{source}: results schema version {version} was written by a newer embedscope; "
                           f"this one reads versions 1 to {SCHEMA_VERSION}: upgrade embedscope")
    while version < SCHEMA_VERSION:
        data = _UPGRADES[version](data)
        version = data["schema_version"]
    return data
