"""The data behind each section of the report and the web app: results.json as typed records
(embedscope.results), perf.json and the cluster maps read defensively from a run directory.

A run directory grows as more stages run over it (`embedscope run` writes results.json; the stats add
confidence intervals and verdicts; `embedscope bench --run-dir` adds perf.json; `embedscope cluster
--run-dir` adds clusters/). Every function here returns None or an empty list when its data is absent, and
the section is then left out rather than shown empty or guessed.

Tables come out as typed columns and raw values (`table()`); the page formats them (decimals, units,
p-values) in one place, so a number reads the same in every section. Nothing here formats for display
except labels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from embedscope.models.training_data import MARK as TRAINED_MARK
from embedscope.results import ModelResult, Results, Significance

# Column kinds the page knows how to format: model (a model name, coloured), text, int, metric (3 decimals,
# with a CI when the row has one), delta (signed metric), p (p-value, "< 0.0001" under the floor),
# rate (per second), ms, s, mb, bytes, usd, usd_small (per-1M-token prices), params_m, bool.
GLOSSARY = {
    "ndcg": "nDCG@k: graded gain of the top k, discounted by rank, divided by the best possible ordering (0-1).",
    "recall": "Recall@k: share of the relevant documents found in the top k.",
    "precision": "Precision@k: share of the top k that is relevant.",
    "mrr": "MRR@k: 1 / rank of the first relevant document in the top k (0 if none).",
    "map": "MAP@k: mean of the precision at each relevant document's rank, over the relevant documents.",
    "hit": "Hit@k: 1 if any relevant document is in the top k, else 0.",
    "docs/s": "Documents per second: encoding throughput for dense models, index building for BM25.",
    "p": "p-value of the paired test after Holm's correction across model pairs.",
    "ci": "95% confidence interval over queries (percentile bootstrap).",
    "spread": "Best minus worst model on this query: high means the models disagree.",
}


def glossary_for(metric: str) -> str:
    base, _, cut = metric.partition("@")
    text = GLOSSARY.get(base, "")
    return text.replace("@k", "@" + cut).replace("top k", "top " + cut) if cut else text


def column(key: str, label: str, kind: str = "text", help: str = "", hidden: bool = False) -> dict:  # noqa: A002
    return {"key": key, "label": label, "kind": kind, "help": help, "hidden": hidden}


def table(table_id: str, title: str, columns: list[dict], rows: list[dict], note: str = "",
          model_key: str | None = "model") -> dict | None:
    """A sortable, filterable table: typed columns and rows of raw values (None = not known)."""
    if not rows:
        return None
    return {"id": table_id, "title": title, "columns": columns, "rows": rows, "note": note, "model_key": model_key}


def finite(value):
    """A number the page can show, or None (NaN, inf, bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_perf(run_dir: Path) -> dict | None:
    return read_json(Path(run_dir) / "perf.json")


def read_latency(run_dir: Path) -> dict | None:
    """latency.json: the single-query latency `embedscope recommend RUN_DIR` measured, per model."""
    return read_json(Path(run_dir) / "latency.json")


def confidence_interval(results: Results, model: str, metric: str) -> list[float] | None:
    found = results.interval(model, metric)
    return list(found) if found else None


def model_speed(model: ModelResult, documents, perf_model: dict | None) -> tuple[float | None, str]:
    """Documents per second and where the number comes from: the benchmark, the run's encoding, or BM25's index build."""
    speed = finite(((perf_model or {}).get("speed") or {}).get("docs_per_second"))
    if speed:
        return speed, "embedscope bench"
    if finite(model.info.docs_per_second):  # this run's encoding, the cache's record of it, or a sample
        return model.info.docs_per_second, model.info.get("speed_source") or "encoding in this run"
    seconds = finite(model.run.index_seconds)
    if model.run.kind == "lexical" and seconds and finite(documents):
        return documents / seconds, "index build in this run"
    if model.run.kind == "precomputed":
        return None, ("not timed: its vectors were computed elsewhere; the latency plot shows its single-query "
                      "latency once `embedscope recommend` has measured it")
    if model.info.get("speed_source"):
        return None, model.info.get("speed_source")
    embedded = (model.run.get("embedding") or {}).get("documents") or {}
    if embedded and not embedded.get("encoded"):
        return None, "not timed: its vectors came from the cache; embedscope bench --run-dir times it"
    return None, "not timed"


def perf_models(perf: dict | None) -> dict[str, dict]:
    models = (perf or {}).get("models")
    return {m["name"]: m for m in models if isinstance(m, dict) and "name" in m} if isinstance(models, list) else {}


def model_rows(results: Results, perf: dict | None) -> list[dict]:
    """One row per model, best first: quality, its CIs, speed (with its source) and card metadata, like a leaderboard."""
    timed = perf_models(perf)
    rows = []
    for m in results.ranked():
        info, card = m.info, m.info.card or {}
        prompts = info.prompts or {}
        speed, speed_source = model_speed(m, results.dataset.documents, timed.get(m.name))
        row = {"model": m.name, "spec": m.spec if isinstance(m.spec, str) else json.dumps(m.spec),
               "kind": m.run.kind or ("dense" if info.dim else None),
               "docs_per_second": speed, "speed_source": speed_source if m.ok else f"failed: {m.reason}",
               "seconds": finite(info.seconds), "dim": finite(info.dim or card.get("dim")),
               "params_m": finite(card.get("params_m")) or _params_m(timed.get(m.name)),
               "max_tokens": finite(card.get("max_tokens") or info.max_seq_length),
               "license": card.get("license"),
               "query_prompt": prompts.get("query") or "", "document_prompt": prompts.get("document") or "",
               "price": finite(card.get("price_per_1m_tokens")), "price_date": card.get("price_date"),
               "card": card.get("name")}
        for metric in results.metrics:
            row[metric] = finite((m.metrics or {}).get(metric))
            ci = confidence_interval(results, m.name, metric)
            if ci:
                row["ci:" + metric] = ci
            if info.trained_on:
                row["mark:" + metric] = trained_mark(info.trained_on)
        rows.append(row)
    return rows


def trained_mark(datasets: list[str]) -> dict:
    """The mark beside a score measured on data the model's authors declare training on."""
    return {"text": TRAINED_MARK, "title": f"trained on {', '.join(datasets)} (declared by its authors): not zero-shot"}


def trained_note(rows: list[tuple[str, list[str]]]) -> str:
    return "".join(f" {TRAINED_MARK} {name} was trained on {', '.join(data)} (declared by its authors): "
                   "its scores here are not zero-shot." for name, data in rows if data)


def _params_m(perf_model: dict | None):
    params = finite((perf_model or {}).get("parameters"))
    return params / 1e6 if params else None


def leaderboard(results: Results, perf: dict | None, before: dict | None = None) -> dict | None:
    """Models best first: every metric with its CI, speed, and the card's metadata as columns.

    before: {model: {metric: value}} from an earlier scoring (the run's own, when judgments were merged
    since); the page shows each value's change.
    """
    rows = model_rows(results, perf)
    if not rows:
        return None
    metrics = list(results.metrics)
    if before:
        for row in rows:
            for metric in metrics:
                row["before:" + metric] = finite((before.get(row["model"]) or {}).get(metric))
    has_prompts = any(r["query_prompt"] or r["document_prompt"] for r in rows)
    columns = [column("model", "model", "model")]
    columns += [column(m, m, "metric", glossary_for(m)) for m in metrics]
    columns += [
        column("docs_per_second", "speed (docs/s)", "rate", GLOSSARY["docs/s"] + " Hover a value for its source."),
        column("seconds", "run time (s)", "s", "Wall time of this model in the run (embedding + search).", hidden=True),
        column("dim", "dims", "int", "Vector dimensions."),
        column("params_m", "params (M)", "params_m", "Parameters in millions, from the model card."),
        column("max_tokens", "max tokens", "int", "Longest input the model reads; longer texts are truncated.",
               hidden=True),
        column("license", "licence", "text", "Licence, from the model card."),
        column("query_prompt", "query prompt used", "text", "Text put before each query in this run.",
               hidden=not has_prompts),
        column("document_prompt", "document prompt used", "text", "Text put before each document in this run.",
               hidden=not has_prompts),
        column("price", "price ($/1M tokens)", "usd_small", "List price of the hosted API; empty for local models."),
    ]
    if not any(r.get(m) is not None for r in rows for m in metrics):
        return table("leaderboard", "Leaderboard", columns, rows,
                     "No quality numbers: the dataset has no relevance judgments. Judge hits in `embedscope serve` "
                     "(blind judging pools every model's top k) and the scores appear as you judge.")
    has_ci = any(k.startswith("ci:") for r in rows for k in r)
    note = ("Best value per metric in bold." + (" Brackets: 95% confidence interval over queries." if has_ci else "") +
            " Means over the judged queries; per-query values are in the explorer." +
            trained_note([(m.name, m.info.trained_on) for m in results.models]))
    return table("leaderboard", "Leaderboard", columns, rows, note)


def significance(results: Results, before: Significance | None = None) -> dict | None:
    """The verdict table of the main metric; `before` (an earlier scoring's) adds the verdicts it gave."""
    sig = results.significance
    pairs = sig.main_pairs() if sig else []
    if not pairs:
        return None
    rows = []
    for p in pairs:
        row = {"a": p.a, "b": p.b, "verdict": p.verdict, "significant": p.significant,
               "difference": finite(p.difference), "ci:difference": [p.difference_low, p.difference_high],
               "p_randomization_holm": finite(p.p_randomization_holm), "p_ttest_holm": finite(p.p_ttest_holm),
               "minimum_detectable_effect": finite(p.minimum_detectable_effect), "queries_needed": p.queries_needed}
        if before:
            earlier = before.pair(p.a, p.b, sig.main_metric)
            row["verdict_before"] = earlier.verdict if earlier else None
        rows.append(row)
    main = sig.main_metric
    columns = [column("a", "model A", "model"), column("b", "model B", "model"), column("verdict", "verdict"),
               column("difference", f"mean A − B ({main})", "delta", "Mean over queries of A's score minus B's; "
                      "brackets: its 95% bootstrap interval."),
               column("p_randomization_holm", "p randomization (Holm)", "p", GLOSSARY["p"] + " Decides the verdict."),
               column("p_ttest_holm", "p t-test (Holm)", "p", GLOSSARY["p"] + " A second opinion."),
               column("minimum_detectable_effect", "min. detectable effect", "metric",
                      "Smallest difference these queries detect with 80% power."),
               column("queries_needed", "queries needed", "int",
                      "Queries needed to detect the observed difference with 80% power.")]
    if before:
        columns.insert(3, column("verdict_before", "verdict before your judgments"))
    found = table("significance", "Significance", columns, rows,
                  f"{main}, {sig.queries} queries, alpha {sig.alpha}; {sig.test}", model_key="a")
    found["p_floor"] = max(1e-4, 1 / sig.permutations) if sig.permutations else 1e-4
    # general warnings stay in view; the per-pair notes on statistical power can fold away
    pair_prefixes = tuple(f"{r['a']} vs {r['b']}:" for r in rows)
    found["warnings"] = [w for w in sig.warnings if not w.startswith(pair_prefixes)]
    found["pair_notes"] = [w for w in sig.warnings if w.startswith(pair_prefixes)]
    return found


def win_tie_loss(results: Results) -> dict | None:
    per_query = results.per_query
    if not per_query or not per_query.win_tie_loss:
        return None
    columns = [column("a", "model A", "model"), column("b", "model B", "model"),
               column("wins", "A wins", "int", "Queries where A scores above B."),
               column("ties", "ties", "int"), column("losses", "A loses", "int", "Queries where A scores below B.")]
    return table("wtl", f"Wins, ties and losses per query ({per_query.metric})", columns,
                 [row.model_dump() for row in per_query.win_tie_loss], model_key="a")


def references(results: Results) -> dict | None:
    section = results.references
    if not section or not section.models:
        return None
    metric = section.metric
    rows = [{"model": r.model, "published": finite(r.reference), "own": finite(r.own), "source": r.source,
             **({"mark:published": trained_mark(r.trained_on), "mark:own": trained_mark(r.trained_on)}
                if r.trained_on else {})} for r in section.models]
    rows += [{"model": f"{r.model} (reference only)", "published": finite(r.metrics.get(metric)), "own": None,
              "source": r.source} for r in section.reference_only]
    columns = [column("model", "model", "model"), column("published", f"published {metric}", "metric"),
               column("own", f"{metric} on your data", "metric"), column("source", "source")]
    note = f"{section.task or 'this task'}: published scores beside yours." + trained_note(
        [(r.model, r.trained_on) for r in section.models])
    if finite(section.agreement.kendall_tau) is not None:
        note += f" Rank agreement: Kendall's tau {section.agreement.kendall_tau:.2f}."
    return table("references", "Published scores", columns, rows, note)


def warnings(results: Results) -> list[str]:
    """Warnings about the run and its models (the significance section shows its own)."""
    shown_there = set(results.significance.warnings) if results.significance else set()
    return [w for w in results.warnings() if w not in shown_there]


def _hardware(perf: dict) -> str:
    hw = perf.get("hardware")
    if not isinstance(hw, dict):
        return ""
    cpu = hw.get("cpu_model") or hw.get("processor") or hw.get("machine") or "CPU"
    parts = [str(cpu), f"{hw['cpu_count_logical']} logical cores" if hw.get("cpu_count_logical") else "",
             f"{hw['memory_gb']:g} GB RAM" if finite(hw.get("memory_gb")) else ""]
    return "measured on " + ", ".join(p for p in parts if p)


def speed_table(perf: dict | None) -> dict | None:
    rows = []
    for m in perf_models(perf).values():
        speed = m.get("speed")
        if not isinstance(speed, dict):
            continue
        latency = speed.get("query_latency_ms") or {}
        rows.append({"model": m["name"], "dim": finite(speed.get("dim")), "docs_per_second": finite(speed.get("docs_per_second")),
                     "tokens_per_second": finite(speed.get("tokens_per_second")), "p50": finite(latency.get("p50")),
                     "p95": finite(latency.get("p95")), "load": finite(speed.get("load_seconds")),
                     "rss": finite(speed.get("encode_peak_rss_delta_mb")), "params_m": _params_m(m),
                     "tokens_per_text": finite(m.get("tokens_per_text"))})
    columns = [column("model", "model", "model"), column("dim", "dims", "int"),
               column("docs_per_second", "encoding (docs/s)", "rate", GLOSSARY["docs/s"]),
               column("tokens_per_second", "encoding (tokens/s)", "rate"),
               column("p50", "query latency p50 (ms)", "ms", "Median time to embed and search one query."),
               column("p95", "query latency p95 (ms)", "ms", "95th percentile of single-query time."),
               column("load", "load time (s)", "s"), column("rss", "encode peak memory (MB)", "mb"),
               column("params_m", "params (M)", "params_m"), column("tokens_per_text", "tokens per text", "num")]
    return table("speed", "Speed", columns, rows, _hardware(perf or {}))


def footprint_table(perf: dict | None) -> dict | None:
    rows, scales = [], []
    for m in perf_models(perf).values():
        fp = m.get("footprint")
        if not isinstance(fp, dict):
            continue
        row = {"model": m["name"], "dim": finite(fp.get("dim"))}
        for precision, size in (fp.get("bytes_per_vector") or {}).items():
            row["bpv:" + precision] = finite(size)
        for label, sizes in (fp.get("flat_index_bytes") or {}).items():
            if isinstance(sizes, dict):
                row["flat:" + label] = finite(sizes.get("float32"))
                scales += [label] if label not in scales else []
        hnsw = fp.get("hnsw") or {}
        row["hnsw"] = finite(hnsw.get("graph_bytes_per_vector"))
        rows.append(row)
    precisions = list(dict.fromkeys(k.split(":", 1)[1] for r in rows for k in r if k.startswith("bpv:")))
    columns = [column("model", "model", "model"), column("dim", "dims", "int")]
    columns += [column("bpv:" + p, f"bytes/vector {p}", "int") for p in precisions]
    columns += [column("flat:" + s, f"float32 index, {s} vectors" if s != "corpus" else "float32 index, this corpus",
                       "bytes") for s in scales]
    columns += [column("hnsw", "+ HNSW graph (bytes/vector)", "num", "Graph links per vector on top of the flat vectors.")]
    return table("footprint", "Footprint", columns, rows)


def cost_table(perf: dict | None) -> dict | None:
    cost = (perf or {}).get("cost")
    if not isinstance(cost, dict) or not isinstance(cost.get("rows"), list):
        return None
    rows, scales, versus = [], [], None
    for r in cost["rows"]:
        if not isinstance(r, dict):
            continue
        row = {"model": r.get("name"), "kind": "API" if r.get("kind") == "api" else "self-hosted",
               "hardware": r.get("hardware"), "as_of": r.get("as_of")}
        for n, value in (r.get("costs") or {}).items():
            row["cost:" + str(n)] = finite(value.get("usd") if isinstance(value, dict) else value)
            scales += [str(n)] if str(n) not in scales else []
        speed = finite(r.get("texts_per_second"))
        if r.get("kind") != "api" and speed:
            row["hours_per_1m"] = 1e6 / speed / 3600
        be = r.get("break_even")
        if isinstance(be, dict):
            row["break_even"], versus = finite(be.get("texts")), be.get("versus")
        rows.append(row)
    columns = [column("model", "option", "model"), column("kind", "kind"), column("hardware", "hardware")]
    columns += [column("cost:" + s, f"{int(s):,} texts ($)" if s.isdigit() else f"{s} ($)", "usd") for s in scales]
    columns.append(column("hours_per_1m", "machine hours per 1M texts", "num",
                          "GPU rows: the declared throughput scaled to the model's size; CPU rows: measured here."))
    if versus:
        columns.append(column("break_even", f"break-even vs {versus} (texts)", "int",
                              "Corpus size above which self-hosting costs less than the API."))
    columns.append(column("as_of", "price as of"))
    note = (f"{cost.get('currency', 'USD')}; self-hosted rows bill at least {cost.get('min_billed_hours', '?')} h; "
            "prices from the dated price table")
    return table("cost", "Cost", columns, rows, note)


def perf_tables(perf: dict | None) -> list[dict]:
    """Speed, footprint and cost tables from perf.json (`embedscope bench --run-dir`)."""
    return [t for t in (speed_table(perf), footprint_table(perf), cost_table(perf)) if t]


def advice(results: Results, perf: dict | None, latency: dict | None = None) -> dict | None:
    """embedscope.recommend without constraints: the Pareto front and the best model, with reasons.
    latency: latency.json (single-query latency `embedscope recommend` measured), which wins over perf.json's."""
    if not (perf or latency) or not results.metrics:
        return None
    try:
        from embedscope.recommend import candidates_from, recommend
    except ImportError:
        return None
    try:
        candidates, metric, scale = candidates_from(results, perf, latency=latency)
        found = recommend(candidates)
    except (KeyError, TypeError, ValueError):
        return None  # a perf.json from another version: no recommendation rather than a wrong one
    return found | {"metric": metric, "scale": scale}


def recommendation(results: Results, perf: dict | None) -> dict | None:
    found = advice(results, perf)
    if not found:
        return None
    rows = [{"model": m["name"], "status": m["status"], "quality": finite(m["quality"]), "cost": finite(m["cost_usd"]),
             "option": m["cost_option"], "latency": finite(m["latency_ms"]), "dim": finite(m["dim"]),
             "pareto": bool(m["pareto"]), "why": " ".join(m["reasons"] + m["notes"]),
             **({"mark:quality": trained_mark(m["trained_on"])} if m.get("trained_on") else {})}
            for m in found["models"]]
    columns = [column("model", "model", "model"), column("status", "status"),
               column("quality", found["metric"], "metric", glossary_for(found["metric"])),
               column("cost", f"cost for {found['scale']:,} texts ($)", "usd"), column("option", "cheapest way"),
               column("latency", "query p95 (ms)", "ms"), column("dim", "dims", "int"),
               column("pareto", "on the Pareto front", "bool", "No other model is better on quality, cost and latency at once."),
               column("why", "why")]
    return {"chosen": found["chosen"], "front": list(found["pareto_front"]),
            "table": table("recommendation", "Every model", columns, rows),
            "note": "No constraints applied; `embedscope recommend RUN_DIR --max-latency-ms ... --max-cost ...` "
                    "applies yours."}


def tradeoffs(results: Results, perf: dict | None, rows: list[dict] | None = None,
              latency: dict | None = None) -> list[dict]:
    """Scatter plots of the main metric against speed, latency and cost; every model is a point or says why not,
    and each point says where its x comes from."""
    main = results.main_metric
    rows = rows if rows is not None else model_rows(results, perf)
    if not main or not rows:
        return []

    def plot(plot_id, title, x_label, x_kind, log_x, x_of, why_missing, source=lambda r: ""):
        points, missing = [], []
        for r in rows:
            x, y = x_of(r), r.get(main)
            if y is None:
                missing.append({"model": r["model"], "why": f"no {main} (no qrels?)"})
            elif x is None:
                missing.append({"model": r["model"], "why": why_missing(r)})
            else:
                points.append({"model": r["model"], "x": x, "y": y, "ci": r.get("ci:" + main), "note": source(r)})
        return {"id": plot_id, "title": title, "x_label": x_label, "x_kind": x_kind, "y_label": main, "log_x": log_x,
                "points": points, "missing": missing} if points else None

    found = advice(results, perf, latency)
    by_name = {m["name"]: m for m in (found or {}).get("models", [])}
    timed = {name for name, entry in (latency or {}).items() if isinstance(entry, dict) and entry.get("query_latency_ms")}
    plots = [plot("speed", f"{main} vs encoding speed", "documents per second (log scale)", "rate", True,
                  lambda r: r.get("docs_per_second"), lambda r: r.get("speed_source") or "not timed",
                  lambda r: r.get("speed_source") or "")]
    if by_name:
        plots.append(plot("latency", f"{main} vs query latency", "single-query latency p95, ms (log scale)", "ms", True,
                          lambda r: finite((by_name.get(r["model"]) or {}).get("latency_ms")),
                          lambda r: "latency not measured: run embedscope recommend RUN_DIR (or bench --run-dir)",
                          lambda r: ("measured by embedscope recommend (latency.json)" if r["model"] in timed else
                                     "measured by embedscope bench (perf.json)")))
    if by_name and perf:
        plots.append(plot("cost", f"{main} vs cost", f"cost to embed {found['scale']:,} texts, $ (cheapest way)", "usd", False,
                          lambda r: finite((by_name.get(r["model"]) or {}).get("cost_usd")),
                          lambda r: "no cost known: not benchmarked, not in the price table"))
    return [p for p in plots if p]
