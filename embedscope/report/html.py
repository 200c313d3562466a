"""One self-contained HTML report of a run directory: opens offline, loads nothing from anywhere.

The page is the same one `embedscope serve` shows (templates/page.html + the scripts in templates/), drawn
from the view of embedscope/report/view.py. In the report the view travels inside the page, gzip-compressed
and base64-encoded when that makes it smaller, and the plots are plain SVG drawn by the page's own script:
no plotting library, so the file stays small and nothing needs `eval`.

Safety: corpus and query text are untrusted. The view sits in a non-executed <script type="text/plain">
(base64, or JSON with <, >, & escaped) and the page puts every text on screen with textContent only.
A Content-Security-Policy allows exactly the page's own inline script and style (by hash) and no network
access, so nothing in the data can run or phone home.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
from importlib import resources
from pathlib import Path

PAGE_SCRIPTS = ("format.js", "table.js", "plot.js", "explorer.js", "dashboard.js")
COMPRESS_ABOVE = 32 * 1024  # bytes of JSON; below this, plain JSON is as small and easier to read


def safe_json(data) -> str:
    """JSON that cannot close the <script> element it sits in, nor start a comment or CDATA."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=_jsonable, separators=(",", ":"))
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


def asset(name: str) -> str:
    return resources.files("embedscope.report").joinpath("templates", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def encode_view(view: dict) -> tuple[str, str]:
    """(encoding, text) of the view for the page: plain JSON when small, gzip + base64 when that is smaller."""
    text = safe_json(view)
    if len(text.encode("utf-8")) <= COMPRESS_ABOVE:
        return "json", text
    packed = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    return "gzip-base64", base64.b64encode(packed).decode("ascii")


def decode_view(encoding: str, text: str) -> dict:
    """The inverse of encode_view (tests and tools read a report's data with it)."""
    if encoding == "gzip-base64":
        text = gzip.decompress(base64.b64decode(text)).decode("utf-8")
    return json.loads(text)


def favicon_data_uri() -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(asset("favicon.svg").encode("utf-8")).decode("ascii")


def render_page(title: str, *, view: dict | None = None, scripts: list[str] | None = None) -> str:
    """The page. With a view: the report (data, script and style inline, hash-pinned by its CSP). Without one:
    the app's page, whose script files (`scripts`) load from the app's own origin."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(asset("page.html"))
    if view is None:
        return template.render(title=title, csp=None, inline=False, favicon="favicon.svg", scripts=scripts or [])
    script = "\n".join(asset(name) for name in (*PAGE_SCRIPTS, "report.js"))
    css = asset("page.css")
    csp = (f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    encoding, data = encode_view(view)
    return template.render(title=title, csp=csp, inline=True, favicon=favicon_data_uri(), css=css, scripts=[script],
                           data=data, encoding=encoding)


def render_report(run_dir: str | Path, *, k: int = 10, max_chars: int = 600, max_queries: int | None = None,
                  with_judgments: bool = False, explorer=None) -> str:
    from embedscope.report.rescore import rescore
    from embedscope.report.view import build_view
    from embedscope.webui.explorer import Explorer

    if explorer is None:
        from embedscope.rundir import read_results

        results = read_results(run_dir)
        if results.task != "retrieval":  # classification, STS, pairs, clustering, reranking: their own tables
            from embedscope.report.task_view import task_view

            if with_judgments:
                raise ValueError(f"--with-judgments re-scores retrieval runs; {run_dir} is a {results.task} run")
            view = task_view(run_dir, results)
            return render_page(view["title"], view=view)
    explorer = explorer or Explorer(run_dir)
    rescored = rescore(explorer) if with_judgments else None
    view = build_view(explorer, k=k, max_chars=max_chars, max_queries=max_queries, rescored=rescored)
    return render_page(view["title"], view=view)


def write_report(run_dir: str | Path, output: str | Path | None = None, **options) -> Path:
    from embedscope.report.outputs import atomic_write

    path = Path(output) if output else Path(run_dir) / "report.html"
    atomic_write(path, render_report(run_dir, **options))
    return path
