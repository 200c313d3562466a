"""How many judgments does each order need before every pair of models gets its full-qrels verdict?

SciFact's and NFCorpus's qrels are hidden; a simulated judge answers from them (a pair absent from the qrels is
not relevant). Three orders judge the depth-10 pool of the models' top 10s:

  pool       the pool file's order: query by query, each query's documents by best rank (what `embedscope serve`
             shows without active mode), i.e. full depth-10 pooling
  random     the pool's pairs shuffled (the mean over --seeds shuffles)
  judge-next `embedscope judge-next`: the pair that can move the open comparisons most, recomputed after every
             --step judgments

After every --step judgments each order's verdicts (the sign of the estimated nDCG@10 difference, per pair of
models) are compared with the verdicts of the full qrels. "Needed" is the number of judgments from which on all
pairs agree; the ratio divides it by the size of the pool, the judgments full depth-10 pooling makes.

Printed: the curves (judgments vs share of pairs agreeing and vs Kendall's tau of the model order), when
judge-next declared everything settled and whether it was right, and last the RATIO lines. A plot goes to --plot.

    .venv/bin/python benchmarks/active_judging.py [--shared ../shared] [--datasets scifact nfcorpus]
        [--models minilm wordllama bm25 tokenlearn] [--cache .embedscope-cache] [--plot docs/img/active-judging.png]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from embedscope.compare import compare
from embedscope.data import load_beir
from embedscope.metrics import evaluate
from embedscope.noqrels.active import STRATEGIES, ActiveJudging

K = 10


def full_verdicts(dataset, runs, metric) -> dict[tuple[str, str], int]:
    means = {r.name: evaluate(dataset.qrels, r, [metric]).mean[metric] for r in runs}
    return {(a.name, b.name): int(np.sign(means[a.name] - means[b.name])) for a, b in itertools.combinations(runs, 2)}


def agreement(active: ActiveJudging, truth: dict[tuple[str, str], int]) -> tuple[float, float, bool]:
    """(share of pairs whose verdict matches the full qrels', Kendall's tau of the pairwise order, all settled)."""
    agree = disagree = 0
    for v in active.verdicts():
        sign = 0 if v.leader is None else (1 if v.leader == v.a else -1)
        want = truth[(v.a, v.b)]
        agree += sign == want
        disagree += sign == -want and sign != 0
    n = len(truth)
    return agree / n, (agree - disagree) / n, active.settled


def labels_of(active: ActiveJudging, judged: np.ndarray, qrels) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for i in judged:
        q, d = active.pair(i)
        out.setdefault(q, {})[d] = qrels.get(q, {}).get(d, 0)
    return out


def fixed_order(active, order, qrels, truth, step):
    """Judge `order` step by step; the curve [(judgments, agreement, tau, settled)]."""
    curve = []
    for n in range(0, len(order) + step, step):
        n = min(n, len(order))
        active.set_labels(labels_of(active, order[:n], qrels))
        curve.append((n, *agreement(active, truth)))
        if n == len(order):
            break
    return curve


def judge_next(active, qrels, truth, step):
    """Judge what judge-next asks for, `step` pairs at a time, until the pool is judged."""
    curve = []
    active.set_labels({})
    while True:
        judged = active.judged_in_pool
        curve.append((judged, *agreement(active, truth)))
        if judged == active.pool_size:
            return curve
        # once everything is settled the rest of the order matters little: larger steps keep the tail cheap
        size = step if not active.settled else max(step, judged // 10)
        batch = [active.pair(i) for i in active.next_order(size)]
        active.update([(q, d, qrels.get(q, {}).get(d, 0)) for q, d in batch])


def needed(curve) -> int:
    """Judgments from which on every pair agrees (the pool size if the last point still disagrees)."""
    last = curve[-1][0]
    for n, share, _tau, _settled in reversed(curve):
        if share < 1.0:
            return min(last, next((m for m, *_ in curve if m > n), last))
    return 0


def first_settled(curve) -> tuple[int | None, float | None]:
    for n, share, _tau, settled in curve:
        if settled:
            return n, share
    return None, None


def curve_at(curve, n):
    """The curve's (agreement, tau) at the last point at or before n judgments."""
    share, tau = curve[0][1], curve[0][2]
    for m, s, t, _ in curve:
        if m > n:
            break
        share, tau = s, t
    return share, tau


