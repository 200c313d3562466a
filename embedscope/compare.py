"""The main job: every model over one dataset -> Runs -> Evaluations -> outputs in a run directory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.cache import EmbeddingCache
from embedscope.data import Dataset
from embedscope.errors import EmbedscopeError
from embedscope.metrics import Evaluation, canonical, evaluate
from embedscope.models.preflight import load_checked
from embedscope.models.training_data import flag as flag_training_overlap
from embedscope.runs import Run
from embedscope.runs.context import RetrievalContext, log as default_log


def metrics_for(k: int) -> list[str]:
    """The default metric set at cutoff k, plus recall@100 (first-stage quality for reranking)."""
    names = [f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"mrr@{k}", f"map@{k}", f"hit@{k}"]
    return names + ([] if k == 100 else ["recall@100"])


@dataclass
class Result:
    """One model's outcome on the dataset. A model that failed has status "failed", a one-line reason, an empty
    run and no evaluation; results.json records it and the other models' results stand."""

    name: str
    spec: str | dict
    run: Run | None
    evaluation: Evaluation | None
    info: dict = field(default_factory=dict)
    status: str = "ok"
    reason: str | None = None

    @classmethod
    def failed(cls, name: str, spec: str | dict, reason: str, info: dict | None = None) -> "Result":
        return cls(name, spec, Run(name, {}), None, dict(info or {}), status="failed", reason=reason)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Comparison:
    dataset: Dataset
    metrics: list[str]
    results: list[Result]
    k: int
    settings: dict = field(default_factory=dict)
    analysis: dict | None = None  # confidence intervals, significance, per-query analysis (embedscope.stats)

    def result(self, name: str) -> Result:
        return next(r for r in self.results if r.name == name)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def main_metric(self) -> str:
        return self.metrics[0]


def model_info(model) -> dict:
    info = {"class": type(model).__name__}
    for attr in ("dim", "max_seq_length", "path", "usage", "card", "warnings", "runtime", "quantized", "runtime_choice", "timings"):
        try:
            value = getattr(model, attr)
        except Exception:
            continue
        if value is not None:
            info[attr] = value
    if hasattr(model, "prompts"):
        info["prompts"] = model.prompts()
    return info


def failure_note(failures: dict) -> str:
    """One line on texts whose vectors were refused and left out (the recorded bad-vector policy)."""
    parts = []
    for role, found in failures.items():
        first = next(iter(found.items()))
        parts.append(f"{len(found):,} {role if len(found) > 1 else role[:-1]} (e.g. '{first[0]}': {first[1]})")
    return (f"bad vectors for {' and '.join(parts)}; left out: those documents are never retrieved and "
            f"those queries retrieve nothing, so they score zero")


def fully_cached(part, dataset: Dataset, context: RetrievalContext) -> str | None:
    """Why `part` of a model needs no pre-flight check on this dataset ("all N vectors are cached"), or None."""
    if not hasattr(part, "encode_documents"):
        return None
    from embedscope.runs.dense import DenseRetriever

    if DenseRetriever(part, context).missing(dataset) != 0:
        return None
    return f"all vectors of its {len(dataset.corpus):,} documents and {len(dataset.queries):,} queries are cached"


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


SPEED_SAMPLE = 32  # documents timed when a model's vectors all came from a cache that has no speed record


