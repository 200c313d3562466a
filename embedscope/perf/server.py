"""A small OpenAI-compatible /v1/embeddings server around any local embedder, bound to loopback.

    python -m embedscope.perf.server --model tokenlearn --port 0

Prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free one). Used to load-test local
models the same way as hosted ones. Requests are served one at a time per thread; the model is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(model, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: a load test sends thousands of requests
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._reply(200, {"object": "list", "data": [{"id": model.name, "object": "model"}]})
            else:
                self._reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/embeddings":
                return self._reply(404, {"error": {"message": f"no route {self.path}"}})
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                texts = request["input"]
                texts = [texts] if isinstance(texts, str) else list(texts)
                if not all(isinstance(t, str) for t in texts):
                    raise ValueError("input must be a string or a list of strings")
            except (ValueError, KeyError) as e:
                return self._reply(400, {"error": {"message": f"bad request: {e}"}})
            with lock:  # one encode at a time: the model's own threads already use the cores
                vectors = model.encode_documents(texts)
            self._reply(200, {"object": "list", "model": request.get("model", model.name),
                              "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
                              "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    return Handler


def serve(model, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(model, threading.Lock()))
    server.daemon_threads = True
    return server


def main(argv=None) -> None:
    from embedscope.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model spec, e.g. tokenlearn or onnx:minilm")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = serve(load_model(args.model), args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    with server, contextlib.suppress(KeyboardInterrupt):  # leaving the block closes the socket
        server.serve_forever()


if __name__ == "__main__":
    main()
