"""One self-contained HTML report of a run directory: opens offline, loads nothing from anywhere.

Sections appear only when their data is in the run directory: the leaderboard (with confidence intervals
and significance verdicts when the stats were computed), quality-vs-latency/cost plots and tables (perf.json),
model cards, the recommendation, and a per-query explorer with every model's top-k side by side.

Safety: corpus and query text are untrusted. Tables are rendered by Jinja2 with autoescaping; the explorer's
data travels as JSON inside a non-executed <script type="application/json"> with <, >, & escaped, and the page
script puts it on screen with textContent only. A Content-Security-Policy allows exactly the page's own
inline scripts (by hash) and no network access, so nothing in the data can run or phone home.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from embedscope.report import html_sections as sections
from embedscope.webui.explorer import Explorer


def safe_json(data) -> str:
    """JSON that cannot close the <script> element it sits in, nor start a comment or CDATA."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=_jsonable)
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _template(name: str) -> str:
    return resources.files("embedscope.report").joinpath("templates", name).read_text(encoding="utf-8")


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def explorer_data(explorer: Explorer, k: int, max_chars: int, max_queries: int | None) -> dict:
    """Query list and side-by-side top-k per query, precomputed: the report has no server to ask."""
    rows = explorer.query_list(judged=explorer.judgments.load())
    if max_queries is not None and len(rows) > max_queries:
        # keep the queries worth looking at first: where the models disagree most
        rows = sorted(rows, key=lambda r: -(r["spread"] or 0))[:max_queries]
    judged = explorer.judgments.load()
    pages = {r["id"]: explorer.side_by_side(r["id"], k=k, max_chars=max_chars, judged=judged) for r in rows}
    return {"models": explorer.models, "metric": explorer.main_metric, "queries": rows, "pages": pages, "k": k}


def render_report(run_dir: str | Path, *, k: int = 10, max_chars: int = 600, max_queries: int | None = None,
                  explorer: Explorer | None = None) -> str:
    import jinja2
    import plotly.offline

    explorer = explorer or Explorer(run_dir)
    results = explorer.results
    perf = sections.read_perf(explorer.run_dir)
    figures = sections.figures(results, perf)
    clusters = sections.cluster_figures(explorer.run_dir)
    data = explorer_data(explorer, k, max_chars, max_queries)

    plotly_js = plotly.offline.get_plotlyjs()
    page_js = _template("explorer.js") + "\n" + _template("report.js")
    figures_js = "".join(f"(function (f) {{ Plotly.newPlot({json.dumps(f['id'])}, f.data, f.layout, "
                         f"{{displaylogo: false, responsive: true}}); }})({safe_json(f['figure'])});\n"
                         for f in figures + clusters)
    scripts = [plotly_js, page_js] + ([figures_js] if figures_js else [])
    # Plotly injects its own <style> at run time and draws with inline styles; scripts stay hash-pinned.
    csp = ("default-src 'none'; script-src " + " ".join(_csp_hash(s) for s in scripts) +
           "; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = sections.num
    template = env.from_string(_template("report.html"))
    return template.render(
        csp=csp,
        title=f"embedscope report: {results.dataset.name or explorer.run_dir.name}",
        dataset=results.dataset.model_dump(),
        settings=results.settings.model_dump(),
        created=results.created,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        run_dir=str(explorer.run_dir),
        leaderboard=sections.leaderboard(results),
        significance=sections.significance(results),
        win_tie_loss=sections.win_tie_loss(results),
        warnings=sections.warnings(results) + ([explorer.dataset_problem] if explorer.dataset_problem else []),
        perf_tables=sections.perf_tables(perf),
        cards=sections.model_cards(results),
        recommendation=sections.recommendation(results, perf, explorer.run_dir),
        figures=figures,
        clusters=clusters,
        css=_template("explorer.css"),
        data_json=safe_json(data),
        scripts=scripts,
        has_queries=bool(data["queries"]),
        k=k,
    )


def write_report(run_dir: str | Path, output: str | Path | None = None, **options) -> Path:
    from embedscope.report.outputs import atomic_write

    path = Path(output) if output else Path(run_dir) / "report.html"
    atomic_write(path, render_report(run_dir, **options))
    return path
