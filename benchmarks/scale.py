"""Scale: docs/s and peak memory embedding 10k -> 100k -> 1M texts (local, Dask, Ray), a 100M projection with
cost, and streaming exact search over the 1M vectors next to in-memory exact search and a streaming IVF index.

    python benchmarks/scale.py                         # 10k, 100k, 1M (1M with the local engine only)
    python benchmarks/scale.py --max 100000            # quick check: 10k and 100k
    python benchmarks/scale.py --cluster-max 1000000   # Dask and Ray at 1M too (tens of minutes on 2 cores)

Texts are synthetic with realistic lengths: word counts drawn from a log-normal (median 100 words, sigma 0.7,
so mean ~128, like BEIR passages; `--median-words`), words drawn Zipf-like from the model tokenizer's
whole-word vocabulary. The model is the static `tokenlearn` model (64 dims), so the numbers measure the
pipeline (tokenizing, scheduling, shard writing) more than a neural network; swap `--model` to see a real one.

docs/s counts texts embedded and written to the cache over the wall time of the embedding (cluster start-up
is shown apart). Peak memory while embedding is the largest resident set of this process plus every process it started
(Dask workers, Ray raylet and actors), sampled every 50 ms, minus what was resident before the step; while
searching it is tracemalloc's peak (see TracedPeak).
Everything runs in this one process, side by side, on the same texts. Nothing here asserts. On one machine the
cluster engines compete with each other for the same cores (the local engine's tokenizer already uses them
all), so their ratio to local shows their overhead; their point is adding machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

# Used only when embedscope/perf/prices.yaml is not there: AWS c7i.large (2 vCPU) on-demand, us-east-1.
FALLBACK_CPU = {"name": "2-vCPU cloud VM (c7i.large)", "usd_per_hour": 0.089, "as_of": "2025-01-15"}
TARGET = 100_000_000


class PeakMemory:
    """Peak RSS of this process and all its descendants, sampled on a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def now() -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def __enter__(self):
        self.base = self.now()
        self.peak = self.base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.now())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())

    @property
    def added_mb(self) -> float:
        return (self.peak - self.base) / 2**20


class TracedPeak:
    """Peak of NumPy and Python allocations (tracemalloc) during a search. Resident-set deltas say little
    here: the allocator keeps pages freed by the embedding steps and hands them back out. Arrow buffers (one
    shard at a time) and FAISS codes (printed as index size) are outside tracemalloc's view."""

    def __enter__(self):
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    @property
    def added_mb(self) -> float:
        return self.peak / 2**20


def vocabulary(model) -> np.ndarray:
    """Whole words from the model's tokenizer (a realistic word-length mix), in vocabulary order (~frequency)."""
    vocab = model.model.tokenizer.get_vocab()
    words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if w.isalpha() and w.isascii() and len(w) > 1]
    return np.array(words or ["word"], dtype=object)


def synthetic_texts(n: int, words: np.ndarray, median_words: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(median_words), 0.7, n).astype(int), 3, 2000)
    ranks = np.arange(1, len(words) + 1)
    weights = ranks ** -1.07
    picks = rng.choice(len(words), size=int(lengths.sum()), p=weights / weights.sum())
    chosen = words[picks]
    out, start = [], 0
    for i, length in enumerate(lengths):
        # a number in every text keeps texts distinct, so each one is embedded (no cache hits by chance)
        out.append(f"{i} " + " ".join(chosen[start : start + length]))
        start += length
    return out


