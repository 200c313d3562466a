"""How many judgments does each order need before every pair of models gets its full-qrels verdict?

SciFact's and NFCorpus's qrels are hidden; a simulated judge answers from them (a pair absent from the qrels is
not relevant). Three orders judge the depth-10 pool of the models' top 10s:

  pool        the pool file's order: query by query, each query's documents by best rank (what judging without
              active mode does); judging all of it is full depth-10 pooling, the denominator of every ratio
  random      the pool's pairs shuffled (the mean over --seeds shuffles)
  judge-next  `embedscope judge-next`'s order (--strategies: mtc, variance), recomputed after every --step judgments

After every --step judgments, every pair of models gets a verdict (the sign of the nDCG@10 difference) two ways:
"estimate" (judge-next's: the expected difference once the pool is judged, from the relevance model) and "now"
(the classic reading: unjudged pairs count as not relevant). Each is compared with the verdicts of the full
qrels. "Needed" is the number of judgments from which on every pair agrees; a ratio divides it by the pool's
size. "Stop" is when judge-next declares every pair settled (its stopping rule), and whether it was right then.

Printed: the curves (judgments vs share of pairs agreeing and vs Kendall's tau of the model order), the needed
and stop points, and last the RATIO lines. A plot goes to --plot.

    .venv/bin/python benchmarks/active_judging.py [--datasets scifact nfcorpus]
        [--models minilm wordllama bm25 tokenlearn] [--cache .embedscope-cache] [--plot docs/img/active-judging-benchmark.png]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from embedscope.compare import compare
from embedscope.data import load
from embedscope.metrics import evaluate
from embedscope.noqrels.active import STRATEGIES, ActiveJudging

K = 10
READINGS = ("estimate", "now")


def full_verdicts(dataset, runs, metric) -> tuple[dict[str, float], dict[tuple[str, str], int]]:
    means = {r.name: evaluate(dataset.qrels, r, [metric]).mean[metric] for r in runs}
    signs = {(a.name, b.name): int(np.sign(means[a.name] - means[b.name])) for a, b in itertools.combinations(runs, 2)}
    return means, signs


def look(active: ActiveJudging, truth: dict[tuple[str, str], int]) -> dict:
    """Where the comparison stands: for each reading, the share of pairs with the full-qrels verdict and the
    pairwise Kendall's tau; and whether judge-next calls everything settled."""
    point = {"judged": active.judged_in_pool, "settled": active.settled}
    for reading in READINGS:
        agree = disagree = 0
        for v in active.verdicts():
            value = v.estimate if reading == "estimate" else v.current
            sign = 0 if abs(value) <= 1e-12 else int(np.sign(value))
            want = truth[(v.a, v.b)]
            agree += sign == want
            disagree += sign == -want and sign != 0
        point[reading] = (agree / len(truth), (agree - disagree) / len(truth))
    return point


def fixed_order(active, order, qrels, truth, step) -> list[dict]:
    """Judge `order` `step` pairs at a time; a look after each step."""
    curve = [look(active, truth)]
    for start in range(0, len(order), step):
        batch = [active.pair(i) for i in order[start:start + step]]
        active.update([(q, d, qrels.get(q, {}).get(d, 0)) for q, d in batch])
        curve.append(look(active, truth))
    return curve


def judge_next(active, qrels, truth, step) -> list[dict]:
    """Judge what judge-next asks for, `step` pairs at a time, until the whole pool is judged."""
    curve = [look(active, truth)]
    while active.judged_in_pool < active.pool_size:
        batch = [active.pair(i) for i in active.next_order(step)]
        active.update([(q, d, qrels.get(q, {}).get(d, 0)) for q, d in batch])
        curve.append(look(active, truth))
    return curve


def needed(curve, reading: str) -> int:
    """Judgments from which on every pair agrees (the pool's size when the end still disagrees)."""
    last_wrong = max((i for i, p in enumerate(curve) if p[reading][0] < 1.0), default=None)
    if last_wrong is None:
        return 0
    return curve[min(last_wrong + 1, len(curve) - 1)]["judged"]


def stop(curve) -> dict | None:
    return next((p for p in curve if p["settled"]), None)


