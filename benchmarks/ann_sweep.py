"""ANN and compression trade-offs on full SciFact with MiniLM, measured side by side in one run.

Prints, for the same cached vectors:
  1. the ANN grid (faiss Flat / HNSW32 x efSearch / IVF-Flat and IVF-PQ x nprobe): recall@10 of the exact
     top-10, nDCG@10, QPS (1 thread, batched and one query per call) and the speed-up over exact Flat search,
     build time, index size;
  2. compression options (float16, int8, binary with/without rescoring, Matryoshka truncation): nDCG@10
     delta vs float32 exact with its 95% paired-bootstrap interval, bytes per vector and saving.

    python benchmarks/ann_sweep.py                       # full SciFact, MiniLM, default grid
    python benchmarks/ann_sweep.py --grid quick --max-docs 2000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from embedscope.cache import EmbeddingCache
from embedscope.data import load
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever
from embedscope.sweeps import ann_sweep, compression_sweep, default_options
from embedscope.sweeps.ann import Timing
from embedscope.sweeps.report import print_compression

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="scifact", help="dataset name or BEIR folder [scifact]")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--cache", default=str(ROOT / ".embedscope-cache"))
    parser.add_argument("--grid", default="default", choices=["default", "quick"])
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--max-docs", type=int)
    parser.add_argument("--min-seconds", type=float, default=0.3, help="timing per QPS figure")
    args = parser.parse_args()

    console = Console(width=200)
    dataset = load(args.data)
    if args.max_queries or args.max_docs:
        dataset = dataset.subset(args.max_queries, args.max_docs)
    model = load_model(args.model)
    started = time.perf_counter()
    docs, queries, _ = DenseRetriever(model, EmbeddingCache(args.cache)).embed(dataset)
    console.print(f"{dataset.name}: {len(docs):,} docs x {docs.shape[1]} dims, {len(queries):,} queries; "
                  f"{model.name} vectors in {time.perf_counter() - started:.1f}s (cached after the first run)")

    sweep = ann_sweep(dataset, docs, queries, model=model.name, grid_name=args.grid,
                      timing=Timing(min_seconds=args.min_seconds))
    flat = next(r for r in sweep.rows if r["spec"] == "faiss:Flat")
    t = Table(title=f"ANN grid, {model.name}: 1 faiss thread; speed-up = QPS batch / exact Flat QPS batch")
    for name in ("index", "recall@10", "nDCG@10", "QPS batch", "QPS 1-by-1", "speed-up", "build s", "MiB"):
        t.add_column(name, justify="left" if name == "index" else "right")
    for r in sweep.rows:
        t.add_row(r["spec"].removeprefix("faiss:"), f"{r['recall@10']:.4f}", f"{r['metrics']['ndcg@10']:.4f}",
                  f"{r['qps_batch']:,.0f}", f"{r['qps_single']:,.0f}", f"{r['qps_batch'] / flat['qps_batch']:.2f}x",
                  f"{r['build_seconds']:.2f}", f"{r['index_bytes'] / 2**20:.2f}")
    console.print(t)

    compression = compression_sweep(dataset, docs, queries, model=model.name, options=default_options(docs.shape[1]))
    print_compression(compression, console)


if __name__ == "__main__":
    main()
