"""The data behind each section of the HTML report: results.json as typed records (embedscope.results),
perf.json and the cluster maps read defensively from a run directory.

A run directory grows as more stages run over it (`embedscope run` writes results.json; the stats add
confidence intervals and verdicts; `embedscope bench --run-dir` adds perf.json; the recommendation may
follow). Every function here returns None or an empty list when its data is absent, and the section is
then left out of the report rather than shown empty or guessed.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from embedscope.results import Results


def num(value, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.{min(digits, 1)}f}"
    return str(value)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_perf(run_dir: Path) -> dict | None:
    data = read_json(Path(run_dir) / "perf.json")
    return data if isinstance(data, dict) else None


def _interval(value) -> tuple[float, float] | None:
    """A [low, high] pair of numbers, shown as an interval."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


def confidence_interval(results: Results, model: str, metric: str) -> tuple[float, float] | None:
    return results.interval(model, metric)


def leaderboard(results: Results) -> dict | None:
    metrics = list(results.metrics)
    if not results.models:
        return None
    best = {metric: max((v for m in results.models if (v := (m.metrics or {}).get(metric)) is not None), default=None)
            for metric in metrics}
    rows = []
    for m in results.ranked():
        cells = []
        for metric in metrics:
            value = (m.metrics or {}).get(metric)
            cells.append({"value": value, "ci": results.interval(m.name, metric),
                          "best": value is not None and value == best[metric]})
        rows.append({"name": m.name, "spec": m.spec, "dim": m.info.dim,
                     "docs_per_second": m.info.docs_per_second, "seconds": m.info.seconds, "cells": cells})
    return {"metrics": metrics, "rows": rows, "has_ci": any(c["ci"] for r in rows for c in r["cells"])}


