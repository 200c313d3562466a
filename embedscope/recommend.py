"""Which model to use: the Pareto front of quality vs cost vs latency, and the best model under constraints.

Inputs are a run directory's results.json (quality per model), perf.json (speed, footprint, cost from
`embedscope bench --run-dir`) and latency.json (single-query retrieval latency that `embedscope recommend`
measures itself for any model without one: dense, precomputed, BM25 and pipelines alike). Quality is the run's
main metric (e.g. nDCG@10, higher is better); cost is the cheapest way found to embed `scale` texts (API price,
or the cheapest machine in the price table; nothing for BM25, which embeds nothing); latency is the measured
single-query p95. Every model not chosen gets its reasons: the constraints it breaks, why a number is unknown,
or the model that dominates it, or how much quality it gives up against the choice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from embedscope.perf.cost import self_hosted_cost
from embedscope.results import Results, ResultsError

MULTILINGUAL = {"multilingual", "multi", "xx", "*"}


@dataclass
class Candidate:
    name: str
    quality: float | None
    cost_usd: float | None = None
    cost_option: str | None = None
    latency_ms: float | None = None
    dim: int | None = None
    languages: list[str] | None = None
    dense: bool = True
    trained_on: list[str] = field(default_factory=list)  # quality measured on data the model was trained on
    status: str = "candidate"
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    footprint_bytes: int | None = None  # float32 vectors of the corpus: dimension x 4 bytes x documents
    unknown: dict[str, str] = field(default_factory=dict)  # quantity -> why it is not known

    def objectives(self) -> tuple[float, float, float]:
        """(quality, cost, latency) with unknowns as the worst value: a missing measurement never wins."""
        return (self.quality if self.quality is not None else -math.inf,
                self.cost_usd if self.cost_usd is not None else math.inf,
                self.latency_ms if self.latency_ms is not None else math.inf)


def dominates(a: Candidate, b: Candidate) -> bool:
    """a is at least as good as b on quality, cost and latency, and strictly better on one."""
    qa, ca, la = a.objectives()
    qb, cb, lb = b.objectives()
    return qa >= qb and ca <= cb and la <= lb and (qa > qb or ca < cb or la < lb)


def pareto_front(candidates: list[Candidate]) -> list[Candidate]:
    return [c for c in candidates if not any(dominates(o, c) for o in candidates if o is not c)]


def cheapest(rows: list[dict], name: str, texts: int, min_hours: float) -> tuple[float, str] | None:
    """(USD, how) for the cheapest row of this model at `texts`, recomputed from the row's rates."""
    best = None
    for row in rows:
        if row["name"] != name:
            continue
        if row["kind"] == "api":
            usd, how = texts * row["usd_per_1k_texts"] / 1000, "API"
        else:
            usd, _ = self_hosted_cost(texts, row["texts_per_second"], row["usd_per_hour"], min_hours)
            how = row["hardware"]
        if best is None or usd < best[0]:
            best = (usd, how)
    return best


VECTOR_KINDS = ("dense", "precomputed")
LEXICAL_KINDS = ("lexical", "bm25")


