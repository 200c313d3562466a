"""Everything `embedscope bench` measures for a set of models on one dataset, as one JSON-ready dict (perf.json)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

from embedscope.perf import cost as costs
from embedscope.perf.footprint import footprint
from embedscope.perf.speed import benchmark, hardware, load_measured

log = logging.getLogger(__name__)


def parameter_count(model) -> int | None:
    """Weights in the model: its own count, torch parameters, or ONNX initializers (counted as elements, whatever their dtype)."""
    if hasattr(model, "parameter_count"):  # runtimes that know their own graph format (OpenVINO IR)
        return model.parameter_count()
    inner = getattr(model, "model", None)
    if hasattr(inner, "parameters"):
        return int(sum(p.numel() for p in inner.parameters()))
    model_file = getattr(model, "model_file", None)
    if model_file:
        import onnx

        graph = onnx.load(str(model_file), load_external_data=False).graph
        total = 0
        for init in graph.initializer:
            n = 1
            for d in init.dims:
                n *= d
            total += n if n > 1 else 0  # scalars are quantization scales and shape constants, not weights
        return total
    return None


def is_static(model) -> bool:
    return type(model).__name__ in ("Model2VecEmbedder", "WordLlamaEmbedder")


def declared_languages(model) -> list[str] | None:
    """Languages from the model card's YAML header (`language:`), where the model folder has one."""
    for attr in ("path", "tokenizer_dir"):
        folder = getattr(model, attr, None)
        if not folder:
            continue
        card = Path(folder) / "README.md"
        if not card.is_file():
            continue
        text = card.read_text(encoding="utf-8", errors="replace")
        header = re.match(r"---\n(.*?)\n---", text, re.S)
        if header:
            import yaml

            try:
                meta = yaml.safe_load(header.group(1)) or {}
            except yaml.YAMLError:
                return None
            langs = meta.get("language")
            if langs:
                return [langs] if isinstance(langs, str) else [str(x) for x in langs]
    return None


def bench_model(spec, dataset, *, latency_queries: int = 100, max_docs: int | None = None, log=log.info,
                context=None) -> dict:
    """Encoding speed, memory, footprint of an embedder; for any other retriever (BM25, precomputed vectors,
    pipelines) its single-query retrieval latency, which is what it can be compared on."""
    model, load_seconds, load_mb = load_measured(spec)
    if not hasattr(model, "encode_documents"):
        from embedscope.perf.latency import query_latency
        from embedscope.runs.context import RetrievalContext

        entry = {"name": model.name, "spec": spec}
        if hasattr(model, "dim"):
            entry["footprint"] = footprint(int(model.dim), corpus_size=len(dataset.corpus))
        log(f"[{model.name}] timing {min(latency_queries, len(dataset.queries))} single queries")
        try:
            entry["retrieval"] = query_latency(model, dataset, context or RetrievalContext(),
                                               queries=latency_queries)
        except ValueError as e:
            entry["skipped"] = f"no single-query latency: {e}"
        return entry
    docs = dataset.doc_texts[:max_docs] if max_docs else dataset.doc_texts
    log(f"[{model.name}] encoding {len(docs):,} docs, then {min(latency_queries, len(dataset.queries))} single queries")
    speed = benchmark(model, docs, dataset.query_texts, latency_queries=latency_queries)
    speed.load_seconds, speed.load_rss_delta_mb = load_seconds, load_mb
    return {"name": model.name, "spec": spec, "speed": speed.to_dict(), "parameters": parameter_count(model),
            "static": is_static(model), "languages": declared_languages(model),
            "footprint": footprint(int(model.dim), corpus_size=len(dataset.corpus)), "_model": model}


def bench(dataset, specs: list, *, prices: dict, scales=costs.SCALES, latency_queries: int = 100,
          max_docs: int | None = None, reference_api: str | None = None, log=log.info, context=None) -> dict:
    """Speed, footprint and cost for each model spec; API options priced on the same corpus."""
    corpus = dataset.doc_texts
    scales = sorted({*scales, len(corpus)})
    min_hours = float(prices.get("min_billed_hours", 1.0))
    models, options = [], costs.api_options(prices, corpus)
    for spec in specs:
        entry = bench_model(spec, dataset, latency_queries=latency_queries, max_docs=max_docs, log=log,
                            context=context)
        model = entry.pop("_model", None)
        if model is not None:
            from embedscope.perf.tokens import model_counter

            counter = model_counter(model, truncate=True)
            per_text = sum(counter[0](corpus)) / max(len(corpus), 1) if counter else None
            entry["tokens_per_text"] = per_text
            options += costs.self_hosted_options(
                prices, entry["name"], measured_texts_per_second=entry["speed"]["docs_per_second"],
                tokens_per_text=per_text, parameters=entry["parameters"], token_counter=counter[1] if counter else None,
                static=entry["static"])
        models.append(entry)
    return {
        **_header(dataset, min(max_docs or len(corpus), len(corpus))),
        "models": models,
        "cost": {"scales": scales, "min_billed_hours": min_hours, "currency": prices.get("currency", "USD"),
                 "rows": costs.cost_table(options, scales, min_hours, reference_api)},
    }


def _header(dataset, timed_documents: int) -> dict:
    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": {"name": dataset.name, "documents": len(dataset.corpus), "queries": len(dataset.queries),
                        "timed_documents": timed_documents},
            "hardware": hardware()}


def server_only(dataset) -> dict:
    """perf.json for a load test alone: the machine and the texts sent, no local model timed."""
    return {**_header(dataset, 0), "models": [], "cost": None}
