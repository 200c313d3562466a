"""Vector databases side by side, in one run, on the same vectors: nDCG@10 through each database, recall@10
against exact search, queries per second (single client, one query at a time where the client API allows)
and load time (insert + index build), each as a ratio to exact brute-force search measured in this run.

    python benchmarks/vector_dbs.py --data scifact --model tokenlearn --max-docs 5000

Redis and PostgreSQL are started here on 127.0.0.1 (free ports, temp folders) and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from embedscope.cache import EmbeddingCache
from embedscope.data import load
from embedscope.sweeps.databases import evaluate_backend
from embedscope.index.db.base import TEXT_FIELD
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever
from embedscope.servers import ServerError, start_postgres, start_redis

DEFAULT_DATA = "scifact"  # a dataset name (see `embedscope datasets`) or a BEIR folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="tokenlearn")
    parser.add_argument("--max-docs", type=int, default=3000)
    parser.add_argument("--max-queries", type=int, default=200)
    parser.add_argument("--metric", default="cosine", choices=["cosine", "dot", "l2"])
    parser.add_argument("--cache", default=".embedscope-cache")
    args = parser.parse_args()

    dataset = load(args.data).subset(args.max_queries, args.max_docs, seed=0)
    docs, queries, _ = DenseRetriever(load_model(args.model), EmbeddingCache(args.cache)).embed(dataset)
    metadata = [{TEXT_FIELD: text} for text in dataset.doc_texts]
    specs = ["exact", "lancedb", "lancedb:IVF_HNSW_SQ", "qdrant:flat", "qdrant", "milvus-lite:FLAT", "milvus-lite",
             "pgvector:flat", "pgvector"]
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            redis_server = start_redis(Path(tmp) / "redis")
            servers.append(redis_server)
            specs += [f"redis:{redis_server.address}:flat", f"redis:{redis_server.address}:hnsw"]
        except ServerError as e:
            print(f"redis skipped: {e}")
        try:
            pg = start_postgres()  # a temp folder of its own, removed when it stops
            servers.append(pg)
            os.environ["EMBEDSCOPE_PG_DSN"] = f"host={pg.host} port={pg.port} user=postgres dbname=postgres"
        except ServerError as e:
            print(f"pgvector skipped: {e}")
            specs = [s for s in specs if not s.startswith("pgvector")]
        try:
            results = []
            for spec in specs:
                try:
                    results.append(evaluate_backend(dataset, docs, queries, spec, args.metric, 10, metadata=metadata))
                except Exception as e:  # report and go on: one missing package must not hide the rest
                    print(f"{spec}: {type(e).__name__}: {e}")
        finally:
            for server in servers:
                server.stop()

    base = next(r for r in results if r["spec"] == "exact")
    table = Table(title=f"{dataset.name}: {len(docs):,} docs x {docs.shape[1]} dims, {len(queries)} queries, "
                        f"{args.model}, {args.metric}", header_style="bold")
    for col in ("spec", "index used", "nDCG@10", "recall@10 vs exact", "QPS", "QPS / exact", "load s"):
        table.add_column(col, justify="left" if col in ("spec", "index used") else "right")
    for r in results:
        table.add_row(r["spec"], r["index_used"], f"{r['ndcg@10']:.4f}",
                      f"{r['recall@10_vs_exact']:.4f}", f"{r['qps']:,.0f}", f"{r['qps'] / base['qps']:.3f}",
                      f"{r['load_seconds']:.2f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