def run_dataset(name, args):
    dataset = load_beir(args.shared / "datasets" / name)
    metric = f"ndcg@{K}"
    comparison = compare(dataset, args.models, k=K, depth=K, cache_dir=args.cache, log=lambda m: None)
    runs = [r.run for r in comparison.results]
    truth = full_verdicts(dataset, runs, metric)
    max_grade = max(g for rels in dataset.qrels.values() for g in rels.values())
    def make(strategy="mtc"):
        return ActiveJudging(runs, {}, metric=metric, alpha=args.alpha, max_grade=max_grade, strategy=strategy,
                             query_ids=list(dataset.queries))

    active = make()
    pool = active.pool_size
    means = {r.name: evaluate(dataset.qrels, r, [metric]).mean[metric] for r in runs}
    print(f"\n=== {name}: {len(dataset.queries)} queries, {len(dataset.corpus):,} documents, "
          f"depth-{K} pool of {len(runs)} models = {pool:,} pairs ===")
    print("full-qrels nDCG@10: " + ", ".join(f"{m} {v:.4f}" for m, v in sorted(means.items(), key=lambda kv: -kv[1])))
    # what judging the whole pool says (the ceiling every order reaches at the end)
    full_pool = fixed_order(make(), np.arange(pool), dataset.qrels, truth, pool)[-1]
    print(f"judging the whole pool agrees with the full qrels on {full_pool[1]:.0%} of the pairs")

    curves, timings = {}, {}
    started = time.perf_counter()
    curves["pool"] = fixed_order(make(), np.arange(pool), dataset.qrels, truth, args.step)
    timings["pool"] = time.perf_counter() - started
    rng = np.random.default_rng(0)
    random_curves = []
    started = time.perf_counter()
    for _ in range(args.seeds):
        random_curves.append(fixed_order(make(), rng.permutation(pool), dataset.qrels, truth, args.step))
    timings["random"] = time.perf_counter() - started
    for strategy in args.strategies:
        started = time.perf_counter()
        curves[f"judge-next:{strategy}"] = judge_next(make(strategy), dataset.qrels, truth, args.step)
        timings[f"judge-next:{strategy}"] = time.perf_counter() - started

    result = {"pool": pool, "needed": {}, "curves": curves, "random_curves": random_curves, "stops": {}}
    result["needed"]["pool"] = needed(curves["pool"])
    result["needed"]["random"] = float(np.mean([needed(c) for c in random_curves]))
    for strategy in args.strategies:
        key = f"judge-next:{strategy}"
        result["needed"][key] = needed(curves[key])
        result["stops"][key] = first_settled(curves[key])

    grid = sorted({int(pool * f) for f in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)})
    print("\njudgments vs agreement with the full-qrels verdicts (share of model pairs) and Kendall's tau")
    head = f"{'judgments':>10} {'% pool':>7}"
    names = ["pool", "random", *[f"judge-next:{s}" for s in args.strategies]]
    for key in names:
        head += f" {key + ' agree':>24} {'tau':>6}"
    print(head)
    for n in grid:
        line = f"{n:>10,} {n / pool:>7.0%}"
        for key in names:
            if key == "random":
                points = [curve_at(c, n) for c in random_curves]
                share, tau = float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points]))
            else:
                share, tau = curve_at(curves[key], n)
            line += f" {share:>24.0%} {tau:>6.2f}"
        print(line)
    print("\njudgments needed before every pair agrees from then on (share of the full pool):")
    for key in names:
        value = result["needed"][key]
        print(f"  {key:<22} {value:>8,.0f}  ({value / pool:.1%})   [{timings.get(key, 0):.0f} s]")
    for key, (n, share) in result["stops"].items():
        if n is None:
            print(f"  {key}: never declared every pair settled")
        else:
            print(f"  {key}: declared every pair settled after {n:,} judgments ({n / pool:.1%}), "
                  f"when {share:.0%} of the verdicts matched the full qrels")
    return result


def plot(results, path: Path, strategies):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        pool = res["pool"]
        for key, style in (("pool", "-"), *((f"judge-next:{s}", "-") for s in strategies)):
            xs, ys = zip(*[(n / pool, share) for n, share, *_ in res["curves"][key]])
            ax.plot(xs, ys, style, label=key.replace(":mtc", " (MTC)").replace(":variance", " (variance)"))
        grid = np.linspace(0, pool, 101)
        mean = [np.mean([curve_at(c, n)[0] for c in res["random_curves"]]) for n in grid]
        ax.plot(grid / pool, mean, "--", label=f"random (mean of {len(res['random_curves'])})")
        ax.set_title(f"{name}: {pool:,} pooled pairs")
        ax.set_xlabel("share of the depth-10 pool judged")
        ax.set_ylabel("model pairs with the full-qrels verdict")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--datasets", nargs="+", default=["scifact", "nfcorpus"])
    parser.add_argument("--models", nargs="+", default=["minilm", "wordllama", "bm25", "tokenlearn"])
    parser.add_argument("--cache", default=".embedscope-cache", help="embedding cache (each model embeds once)")
    parser.add_argument("--step", type=int, default=10, help="judgments between two looks at the verdicts")
    parser.add_argument("--seeds", type=int, default=3, help="random orders averaged")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--strategies", nargs="+", default=["mtc"], choices=STRATEGIES)
    parser.add_argument("--plot", type=Path, default=Path("docs/img/active-judging.png"))
    parser.add_argument("--target", type=float, default=0.25, help="judge-next's share of full pooling to meet")
    args = parser.parse_args()

    results = {name: run_dataset(name, args) for name in args.datasets}
    if args.plot:
        plot(results, args.plot, args.strategies)
    print()
    for name, res in results.items():
        for key, value in res["needed"].items():
            label = {"pool": "pool_order", "random": "random"}.get(key, key.replace("judge-next:", "judge_next_"))
            label = "judge_next" if key == f"judge-next:{args.strategies[0]}" else label
            print(f"RATIO {label}_vs_pooling_{name} {value / res['pool']:.4f}")
    main = f"judge-next:{args.strategies[0]}"
    met = all(res["needed"][main] / res["pool"] <= args.target for res in results.values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
