"""`embedscope serve`: a local web app to browse queries, compare models side by side and judge hits.

Standard library only (ThreadingHTTPServer): the report's own page (embedscope/report/templates), its data
from a small JSON API instead of embedded, plus judging; the scores are re-computed with the judgments as
they are made (embedscope/report/rescore.py). Everything lives under a random token path, http://127.0.0.1:PORT/<token>/, and any other path gets 403,
so other local users and web pages open in the browser cannot read the corpus or write judgments.
"""

from __future__ import annotations

import gzip
import hmac
import json
import secrets
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from embedscope.report.html import PAGE_SCRIPTS, render_page
from embedscope.webui.explorer import Explorer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 64 * 1024
MAX_K = 1000
STATIC = {  # name -> (package, file, content type); "" is the page itself, rendered at start
    "page.css": ("embedscope.report", "templates/page.css", "text/css; charset=utf-8"),
    "app.js": ("embedscope.webui", "static/app.js", "text/javascript; charset=utf-8"),
    "active.js": ("embedscope.webui", "static/active.js", "text/javascript; charset=utf-8"),
    "favicon.svg": ("embedscope.report", "templates/favicon.svg", "image/svg+xml"),
    **{name: ("embedscope.report", f"templates/{name}", "text/javascript; charset=utf-8") for name in PAGE_SCRIPTS},
}
# The icon browsers ask for at the site's root: public (it shows nothing of the run), so no 403 in the console.
PUBLIC = {"/favicon.ico": "favicon.svg"}
# Scripts and styles only from this server, no inline code, no framing: a second wall behind textContent.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class WebApp:
    """The app state: one Explorer over the run directory, the token that guards it, and the scores
    re-computed with the judgments made so far (kept until the judgments file changes).

    judge_order(qid, doc_ids) -> doc_ids, when given, orders the blind judging list of each query
    (e.g. active judging's "most informative first"); by default the list is shuffled per query.
    """

    def __init__(self, explorer: Explorer, token: str | None = None, k: int = 10, judge_order=None):
        from embedscope.webui.active import ActiveMode

        self.explorer = explorer
        self.token = token or secrets.token_urlsafe(24)
        self.k = k
        self.judge_order = judge_order
        self.active = ActiveMode(explorer)  # active mode: judge-next's order and the verdicts after each judgment
        self._static = {name: resources.files(pkg).joinpath(path).read_bytes() for name, (pkg, path, _) in STATIC.items()}
        title = f"embedscope: {explorer.dataset.name}"
        self._static[""] = render_page(title, scripts=[*PAGE_SCRIPTS, "active.js", "app.js"]).encode("utf-8")
        self._rescored: tuple[tuple, dict | None] | None = None
        self._rescorer = None
        self._lock = threading.Lock()

    def rescored(self) -> dict | None:
        """The run re-scored with the judgments file as it is now (re-computed only when the file changed, and
        then only for the queries whose judgments changed: embedscope.report.rescore.Rescorer)."""
        from embedscope.report.rescore import Rescorer

        path = self.explorer.judgments.path
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = None
        with self._lock:
            if self._rescored is None or self._rescored[0] != key:
                self._rescorer = self._rescorer or Rescorer(self.explorer)
                self._rescored = (key, self._rescorer.rescore() if key else None)
            return self._rescored[1]

    def warm(self) -> None:
        """Evaluate every query and draw the statistics' resamples now (the server runs this in the background on
        start), so that the first judgment re-scores as quickly as the next ones."""
        from embedscope.report.rescore import Rescorer

        with self._lock:
            self._rescorer = self._rescorer or Rescorer(self.explorer)
            self._rescorer.prepare()

    def per_query(self) -> dict:
        found = self.rescored()
        return found["per_query"] if found else self.explorer.per_query

    def view(self) -> dict:
        from embedscope.report.view import build_view

        return build_view(self.explorer, k=self.k, hits=False, rescored=self.rescored(), mode="app")

    def scores(self, k: int) -> dict:
        from embedscope.report.html_sections import read_perf
        from embedscope.report.view import scores_view

        return scores_view(self.explorer, k=k, rescored=self.rescored(), perf=read_perf(self.explorer.run_dir))

    def summary(self) -> dict:
        ex, ds = self.explorer, self.explorer.dataset.summary()
        line = (f"{ds['documents']:,} documents · {ds['queries']:,} queries · {ds['judgments']:,} dataset judgments · "
                f"models: {', '.join(ex.models)}")
        return {"dataset": ds["name"], "line": line, "models": ex.models, "main_metric": ex.main_metric,
                "metrics": ex.metrics, "k": self.k, "judgments_file": str(ex.judgments.path)}

    def judge(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object {query_id, doc_id, grade}")
        qid, did, grade = body.get("query_id"), body.get("doc_id"), body.get("grade")
        ex = self.explorer
        if qid not in ex.dataset.queries:
            raise ValueError(f"unknown query id {qid!r}")
        if did not in ex.dataset.corpus:
            raise ValueError(f"unknown document id {did!r}")
        judged = ex.judgments.set(qid, did, grade)
        with self._lock:
            self._rescored = None  # the file's time may not tick between two quick judgments
        self.active.judged()
        return {"ok": True, "total": sum(len(r) for r in judged.values()), "judged_for_query": len(judged.get(qid, {})),
                "file": str(ex.judgments.path)}


class Handler(BaseHTTPRequestHandler):
    app: WebApp  # set on the subclass make_server builds
    server_version = "embedscope"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows the URL, not every request
        pass

    def do_GET(self):
        public = PUBLIC.get(urlsplit(self.path).path)
        if public:
            return self._send(HTTPStatus.OK, self.app._static[public], STATIC[public][2])
        route = self._route()
        if route is None:
            return
        path, query = route
        if path == "":
            return self._send(HTTPStatus.OK, self.app._static[""], "text/html; charset=utf-8")
        if path in STATIC:
            return self._send(HTTPStatus.OK, self.app._static[path], STATIC[path][2])
        app, explorer = self.app, self.app.explorer
        if path == "api/summary":
            return self._json(app.summary())
        if path == "api/view":
            return self._json(app.view())
        if path == "api/active":
            try:
                n = int(query.get("n", [10])[0])
            except ValueError:
                return self._json({"error": "n must be an integer"}, HTTPStatus.BAD_REQUEST)
            try:
                return self._json(app.active.state(max(1, min(n, 100))))
            except ValueError as e:  # fewer than two models, or a metric active judging cannot weigh
                return self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        try:
            k = int(query.get("k", [app.k])[0])
        except ValueError:
            return self._json({"error": "k must be an integer"}, HTTPStatus.BAD_REQUEST)
        if not 1 <= k <= MAX_K:
            return self._json({"error": f"k must be between 1 and {MAX_K}"}, HTTPStatus.BAD_REQUEST)
        if path == "api/scores":
            return self._json(app.scores(k))
        if path == "api/queries":
            return self._json({"queries": explorer.query_list(k=k, per_query=app.per_query())})
        wanted = query.get("id", [None])[0]
        pages = {"api/query": lambda: explorer.side_by_side(wanted, k=k, per_query=app.per_query()),
                 "api/pool": lambda: explorer.pooled(wanted, k=k, order=app.judge_order),
                 "api/document": lambda: explorer.document_view(wanted, k=k)}
        if path in pages:
            try:
                return self._json(pages[path]())
            except KeyError:
                what = "document" if path == "api/document" else "query"
                return self._json({"error": f"unknown {what} id {wanted!r}"}, HTTPStatus.NOT_FOUND)
        return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

    def do_POST(self):
        route = self._route()
        if route is None:
            return
        path, _query = route
        if path != "api/judgments":
            return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
        # JSON only: a cross-site form cannot send this content type without the browser asking first
        if self.headers.get_content_type() != "application/json":
            return self._json({"error": "send application/json"}, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self._json({"error": "missing or oversized body"}, HTTPStatus.BAD_REQUEST)
        try:
            body = json.loads(self.rfile.read(length))
            return self._json(self.app.judge(body))
        except (ValueError, TypeError) as e:
            return self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        except RecursionError:  # a body nested thousands deep: the parser's limit, not a server fault
            return self._json({"error": "JSON nested too deeply"}, HTTPStatus.BAD_REQUEST)
        except OSError as e:
            return self._json({"error": f"could not save: {e}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _route(self) -> tuple[str, dict] | None:
        """(path below the token, query) for a request that names the token; answers 403 otherwise."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in LOOPBACK and host != self.server.server_address[0]:
            self._json({"error": "forbidden host"}, HTTPStatus.FORBIDDEN)  # DNS rebinding
            return None
        url = urlsplit(self.path)
        _, token, rest = (url.path + "/").split("/", 2)
        if not hmac.compare_digest(token.encode(), self.app.token.encode()):
            self._json({"error": "forbidden: open the URL printed by `embedscope serve`"}, HTTPStatus.FORBIDDEN)
            return None
        if url.path == f"/{token}":  # relative URLs in the page need the trailing slash
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", f"/{token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return rest.rstrip("/"), parse_qs(url.query)

    def _json(self, data, status=HTTPStatus.OK):
        self._send(status, json.dumps(data, allow_nan=False, default=str).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _send(self, status, body: bytes, content_type: str):
        compress = len(body) > 2048 and "gzip" in (self.headers.get("Accept-Encoding") or "")
        if compress:  # the view of a large corpus is megabytes of text: a fraction of that compressed
            body = gzip.compress(body, compresslevel=5)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if compress:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/{self.app.token}/"


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(app: WebApp, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Bind (port 0 = any free port) without serving yet; loopback only."""
    if host not in LOOPBACK:
        raise ValueError(f"--host {host}: embedscope serve binds a loopback address only (127.0.0.1, ::1)")
    handler = type("BoundHandler", (Handler,), {"app": app})
    server_class = Server6 if host == "::1" else Server
    server = server_class(("127.0.0.1" if host == "localhost" else host, port), handler)
    server.app = app
    threading.Thread(target=app.warm, name="embedscope-warm", daemon=True).start()
    return server


def serve_in_thread(app: WebApp, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, threading.Thread]:
    """Start serving in a daemon thread (tests, notebooks); stop with server.shutdown(); server.server_close()."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="embedscope-serve", daemon=True)
    thread.start()
    return server, thread