def records(value) -> list[dict] | None:
    """A list of flat records for a table, from a list of dicts or a dict of dicts (key becomes a column)."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return [{"name": k, **v} for k, v in value.items()]
    return None


def table(rows: list[dict] | None, max_columns: int = 14) -> dict | None:
    """Header + rows of display strings; nested values are shown compactly."""
    if not rows:
        return None
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    columns = columns[:max_columns]
    return {"columns": columns, "rows": [[cell(row.get(c)) for c in columns] for row in rows]}


def cell(value) -> str:
    interval = _interval(value)
    if interval:
        return f"[{num(interval[0])}, {num(interval[1])}]"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return num(value)


SIGNIFICANCE_COLUMNS = (  # (key in an embedscope.stats pair, column title)
    ("a", "model A"), ("b", "model B"), ("difference", "mean A − B"), ("difference_ci", "95% CI of A − B"),
    ("p_randomization_holm", "p (randomization, Holm)"), ("p_ttest_holm", "p (t-test, Holm)"),
    ("verdict", "verdict"), ("minimum_detectable_effect", "min. detectable effect"),
    ("queries_needed", "queries needed"),
)


def significance(results: Results) -> dict | None:
    """The verdict table on the main metric."""
    sig = results.significance
    pairs = sig.main_pairs() if sig else []
    if not pairs:
        return None
    rows = []
    for p in pairs:
        p = p.model_dump() | {"difference_ci": [p.difference_low, p.difference_high]}
        rows.append({title: p.get(key) for key, title in SIGNIFICANCE_COLUMNS})
    about = [f"{sig.main_metric}, {sig.queries} queries, alpha {sig.alpha}",
             f"verdict from: {sig.test}", f"also shown: {sig.second_opinion}"]
    return {**table(rows), "about": about, "significant": [p.significant for p in pairs]}


def win_tie_loss(results: Results) -> dict | None:
    per_query = results.per_query
    if not per_query or not per_query.win_tie_loss:
        return None
    return {**table([row.model_dump() for row in per_query.win_tie_loss]), "metric": per_query.metric}


def warnings(results: Results) -> list[str]:
    return results.warnings()


def human_bytes(n) -> str:
    if not isinstance(n, (int, float)):
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024


def _perf_models(perf: dict | None) -> list[dict]:
    models = (perf or {}).get("models")
    return [m for m in models if isinstance(m, dict) and "name" in m] if isinstance(models, list) else []


def speed_rows(perf: dict | None) -> list[dict]:
    rows = []
    for m in _perf_models(perf):
        speed = m.get("speed")
        if not isinstance(speed, dict):
            continue
        latency = speed.get("query_latency_ms") or {}
        rows.append({"model": m["name"], "dim": speed.get("dim"), "docs/s": speed.get("docs_per_second"),
                     "tokens/s": speed.get("tokens_per_second"), "query p50 ms": latency.get("p50"),
                     "query p95 ms": latency.get("p95"), "load s": speed.get("load_seconds"),
                     "encode peak RSS MB": speed.get("encode_peak_rss_delta_mb"), "parameters": m.get("parameters"),
                     "tokens/text": m.get("tokens_per_text")})
    return rows


def footprint_rows(perf: dict | None) -> list[dict]:
    rows = []
    for m in _perf_models(perf):
        fp = m.get("footprint")
        if not isinstance(fp, dict):
            continue
        row = {"model": m["name"], "dim": fp.get("dim")}
        row |= {f"bytes/vector {p}": b for p, b in (fp.get("bytes_per_vector") or {}).items()}
        for label, sizes in (fp.get("flat_index_bytes") or {}).items():
            if isinstance(sizes, dict):
                row[f"float32 index, {label} vectors"] = human_bytes(sizes.get("float32"))
        hnsw = fp.get("hnsw") or {}
        if isinstance(hnsw.get("graph_bytes_per_vector"), (int, float)):
            row[f"+ HNSW graph (M={hnsw.get('M')}) bytes/vector"] = hnsw["graph_bytes_per_vector"]
        rows.append(row)
    return rows


def cost_rows(perf: dict | None) -> tuple[list[dict], str]:
    cost = (perf or {}).get("cost")
    if not isinstance(cost, dict) or not isinstance(cost.get("rows"), list):
        return [], ""
    rows = []
    for r in cost["rows"]:
        if not isinstance(r, dict):
            continue
        row = {"option": r.get("name"), "kind": r.get("kind"), "hardware": r.get("hardware") or "—"}
        for n, value in (r.get("costs") or {}).items():  # {texts: {"usd": ..., "hours": ...}} or a bare number
            usd = value.get("usd") if isinstance(value, dict) else value
            row[f"{int(n):,} texts" if str(n).isdigit() else str(n)] = usd
        be = r.get("break_even")
        if isinstance(be, dict):
            row["break-even vs " + str(be.get("versus"))] = be.get("texts")
        row["as of"] = r.get("as_of")
        rows.append(row)
    note = (f"{cost.get('currency', 'USD')}; self-hosted rows bill at least {cost.get('min_billed_hours', '?')} h; "
            "prices from the dated price table")
    return rows, note


def perf_tables(perf: dict | None) -> list[dict]:
    """Speed, footprint and cost tables from perf.json (`embedscope bench --run-dir`)."""
    if not perf:
        return []
    out = []
    hardware = perf.get("hardware")
    where = f"measured on {cell(hardware)}" if hardware else ""
    for title, rows, note in (("speed", speed_rows(perf), where), ("footprint", footprint_rows(perf), ""),
                              ("cost", *cost_rows(perf))):
        t = table(rows, max_columns=16)
        if t:
            out.append({"title": title, "note": note, **t})
    if not out:  # a perf.json of another shape: show its table-like parts as they are
        for key, value in perf.items():
            t = table(records(value))
            if t and key != "recommendation":
                out.append({"title": key.replace("_", " "), "note": "", **t})
    return out


def model_cards(results: Results) -> list[dict]:
    """Each model's card (info.card, from the model-card registry) beside the prompts the run really used."""
    cards = []
    for m in results.models:
        card = m.info.card
        if not card:
            continue
        fields = [(k, cell(v)) for k, v in card.items() if k not in ("query_prompt", "document_prompt")]
        for role in ("query", "document"):
            fields.append((f"card {role} prompt", repr(card.get(f"{role}_prompt") or "")))
        used = m.info.prompts
        if isinstance(used, dict):
            fields += [(f"used {role} prompt", repr(used.get(role) or "")) for role in ("query", "document")]
        cards.append({"model": m.name, "fields": fields, "warnings": list(m.info.warnings)})
    return cards


def advice(results: Results, perf: dict | None) -> dict | None:
    """embedscope.recommend without constraints: the Pareto front and the best model, with reasons."""
    if not perf or not results.metrics:
        return None
    try:
        from embedscope.recommend import candidates_from, recommend
    except ImportError:
        return None
    try:
        candidates, metric, scale = candidates_from(results, perf)
        found = recommend(candidates)
    except (KeyError, TypeError, ValueError):
        return None  # a perf.json from another version: no recommendation rather than a wrong one
    return found | {"metric": metric, "scale": scale}


