"""How long the web app takes to re-score a run after a judgment: incremental against full, side by side.

Starts `embedscope serve`'s app on a SciFact run (test, 300 queries, 5,183 documents; by default BM25 and two
static models, or any run directory given with --run-dir) and judges pooled hits one after another through the
HTTP API, as the page does: POST the judgment, then GET the re-scored numbers (leaderboard, verdicts, query
list). Each judgment is timed twice in the same process, alternating:
  - full: the re-scoring state dropped before the judgment (every query evaluated, resamples drawn afresh:
    what every judgment cost before re-scoring became incremental);
  - incremental: the app as it ships (only the judged query evaluated, the kept resamples updated by one row).

    .venv/bin/python benchmarks/rescore_speed.py [--run-dir RUN_DIR] [--judgments 12] [-m MODEL ...]

Ends with machine-readable lines (medians, seconds; target: incremental well under 1 s):
    RESCORE full_s X
    RESCORE incremental_s Y
    RESCORE speedup Z
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from embedscope.cli import cli


def make_run(data: str, models: list[str], folder: Path) -> Path:
    args = ["run", "--data", data, "-o", str(folder / "runs"), "--cache", str(folder / "cache"), "-q"]
    for m in models:
        args += ["-m", m]
    result = CliRunner().invoke(cli, args, standalone_mode=False, catch_exceptions=False)
    if result.exit_code:
        raise SystemExit(result.output)
    return Path(result.return_value)


def call(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="an existing retrieval run directory (judgments are made in a copy)")
    parser.add_argument("--data", default="scifact", help="dataset for a new run: a registered name or a BEIR folder")
    parser.add_argument("-m", "--model", dest="models", action="append", help="model spec for a new run (repeatable)")
    parser.add_argument("--judgments", type=int, default=12, help="judgments timed per mode")
    args = parser.parse_args()

    import shutil

    from embedscope.webui import Explorer, WebApp, serve_in_thread

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.run_dir:
            run_dir = Path(shutil.copytree(args.run_dir, tmp / "run", ignore=shutil.ignore_patterns("judgments")))
        else:
            run_dir = make_run(args.data, args.models or ["bm25", "tokenlearn", "wordllama"], tmp)
        app = WebApp(Explorer(run_dir), k=10)
        server, thread = serve_in_thread(app)
        base = server.url
        try:
            app.warm()  # what the server does in the background on start
            explorer = app.explorer
            queries = list(explorer.dataset.queries)
            print(f"{explorer.dataset.name}: {len(queries)} queries, {len(explorer.dataset.corpus):,} documents, "
                  f"models {', '.join(explorer.models)}")
            times: dict[str, list[float]] = {"full": [], "incremental": []}
            for i in range(2 * args.judgments):
                mode = "full" if i % 2 == 0 else "incremental"
                qid = queries[(7 * i) % len(queries)]
                doc = explorer.pool(qid, 10)[i % 3]
                if mode == "full":
                    with app._lock:
                        app._rescorer = None  # every query evaluated and the resamples drawn again
                started = time.perf_counter()
                call(base + "api/judgments", {"query_id": qid, "doc_id": doc, "grade": i % 3})
                call(base + "api/scores?k=10")
                times[mode].append(time.perf_counter() - started)
            for mode, found in times.items():
                print(f"{mode:>12}: median {statistics.median(found):.3f} s, min {min(found):.3f} s, "
                      f"max {max(found):.3f} s over {len(found)} judgments (POST judgment + GET scores)")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
    full, incremental = statistics.median(times["full"]), statistics.median(times["incremental"])
    print(f"RESCORE full_s {full:.3f}")
    print(f"RESCORE incremental_s {incremental:.3f}")
    print(f"RESCORE speedup {full / incremental:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