def candidates_from(results: Results, perf: dict | None, *, metric: str | None = None, scale: int | None = None,
                    percentile: str = "p95", latency: dict | None = None) -> tuple[list[Candidate], str, int]:
    """One candidate per model of the run. `latency` is latency.json's {model: {"query_latency_ms": {...}}
    or {"unknown": reason}}, measured by `embedscope recommend`; it wins over perf.json's encode-only latency.
    In a run of another task (classification, STS, ...) nothing is searched: latency is that of embedding one text,
    cost that of embedding `scale` texts, quality the task's main metric."""
    metric = metric or results.main_metric
    perf = perf or {"models": [], "cost": {"rows": []}}
    latency = latency or {}
    scale = scale or perf.get("dataset", {}).get("documents") or results.dataset.documents or 0
    documents = results.dataset.documents or 0
    by_name = {m["name"]: m for m in perf.get("models", [])}
    rows = (perf.get("cost") or {}).get("rows", [])  # a load test alone has no cost table
    api_rows = {row["name"]: row for row in rows if row["kind"] == "api"}
    min_hours = float((perf.get("cost") or {}).get("min_billed_hours", 1.0))
    kinds = {m.name: m.run.kind or "dense" for m in results.models}
    out = []
    for m in results.models:
        measured = by_name.get(m.name, {})
        speed = measured.get("speed") or {}
        timed = latency.get(m.name) or measured.get("retrieval") or {}
        kind = kinds[m.name]
        dim = m.info.dim or speed.get("dim") or (api_rows.get(m.name) or {}).get("dim")
        c = Candidate(name=m.name, quality=(m.metrics or {}).get(metric), dim=dim,
                      languages=measured.get("languages") or (api_rows.get(m.name) or {}).get("languages"),
                      dense=kind in VECTOR_KINDS, trained_on=list(m.info.trained_on))
        if m.info.trained_on:
            c.notes.append(f"its {metric} comes from data it was trained on ({', '.join(m.info.trained_on)}): "
                           "not zero-shot, check it on data it has not seen")
        if not m.ok:
            c.unknown["quality"] = f"the model failed in this run: {m.reason}"
        c.latency_ms = (timed.get("query_latency_ms") or speed.get("query_latency_ms") or {}).get(percentile)
        if c.latency_ms is None:
            c.unknown["latency"] = timed.get("unknown") or "latency not measured (the run's dataset was not reloaded)"
        if results.task != "retrieval" and c.latency_ms is not None:
            c.notes.append("latency: embedding one text (a task run has no search)")
        if c.dense and dim:
            c.footprint_bytes = int(dim) * 4 * documents
        _place_cost(c, m, kind, rows, scale, min_hours, kinds)
        out.append(c)
    return out, metric, scale


def _place_cost(c: Candidate, m, kind: str, rows: list[dict], scale: int, min_hours: float, kinds: dict) -> None:
    """The cheapest way to embed `scale` texts with this model, or why it is not known."""
    price = cheapest(rows, m.name, scale, min_hours)
    if price:
        c.cost_usd, c.cost_option = price
    elif kind in LEXICAL_KINDS:
        c.cost_usd, c.cost_option = 0.0, "nothing to embed (lexical index)"
    elif kind == "precomputed":
        c.unknown["cost"] = ("embedding cost not known: the vectors were computed elsewhere; add a price-table row "
                             f"named {m.name} (--prices) to price the model that made them")
    elif kind in ("hybrid", "rerank", "cluster-filter"):
        stages = list(m.run.get("stages") or []) + ([m.run.get("first_stage")] if m.run.get("first_stage") else [])
        parts = [(s, cheapest(rows, s, scale, min_hours)) for s in stages]
        if stages and all(p or kinds.get(s) in LEXICAL_KINDS for s, p in parts):
            c.cost_usd = sum(p[0] for _, p in parts if p)
            c.cost_option = " + ".join(f"{s}: {p[1]}" if p else f"{s}: nothing" for s, p in parts)
        else:
            missing = [s for s, p in parts if not p and kinds.get(s) not in LEXICAL_KINDS] or [m.name]
            c.unknown["cost"] = (f"embedding cost not known: its stage(s) {', '.join(missing)} are not priced "
                                 "(the cost of a pipeline is the cost of its dense stages)")
    else:
        c.unknown["cost"] = "no cost known (not benchmarked with `embedscope bench --run-dir`, not in the price table)"


def speaks(languages: list[str] | None, wanted: str) -> bool | None:
    if not languages:
        return None
    langs = {x.lower() for x in languages}
    return wanted.lower() in langs or bool(langs & MULTILINGUAL)


