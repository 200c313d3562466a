"""How big the HTML report of a real run is, and what makes it so.

Runs `embedscope run` on SciFact (test, 300 queries, 5,183 documents) with three models (default: MiniLM,
BM25 and the 64-dim static model), writes the report at top 10 and top 50, then adds a cluster map of the
whole corpus and writes it again. For each it prints the file size beside what the same hits would cost if
every hit carried its document's text (the layout before documents were stored once), so the ratio is
measured side by side. Target: the 3-model report <= 3 MB.

    .venv/bin/python benchmarks/report_size.py [--data scifact] [--cache DIR] [-m MODEL ...]

Ends with machine-readable lines:
    SIZE report_scifact_mb X             (top 10, no cluster map)
    SIZE report_scifact_k50_mb X
    SIZE report_scifact_clusters_mb X    (top 10 + a map of every document)
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from embedscope.cli import cli
from embedscope.report.html import decode_view

TARGET_MB = 3.0


def embedscope(*args: str):
    result = CliRunner().invoke(cli, list(args), standalone_mode=False, catch_exceptions=False)
    if result.exit_code:
        raise SystemExit(result.output)
    return result.return_value


def measure(run_dir: Path, out: Path, *options: str) -> dict:
    start = time.perf_counter()
    embedscope("report", str(run_dir), "-o", str(out), *options)
    seconds = time.perf_counter() - start
    text = out.read_text(encoding="utf-8")
    encoding, data = re.search(r'data-encoding="([^"]+)">([^<]*)</script>', text).groups()
    view = decode_view(encoding, data)
    texts = view["docs"]["texts"]
    hits = [d for per_model in view["explorer"]["hits"].values() for flat in per_model for d in flat[0::2]]
    return {"bytes": len(text.encode("utf-8")), "seconds": seconds, "documents": len(texts), "hits": len(hits),
            "stored_text": sum(len(t.encode("utf-8")) for t in texts),
            "text_if_repeated": sum(len(texts[d].encode("utf-8")) for d in hits),
            "data_bytes": len(data), "json_bytes": len(json.dumps(view, ensure_ascii=False).encode("utf-8"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="scifact", help="dataset: a registered name, beir:NAME or a BEIR folder")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: a fresh temp folder)")
    parser.add_argument("-m", "--model", dest="models", action="append", help="model spec (repeatable)")
    args = parser.parse_args()
    models = args.models or ["minilm", "bm25", "tokenlearn"]
    data = args.data
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = args.cache or tmp / "cache"
        start = time.perf_counter()
        run_dir = Path(embedscope("run", "--data", data, *[a for m in models for a in ("-m", m)],
                                  "-o", str(tmp / "runs"), "--cache", str(cache), "-q"))
        print(f"run: {len(models)} models on {data} in {time.perf_counter() - start:.0f}s")
        sizes = {"k10": measure(run_dir, tmp / "k10.html"), "k50": measure(run_dir, tmp / "k50.html", "--k", "50")}
        embedscope("cluster", "--data", data, "-m", "tokenlearn", "--k", "8", "--run-dir", str(run_dir),
                   "--cache", str(cache))
        sizes["clusters"] = measure(run_dir, tmp / "clusters.html")
    print(f"{'report':<10} {'MB':>6} {'documents':>9} {'hits':>6} {'text stored':>12} {'text if per hit':>16} "
          f"{'JSON MB':>8} {'in page MB':>10} {'write s':>8}")
    for name, s in sizes.items():
        print(f"{name:<10} {s['bytes'] / 1e6:>6.2f} {s['documents']:>9,} {s['hits']:>6,} {s['stored_text'] / 1e6:>10.2f}MB "
              f"{s['text_if_repeated'] / 1e6:>14.2f}MB {s['json_bytes'] / 1e6:>8.2f} {s['data_bytes'] / 1e6:>10.2f} "
              f"{s['seconds']:>8.1f}")
    k10, k50 = sizes["k10"], sizes["k50"]
    print(f"top 50 vs top 10: {k50['hits'] / k10['hits']:.1f}x the hits, {k50['documents'] / k10['documents']:.1f}x the "
          f"documents, {k50['bytes'] / k10['bytes']:.1f}x the bytes")
    print(f"texts stored once: {k10['text_if_repeated'] / k10['stored_text']:.1f}x less text than one copy per hit")
    verdict = "meets" if k10["bytes"] / 1e6 <= TARGET_MB else "MISSES"
    print(f"3-model report {k10['bytes'] / 1e6:.2f} MB {verdict} the {TARGET_MB:g} MB target")
    print(f"SIZE report_scifact_mb {k10['bytes'] / 1e6:.2f}")
    print(f"SIZE report_scifact_k50_mb {k50['bytes'] / 1e6:.2f}")
    print(f"SIZE report_scifact_clusters_mb {sizes['clusters']['bytes'] / 1e6:.2f}")
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    raise SystemExit(main())