def embed_step(engine_name: str, spec: str, texts: list[str], workers: int, shard_size: int, keep: Path | None):
    from embedscope.cache import EmbeddingCache
    from embedscope.distributed import embed, make_engine

    root = keep or Path(tempfile.mkdtemp(prefix="scale-cache-"))
    try:
        with PeakMemory() as memory:
            started = time.perf_counter()
            with make_engine(engine_name, workers=workers) as engine:
                ready = time.perf_counter()
                report = embed(engine, spec, {"document": texts}, EmbeddingCache(root, shard_size=shard_size))
        return {"startup_s": ready - started, "seconds": report.seconds, "encoded": report.encoded,
                "docs_per_s": report.texts_per_second, "peak_mb": memory.added_mb, "fingerprint": report.fingerprint,
                "root": root}
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def cpu_price() -> tuple[dict, str]:
    try:
        from embedscope.perf.cost import load_prices

        cpu = load_prices().get("cpu")
        if cpu and cpu.get("usd_per_hour"):
            return cpu, "embedscope/perf/prices.yaml"
    except (ImportError, OSError, ValueError):
        pass
    return FALLBACK_CPU, "constant in benchmarks/scale.py"


def search_step(root: Path, fingerprint: str, spec: str, texts: list[str], n_queries: int, k: int):
    """Streaming exact vs in-memory exact vs streaming IVF over the cached vectors of `texts`."""
    from embedscope.cache import EmbeddingCache
    from embedscope.index import ExactIndex
    from embedscope.index.streaming import DocumentKeys, StreamingExactSearch, StreamingIVFIndex, cache_shards
    from embedscope.models import load_model

    cache = EmbeddingCache(root)
    rng = np.random.default_rng(7)
    queries = load_model(spec).encode_queries([" ".join(texts[i].split()[1:12]) for i in rng.choice(len(texts), n_queries)])
    documents = DocumentKeys.from_texts(texts)
    shards = cache_shards(cache, fingerprint)
    rows = []
    with TracedPeak() as memory:
        started = time.perf_counter()
        s_scores, s_ids = StreamingExactSearch(shards, documents).search(queries, k)
        rows.append(("streaming exact", time.perf_counter() - started, memory))
    with TracedPeak() as memory:
        started = time.perf_counter()
        index = ExactIndex("cosine")
        vectors = np.empty((len(texts), queries.shape[1]), np.float32)
        for keys, block in cache.iter_shards(fingerprint, "document"):  # load everything, then search
            r, p = documents.locate(keys)
            vectors[p] = block[r]
        index.add(vectors)
        del vectors
        m_scores, m_ids = index.search(queries, k)
        rows.append(("in-memory exact (ExactIndex)", time.perf_counter() - started, memory))
    nlist = int(min(1024, max(16, len(texts) // 100)))
    approx = {}
    for factory in (f"IVF{nlist},SQ8", f"IVF{nlist},PQ16"):
        with TracedPeak() as memory:
            started = time.perf_counter()
            ivf = StreamingIVFIndex(factory, nprobe=64, train_size=100_000).build(shards, documents)
            _, ids = ivf.search(queries, k)
            rows.append((f"streaming {factory},nprobe=64 (build+search)", time.perf_counter() - started, memory))
        recall = float(np.mean([len(set(a[:10]) & set(e[:10])) / 10 for a, e in zip(ids, s_ids)]))
        approx[factory] = (recall, ivf.nbytes)
    same = float(np.mean(s_ids == m_ids))
    return rows, same, float(np.abs(s_scores - m_scores).max()), approx, queries.shape[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tokenlearn")
    parser.add_argument("--max", type=int, default=1_000_000, help="largest corpus size [1,000,000]")
    parser.add_argument("--cluster-max", type=int, default=100_000,
                        help="largest size run through Dask and Ray as well [100,000]")
    parser.add_argument("--engines", default="local,dask,ray")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=8192)
    parser.add_argument("--median-words", type=float, default=100)
    parser.add_argument("--queries", type=int, default=1000, help="queries for the search timing [1000]")
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from embedscope import progress
    from embedscope.models import load_model

    progress.set_enabled(False)
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    cpu, price_source = cpu_price()
    print(f"model {args.model}; {os.cpu_count()} CPU core(s); {args.workers} workers for dask/ray; "
          f"shards of {args.shard_size:,} texts")
    words = vocabulary(load_model(args.model))
    texts_all = synthetic_texts(max(sizes), words, args.median_words, seed=0)
    mean_words = float(np.mean([t.count(" ") for t in texts_all[:10_000]]))
    print(f"synthetic texts: log-normal lengths, median {args.median_words:.0f} words, mean {mean_words:.0f} words "
          f"(first 10k), vocabulary of {len(words):,} words\n")
    print(f"{'engine':<7} {'texts':>10} {'start s':>8} {'embed s':>9} {'docs/s':>9} {'peak MB':>9}  "
          f"{'100M: hours':>11} {'USD':>8}")
    results, kept = {}, None
    for n in sizes:
        texts = texts_all[:n]
        for engine in engines:
            if engine != "local" and n > args.cluster_max:
                continue
            keep = None
            if engine == "local" and n == max(sizes):  # keep these vectors for the search timing below
                keep = Path(tempfile.mkdtemp(prefix="scale-search-"))
            try:
                r = embed_step(engine, args.model, texts, args.workers, args.shard_size, keep)
            except Exception as e:  # noqa: BLE001 - an engine that cannot run here is reported, not fatal
                print(f"{engine:<7} {n:>10,} could not run: {type(e).__name__}: {e}")
                continue
            results[(engine, n)] = r
            if keep is not None:
                kept = r
            hours = TARGET / r["docs_per_s"] / 3600 if r["docs_per_s"] else float("nan")
            print(f"{engine:<7} {n:>10,} {r['startup_s']:>8.1f} {r['seconds']:>9.1f} {r['docs_per_s']:>9,.0f} "
                  f"{r['peak_mb']:>9,.0f}  {hours:>11,.1f} {hours * cpu['usd_per_hour']:>8,.2f}")
    largest = max(sizes)
    base = results.get(("local", largest)) or results.get(("local", min(sizes)))
    print()
    for engine in engines:
        for n in sizes:
            if engine != "local" and (engine, n) in results and ("local", n) in results:
                ratio = results[(engine, n)]["docs_per_s"] / results[("local", n)]["docs_per_s"]
                print(f"{engine} / local docs/s at {n:,}: {ratio:.2f}x")
    print(f"\n100M projection: texts / measured docs/s on this machine, priced at {cpu['name']} "
          f"${cpu['usd_per_hour']}/hour (as of {cpu['as_of']}, from {price_source}). One such machine per "
          f"'hours'; N machines divide the hours, not the cost. A GPU would change the picture for neural "
          f"models, not for a static one.")
    if base:
        print(f"local at {largest:,} texts: {base['docs_per_s']:,.0f} docs/s -> "
              f"{TARGET / base['docs_per_s'] / 3600:,.1f} hours for 100M")
    if kept is not None:
        print(f"\nsearch over {largest:,} cached vectors, {args.queries:,} queries, k={args.k}:")
        try:
            rows, same, score_diff, approx, dim = search_step(kept["root"], kept["fingerprint"], args.model,
                                                        texts_all[:largest], args.queries, args.k)
            exact_s = rows[1][1]
            for name, seconds, memory in rows:
                print(f"  {name:<50} {seconds:>8.1f} s  traced peak {memory.added_mb:>8,.1f} MB  "
                      f"({seconds / exact_s:.2f}x in-memory time)")
            print(f"  streaming exact vs in-memory exact: same id at {same:.4%} of ranks, largest score difference "
                  f"{score_diff:.1e} (equal scores may come in another order)")
            for factory, (recall, nbytes) in approx.items():
                print(f"  streaming {factory}: recall@10 vs exact {recall:.3f}; index {nbytes / 2**20:,.1f} MB "
                      f"vs {largest * dim * 4 / 2**20:,.1f} MB of float32 vectors")
        finally:
            shutil.rmtree(kept["root"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