def recommend(candidates: list[Candidate], *, max_latency_ms: float | None = None, max_cost: float | None = None,
              max_dim: int | None = None, language: str | None = None) -> dict:
    for c in candidates:
        if c.quality is None:
            c.reasons.append("no quality score in results.json (no qrels?)")
        if max_latency_ms is not None:
            if c.latency_ms is None:
                c.reasons.append(c.unknown.get("latency", "latency not measured"))
            elif c.latency_ms > max_latency_ms:
                c.reasons.append(f"latency {c.latency_ms:.1f} ms > --max-latency-ms {max_latency_ms:g}")
        if max_cost is not None:
            if c.cost_usd is None:
                c.reasons.append(c.unknown.get("cost", "no cost known"))
            elif c.cost_usd > max_cost:
                c.reasons.append(f"cost ${c.cost_usd:,.2f} > --max-cost ${max_cost:,.2f}")
        if max_dim is not None and c.dense:
            if c.dim is None:
                c.reasons.append("dimension unknown")
            elif c.dim > max_dim:
                c.reasons.append(f"dimension {c.dim} > --max-dim {max_dim}")
        if language:
            ok = speaks(c.languages, language)
            if ok is False:
                c.reasons.append(f"languages {', '.join(c.languages)} do not include {language}")
            elif ok is None:
                c.notes.append(f"model card declares no language: check {language} yourself")
        c.notes += [why for why in c.unknown.values() if why not in c.reasons]
        if c.reasons:
            c.status = "excluded"
    front = pareto_front(candidates)
    feasible = [c for c in candidates if c.status != "excluded"]
    chosen = None
    if feasible:
        # Best quality first; among equals the cheaper, then the faster.
        chosen = min(feasible, key=lambda c: (-c.objectives()[0], c.objectives()[1], c.objectives()[2]))
        chosen.status = "chosen"
        chosen.reasons.append(_why_chosen(chosen, feasible))
    for c in feasible:
        if c is chosen:
            continue
        dominator = next((o for o in feasible if dominates(o, c)), None)
        if dominator is not None:
            c.status = "dominated"
            c.reasons.append(f"dominated by {dominator.name}: {_compare(dominator, c)}")
        else:
            c.status = "pareto"
            c.reasons.append(f"not dominated among feasible models but {chosen.quality - c.quality:.4f} lower quality than {chosen.name}"
                             + _trade(c, chosen))
    return {
        "constraints": {"max_latency_ms": max_latency_ms, "max_cost": max_cost, "max_dim": max_dim, "language": language},
        "chosen": chosen.name if chosen else None,
        "pareto_front": [c.name for c in front],
        "models": [asdict(c) | {"pareto": c in front} for c in candidates],
    }


def _fmt(c: Candidate) -> str:
    parts = [f"quality {c.quality:.4f}" if c.quality is not None else "quality ?"]
    parts.append(f"${c.cost_usd:,.2f}" if c.cost_usd is not None else "cost ?")
    parts.append(f"{c.latency_ms:.1f} ms" if c.latency_ms is not None else "latency ?")
    return ", ".join(parts)


def _compare(better: Candidate, worse: Candidate) -> str:
    return f"{_fmt(better)} vs {_fmt(worse)}"


def _trade(c: Candidate, chosen: Candidate) -> str:
    gains = []
    if c.cost_usd is not None and chosen.cost_usd is not None and c.cost_usd < chosen.cost_usd:
        gains.append(f"cheaper (${c.cost_usd:,.2f} vs ${chosen.cost_usd:,.2f})")
    if c.latency_ms is not None and chosen.latency_ms is not None and c.latency_ms < chosen.latency_ms:
        gains.append(f"faster ({c.latency_ms:.1f} vs {chosen.latency_ms:.1f} ms)")
    return f"; it is {' and '.join(gains)}" if gains else ""


def _why_chosen(c: Candidate, feasible: list[Candidate]) -> str:
    others = len(feasible) - 1
    return f"highest quality among {others + 1} models meeting every constraint ({_fmt(c)})"