def encoding_speed(model, dataset, run, context) -> dict:
    """docs_per_second and where it comes from: this run's encoding; else, when every document vector came from
    the cache, the speed recorded when they were encoded; else a small sample of documents encoded now (and
    recorded). Nothing for models that encode nothing here (BM25, precomputed vectors, pipelines)."""
    embedding = run.meta.get("embedding") or {}
    emb = embedding.get("documents")
    if not emb:
        return {}
    encoded = emb["encoded"] - emb.get("from_check", 0)  # the runtime check's vectors took no time here
    if encoded and emb["encode_seconds"] > 0:
        return {"docs_per_second": encoded / emb["encode_seconds"], "speed_source": "encoding in this run"}
    recorded = emb.get("recorded_speed")
    if recorded:
        when = f", {recorded['measured']}" if recorded.get("measured") else ""
        return {"docs_per_second": recorded["texts_per_second"],
                "speed_source": f"measured when its vectors were encoded ({recorded['texts']:,} documents{when}); "
                                "this run read them from the cache"}
    texts = [d.text for d in list(dataset.corpus.values())[:SPEED_SAMPLE]]
    fingerprint = embedding.get("fingerprint")
    if not texts or not fingerprint or not hasattr(model, "encode_documents"):
        return {}
    if getattr(model, "request_batch_size", None):  # an API bills every call: not called again just to time it
        return {"speed_source": "not timed: its vectors came from the cache (an API model is not called again "
                                "just to time it; embedscope bench --run-dir times it)"}
    try:
        model.encode_documents(texts[:2])  # warm-up: the first call pays for lazy loading
        started = time.perf_counter()
        model.encode_documents(texts)
        seconds = time.perf_counter() - started
    except EmbedscopeError as e:  # an API that refuses now: the run's numbers stand, the speed stays unknown
        return {"speed_source": f"not timed: its vectors came from the cache and a sample could not be encoded ({e})"}
    if seconds <= 0:
        return {}
    context.cache.record_speed(fingerprint, "document", len(texts), seconds)
    came = "the runtime check" if emb.get("from_check") else "the cache"
    return {"docs_per_second": len(texts) / seconds,
            "speed_source": f"measured on a sample of {len(texts)} documents: its vectors came from {came}"}


def compare(
    dataset: Dataset,
    models: list[str | dict],
    *,
    k: int = 10,
    depth: int = 100,
    metrics: list[str] | None = None,
    cache_dir: str | Path | EmbeddingCache = ".embedscope-cache",
    log=None,
    **retrieval,
) -> Comparison:
    """Every model retrieves in one retrieval context (this cache, and the `retrieval` settings of
    RetrievalContext: index, similarity, chunk_tokens, fast); pipelines hand the same context to their stages."""
    if not models:
        raise ValueError("name at least one model")
    metrics = [canonical(m) for m in (metrics or metrics_for(k))]
    depth = max(depth, k)
    log = log or default_log.info
    context = RetrievalContext.of(cache_dir, depth=depth, log=log, **retrieval)
    results: list[Result] = []
    # every model built and checked before any work, all problems at once; a part whose vectors are all cached
    # needs nothing from its server and is not asked (a cached re-run of an API model works offline)
    built = load_checked(models, ready=lambda part: fully_cached(part, dataset, context))
    for model, spec, name in zip(built, models, unique_names([m.name for m in built])):
        model.name = name
        context.log(f"[{name}] retrieving top-{depth} for {len(dataset.queries)} queries over {len(dataset.corpus)} docs")
        started = time.perf_counter()
        try:
            run = context.retriever(model).retrieve(dataset, depth, context)
        except EmbedscopeError as e:  # expected (an API gave up, a server left): the other models still count
            log(f"[{name}] failed: {e}")
            results.append(Result.failed(name, spec, " ".join(str(e).split()), model_info(model)))
            continue
        seconds = time.perf_counter() - started
        evaluation = evaluate(dataset.qrels, run, metrics) if dataset.has_qrels else None
        info = model_info(model) | {"seconds": seconds}
        # a score on data the model was trained on is flagged wherever it is shown
        spec_name = spec if isinstance(spec, str) else None
        info = flag_training_overlap(info, dataset.name, name, info.get("path"), spec_name)
        if run.meta.get("failures"):
            info["warnings"] = [*info.get("warnings", []), failure_note(run.meta["failures"])]
        info |= encoding_speed(model, dataset, run, context)
        results.append(Result(name, spec, run, evaluation, info))
    bad_vectors = context.bad_vectors  # an EmbeddingCache given as cache_dir carries its policy
    settings = {"k": k, "depth": depth, "index": context.index, "similarity": context.similarity,
                "cache": str(context.cache_dir), "chunk_tokens": context.chunk_tokens, "bad_vectors": bad_vectors,
                "fast": context.fast}
    return Comparison(dataset, metrics, results, k, settings)