def at(curve, n: int, reading: str) -> tuple[float, float]:
    """(agreement, tau) at the last look with at most n judgments."""
    found = curve[0][reading]
    for p in curve:
        if p["judged"] > n:
            break
        found = p[reading]
    return found


def run_dataset(name, args) -> dict:
    dataset = load(name)  # by name, through the data cache
    metric = f"ndcg@{K}"
    comparison = compare(dataset, args.models, k=K, depth=K, cache_dir=args.cache, log=lambda m: None)
    runs = [r.run for r in comparison.results]
    means, truth = full_verdicts(dataset, runs, metric)
    max_grade = max(g for rels in dataset.qrels.values() for g in rels.values())

    def make(strategy="mtc"):
        return ActiveJudging(runs, {}, metric=metric, alpha=args.alpha, max_grade=max_grade, strategy=strategy,
                             query_ids=list(dataset.queries))

    pool = make().pool_size
    print(f"\n=== {name}: {len(dataset.queries)} queries, {len(dataset.corpus):,} documents, "
          f"depth-{K} pool of {len(runs)} models = {pool:,} pairs (judge's top grade {max_grade}) ===")
    print("full-qrels nDCG@10: " + ", ".join(f"{m} {v:.4f}" for m, v in sorted(means.items(), key=lambda kv: -kv[1])))
    everything = make()
    everything.set_labels({q: {d: dataset.qrels.get(q, {}).get(d, 0) for d in docs}
                           for q, docs in _pool(everything).items()})
    print(f"judging the whole pool gives the full-qrels verdict on {look(everything, truth)['now'][0]:.0%} of "
          f"the {len(truth)} pairs of models")

    curves, seconds = {}, {}
    started = time.perf_counter()
    curves["pool"] = fixed_order(make(), np.arange(pool), dataset.qrels, truth, args.step)
    seconds["pool"] = time.perf_counter() - started
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    randoms = [fixed_order(make(), rng.permutation(pool), dataset.qrels, truth, args.step) for _ in range(args.seeds)]
    seconds["random"] = time.perf_counter() - started
    for strategy in args.strategies:
        started = time.perf_counter()
        curves[f"judge-next:{strategy}"] = judge_next(make(strategy), dataset.qrels, truth, args.step)
        seconds[f"judge-next:{strategy}"] = time.perf_counter() - started
    names = ["pool", "random", *[f"judge-next:{s}" for s in args.strategies]]

    def need(key, reading):
        if key == "random":
            return float(np.mean([needed(c, reading) for c in randoms]))
        return needed(curves[key], reading)

    def value(key, n, reading):
        if key == "random":
            points = [at(c, n, reading) for c in randoms]
            return float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points]))
        return at(curves[key], n, reading)

    grid = sorted({max(args.step, int(pool * f)) for f in (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5,
                                                          0.75, 1.0)})
    for reading in READINGS:
        print(f"\nverdicts read as '{reading}': judgments vs share of model pairs with the full-qrels verdict "
              "(agree) and Kendall's tau")
        print(f"{'judgments':>10} {'% pool':>7}" + "".join(f" {k + ' agree':>24} {'tau':>6}" for k in names))
        for n in grid:
            print(f"{n:>10,} {n / pool:>7.1%}" + "".join(
                f" {value(k, n, reading)[0]:>24.0%} {value(k, n, reading)[1]:>6.2f}" for k in names))

    print(f"\njudgments needed before every pair agrees from then on (share of the {pool:,}-pair pool):")
    print(f"  {'order':<22} {'estimate':>18} {'now':>18}   time")
    for key in names:
        cells = "".join(f" {need(key, r):>9,.0f} ({need(key, r) / pool:>5.1%})" for r in READINGS)
        print(f"  {key:<22}{cells}   {seconds[key]:.0f} s")
    stops = {}
    for strategy in args.strategies:
        key = f"judge-next:{strategy}"
        point = stop(curves[key])
        stops[key] = point
        if point is None:
            print(f"  {key}: never declared every pair settled")
        else:
            print(f"  {key}: declared every pair settled after {point['judged']:,} judgments "
                  f"({point['judged'] / pool:.1%}); then {point['estimate'][0]:.0%} of the verdicts matched the full qrels")
    return {"pool": pool, "curves": curves, "randoms": randoms, "stops": stops,
            "needed": {key: need(key, "estimate") for key in names},
            "needed_now": {key: need(key, "now") for key in names}}


