"""Reproduce MTEB's published nDCG@10 for all-MiniLM-L6-v2 on SciFact and NFCorpus (test).

Runs the normal embedscope pipeline (loader -> sentence-transformers -> cache -> exact cosine top-1000 ->
metrics) and prints our score next to the published one from ../shared/reference/mteb_ndcg10.tsv, with the
difference, the wall time and documents embedded per second. Target: within ±0.3 nDCG points.

    .venv/bin/python benchmarks/reproduce_mteb.py [--shared ../shared] [--datasets scifact nfcorpus]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from embedscope.cache import EmbeddingCache
from embedscope.data import load
from embedscope.metrics import evaluate
from embedscope.models import load_model
from embedscope.runs.dense import DenseRetriever

TASKS = {"scifact": "SciFact", "nfcorpus": "NFCorpus"}
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def published(shared: Path) -> dict[tuple[str, str], float]:
    with open(shared / "reference" / "mteb_ndcg10.tsv", encoding="utf-8") as f:
        return {(r["model"], r["task"]): float(r["ndcg_at_10"]) for r in csv.DictReader(f, delimiter="\t")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--datasets", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: a fresh temp folder)")
    parser.add_argument("--tolerance", type=float, default=0.3, help="allowed |ours - published| in nDCG points")
    args = parser.parse_args()

    reference = published(args.shared)
    model = load_model("minilm")
    cache_dir = args.cache or Path(tempfile.mkdtemp(prefix="embedscope-mteb-"))
    retriever = DenseRetriever(model, EmbeddingCache(cache_dir))
    rows, ok = [], True
    for name in args.datasets:
        dataset = load(name)  # by name, through the data cache (`embedscope datasets add NAME FOLDER` offline)
        started = time.perf_counter()
        run = retriever.retrieve(dataset, 1000)  # MTEB retrieves the top 1000
        wall = time.perf_counter() - started
        ours = 100 * evaluate(dataset.qrels, run, ["ndcg@10"]).mean["ndcg@10"]
        theirs = 100 * reference[(MODEL, TASKS[name])]
        emb = run.meta["embedding"]["documents"]
        dps = emb["encoded"] / emb["encode_seconds"] if emb["encoded"] else float("nan")
        within = abs(ours - theirs) <= args.tolerance
        ok &= within
        rows.append((TASKS[name], len(dataset.corpus), len(dataset.queries), ours, theirs, ours - theirs,
                     "yes" if within else "NO", wall, dps))

    print(f"\n{MODEL} — nDCG@10 on BEIR test splits (published: MTEB results)\n")
    print(f"{'task':<10}{'docs':>7}{'queries':>9}{'ours':>8}{'MTEB':>8}{'diff':>7}  {'±' + str(args.tolerance):>5}"
          f"{'wall s':>9}{'docs/s':>9}")
    for task, n_docs, n_q, ours, theirs, diff, within, wall, dps in rows:
        print(f"{task:<10}{n_docs:>7}{n_q:>9}{ours:>8.2f}{theirs:>8.2f}{diff:>+7.2f}  {within:>5}{wall:>9.1f}{dps:>9.1f}")
    print("\n(docs/s counts freshly embedded documents only; 'nan' means all came from the cache)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