def recommendation(results: Results, perf: dict | None, run_dir: Path):
    found = advice(results, perf)
    if found:
        rows = [{"model": m["name"], "status": m["status"], found["metric"]: m["quality"],
                 f"cost for {found['scale']:,} texts (USD)": m["cost_usd"], "cheapest way": m["cost_option"],
                 "query p95 ms": m["latency_ms"], "dim": m["dim"], "Pareto front": m["pareto"],
                 "why": " ".join(m["reasons"])} for m in found["models"]]
        fields = [("chosen", found["chosen"] or "none meets the constraints"),
                  ("Pareto front (quality, cost, latency)", ", ".join(found["pareto_front"]))]
        return {"fields": fields, "tables": [{"title": "every model", **table(rows)}],
                "note": "No constraints applied; `embedscope recommend RUN_DIR --max-latency-ms ... --max-cost ...` "
                        "applies yours."}
    for source in ((perf or {}).get("recommendation"), read_json(Path(run_dir) / "recommendation.json")):
        if isinstance(source, dict) and source:
            return {"fields": [(k, cell(v)) for k, v in source.items() if not records(v)],
                    "tables": [{"title": k.replace("_", " "), **table(records(v))}
                               for k, v in source.items() if records(v)], "note": ""}
    return None


def _main_quality(results: Results) -> tuple[str | None, dict[str, float]]:
    main = results.main_metric
    quality = {m.name: (m.metrics or {}).get(main) for m in results.models if main}
    return main, {k: v for k, v in quality.items() if isinstance(v, (int, float))}


def _scatter(fig_id: str, title: str, x_title: str, y_title: str, points: list[tuple[str, float, float]],
             errors: dict[str, tuple[float, float]], log_x: bool = False) -> dict:
    names = [html.escape(p[0]) for p in points]  # plotly renders a few tags in labels; names stay text
    trace = {"type": "scatter", "mode": "markers+text", "x": [p[1] for p in points], "y": [p[2] for p in points],
             "text": names, "textposition": "top center", "marker": {"size": 11},
             "hovertemplate": "%{text}<br>" + x_title + " %{x:.4g}<br>" + y_title + " %{y:.4f}<extra></extra>"}
    if errors:
        trace["error_y"] = {"type": "data", "symmetric": False,
                            "array": [errors.get(p[0], (p[2], p[2]))[1] - p[2] for p in points],
                            "arrayminus": [p[2] - errors.get(p[0], (p[2], p[2]))[0] for p in points]}
    layout = {"title": {"text": title}, "xaxis": {"title": {"text": x_title}, "type": "log" if log_x else "linear"},
              "yaxis": {"title": {"text": y_title}}, "height": 380, "margin": {"t": 50, "l": 60, "r": 20, "b": 50}}
    return {"id": fig_id, "title": title, "figure": {"data": [trace], "layout": layout}}


def figures(results: Results, perf: dict | None) -> list[dict]:
    main, quality = _main_quality(results)
    if not quality:
        return []
    errors = {m: ci for m in quality if (ci := results.interval(m, main))}
    out = []
    found = advice(results, perf)
    by_name = {m["name"]: m for m in (found or {}).get("models", [])}
    latency = {n: m["latency_ms"] for n, m in by_name.items() if isinstance(m.get("latency_ms"), (int, float))}
    cost = {n: m["cost_usd"] for n, m in by_name.items() if isinstance(m.get("cost_usd"), (int, float))}
    if latency:
        pts = [(m, latency[m], q) for m, q in quality.items() if m in latency]
        out.append(_scatter("fig-latency", f"{main} vs query latency", "single-query latency p95 (ms, log)", main,
                            pts, errors, log_x=True))
    if cost:
        pts = [(m, cost[m], q) for m, q in quality.items() if m in cost]
        out.append(_scatter("fig-cost", f"{main} vs cost", f"cost to embed {found['scale']:,} texts (USD, cheapest way)",
                            main, pts, errors))
    speed = {r["model"]: r["docs/s"] for r in speed_rows(perf) if isinstance(r["docs/s"], (int, float))} or {
        m.name: m.info.docs_per_second for m in results.models if m.info.docs_per_second is not None}
    if speed and not latency:
        pts = [(m, speed[m], q) for m, q in quality.items() if m in speed]
        out.append(_scatter("fig-speed", f"{main} vs encoding speed", "documents / second (log)", main, pts, errors,
                            log_x=True))
    return out


def cluster_figures(run_dir: Path) -> list[dict]:
    """Cluster maps that `embedscope cluster --run-dir` left in clusters/: documents by cluster, queries
    on top, text on hover (escaped and shortened when the map was made)."""
    from embedscope.clusters.plot import figure

    out = []
    for i, path in enumerate(sorted((Path(run_dir) / "clusters").glob("*.json"))):
        if path.name.endswith("_report.json"):
            continue
        data = read_json(path)
        report = read_json(path.with_name(f"{path.stem}_report.json")) or {}
        if not data or "documents" not in data:
            continue
        fig = figure(data, report.get("title", path.stem)).to_plotly_json()
        fig["layout"] = {**fig["layout"], "height": 520}
        out.append({"id": f"fig-clusters-{i}", "title": report.get("title", path.stem), "figure": fig,
                    "summary": {key: report.get(key) for key in ("clusters", "silhouette", "noise", "labels")
                                if report.get(key) is not None}})
    return out