def _pool(active) -> dict[str, list[str]]:
    pool: dict[str, list[str]] = {}
    for i in range(active.pool_size):
        q, d = active.pair(i)
        pool.setdefault(q, []).append(d)
    return pool


def plot(results: dict, path: Path, strategies: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(6.2 * len(results), 7), squeeze=False, sharex="col")
    styles = {"pool": ("#0072B2", "-"), **{f"judge-next:{s}": (c, "-") for s, c in zip(strategies, ("#D55E00", "#009E73"))}}
    for col, (name, res) in enumerate(results.items()):
        pool = res["pool"]
        for row, (index, label) in enumerate(((0, "model pairs with the full-qrels verdict"),
                                              (1, "Kendall's tau with the full-qrels order"))):
            ax = axes[row][col]
            for key, (colour, style) in styles.items():
                xs = [max(p["judged"], 1) / pool for p in res["curves"][key]]
                ys = [p["estimate"][index] for p in res["curves"][key]]
                ax.step(xs, ys, style, where="post", color=colour, label=key.replace(":", " (") + ")" if ":" in key
                        else "pool order")
            grid = np.unique(np.geomspace(1, pool, 200).astype(int))
            ax.step(grid / pool, [np.mean([at(c, n, "estimate")[index] for c in res["randoms"]]) for n in grid],
                    "--", where="post", color="#7F7F7F", label=f"random (mean of {len(res['randoms'])})")
            for key, point in res["stops"].items():
                if point:
                    ax.axvline(point["judged"] / pool, color=styles[key][0], alpha=0.4, linestyle=":")
            ax.set_xscale("log")
            ax.set_xlim(1 / pool, 1)
            ax.set_ylim(-1.05 if index else 0, 1.05)
            ax.grid(alpha=0.3)
            ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{name}: {pool:,} pooled pairs (dotted: judge-next says settled)")
            else:
                ax.set_xlabel("share of the depth-10 pool judged (log scale)")
            ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"\nplot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["scifact", "nfcorpus"])
    parser.add_argument("--models", nargs="+", default=["minilm", "wordllama", "bm25", "tokenlearn"])
    parser.add_argument("--cache", default=".embedscope-cache", help="embedding cache (each model embeds once)")
    parser.add_argument("--step", type=int, default=10, help="judgments between two looks at the verdicts")
    parser.add_argument("--seeds", type=int, default=3, help="random orders averaged")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--strategies", nargs="+", default=["mtc", "variance"], choices=STRATEGIES,
                        help="judge-next strategies; the first is the one the judge_next RATIO lines report")
    parser.add_argument("--plot", type=Path, default=Path("docs/img/active-judging-benchmark.png"))
    parser.add_argument("--target", type=float, default=0.25, help="judge-next's share of full pooling to meet")
    args = parser.parse_args()

    results = {name: run_dataset(name, args) for name in args.datasets}
    if args.plot:
        plot(results, args.plot, args.strategies)
    main_key = f"judge-next:{args.strategies[0]}"
    print()
    for name, res in results.items():
        pool = res["pool"]
        print(f"RATIO judge_next_vs_pooling_{name} {res['needed'][main_key] / pool:.4f}")
        print(f"RATIO random_vs_pooling_{name} {res['needed']['random'] / pool:.4f}")
        print(f"RATIO pool_order_vs_pooling_{name} {res['needed']['pool'] / pool:.4f}")
        for strategy in args.strategies:
            key = f"judge-next:{strategy}"
            if key != main_key:
                print(f"RATIO judge_next_{strategy}_vs_pooling_{name} {res['needed'][key] / pool:.4f}")
            point = res["stops"][key]
            print(f"RATIO judge_next_{strategy}_stop_vs_pooling_{name} "
                  f"{(point['judged'] if point else pool) / pool:.4f}")
    met = all(res["needed"][main_key] / res["pool"] <= args.target for res in results.values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
