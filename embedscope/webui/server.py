"""`embedscope serve`: a local web app to browse queries, compare models side by side and judge hits.

Standard library only (ThreadingHTTPServer): one HTML page with vanilla JS and a small JSON API.
Everything lives under a random token path, http://127.0.0.1:PORT/<token>/, and any other path gets 403,
so other local users and web pages open in the browser cannot read the corpus or write judgments.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from embedscope.webui.explorer import Explorer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 64 * 1024
STATIC = {  # name -> (package, file, content type)
    "": ("embedscope.webui", "static/index.html", "text/html; charset=utf-8"),
    "app.js": ("embedscope.webui", "static/app.js", "text/javascript; charset=utf-8"),
    "app.css": ("embedscope.webui", "static/app.css", "text/css; charset=utf-8"),
    "explorer.js": ("embedscope.report", "templates/explorer.js", "text/javascript; charset=utf-8"),
    "explorer.css": ("embedscope.report", "templates/explorer.css", "text/css; charset=utf-8"),
}
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
    """The app state: one Explorer over the run directory and the token that guards it."""

    def __init__(self, explorer: Explorer, token: str | None = None, k: int = 10):
        from embedscope.webui.active import ActiveMode

        self.explorer = explorer
        self.token = token or secrets.token_urlsafe(24)
        self.k = k
        self.active = ActiveMode(explorer)  # active mode: judge-next's order and the verdicts after each judgment
        self._static = {name: resources.files(pkg).joinpath(path).read_bytes() for name, (pkg, path, _) in STATIC.items()}

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
        route = self._route()
        if route is None:
            return
        path, query = route
        if path in STATIC:
            _pkg, _file, content_type = STATIC[path]
            return self._send(HTTPStatus.OK, self.app._static[path], content_type)
        if path == "api/summary":
            return self._json(self.app.summary())
        if path == "api/active":
            try:
                n = int(query.get("n", [10])[0])
            except ValueError:
                return self._json({"error": "n must be an integer"}, HTTPStatus.BAD_REQUEST)
            try:
                return self._json(self.app.active.state(max(1, min(n, 100))))
            except ValueError as e:  # fewer than two models, or a metric active judging cannot weigh
                return self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        if path == "api/queries":
            return self._json({"queries": self.app.explorer.query_list()})
        if path == "api/query":
            qid = query.get("id", [None])[0]
            try:
                k = int(query.get("k", [self.app.k])[0])
            except ValueError:
                return self._json({"error": "k must be an integer"}, HTTPStatus.BAD_REQUEST)
            if not 1 <= k <= 1000:
                return self._json({"error": "k must be between 1 and 1000"}, HTTPStatus.BAD_REQUEST)
            try:
                return self._json(self.app.explorer.side_by_side(qid, k=k))
            except KeyError:
                return self._json({"error": f"unknown query id {qid!r}"}, HTTPStatus.NOT_FOUND)
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
        self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

    def _send(self, status, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
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
    return server


def serve_in_thread(app: WebApp, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, threading.Thread]:
    """Start serving in a daemon thread (tests, notebooks); stop with server.shutdown(); server.server_close()."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="embedscope-serve", daemon=True)
    thread.start()
    return server, thread
