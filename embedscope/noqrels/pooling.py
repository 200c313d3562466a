"""TREC-style depth-k pooling: the union of every model's top-k per query is what gets judged.

With a pool of depth k, each pooled model's top-k is fully judged, so precision@k, hit@k and MRR@k on the pool
labels equal what complete judgments would give; nDCG@k and recall are relative to the relevant documents the
pool found. judged@k says how much of a model's top-k was judged: a model that did not contribute to the pool
is scored with unjudged hits counted as non-relevant, which is why it is reported beside every score.
"""

from __future__ import annotations

from pathlib import Path

from embedscope.data.errors import DataError
from embedscope.metrics import evaluate
from embedscope.runs import Run

POOL_HEADER = "query-id\tcorpus-id\n"


def depth_pool(runs: list[Run], depth: int) -> dict[str, list[str]]:
    """pool[qid] = documents in the top `depth` of any run, in order of best rank reached (then run order)."""
    if depth < 1:
        raise ValueError("pool depth must be at least 1")
    best: dict[str, dict[str, int]] = {}
    for run in runs:
        for qid in run.scores:
            ranks = best.setdefault(qid, {})
            for rank, (did, _) in enumerate(run.ranked(qid, depth)):
                if did not in ranks or rank < ranks[did]:
                    ranks[did] = rank
    return {qid: sorted(ranks, key=ranks.get) for qid, ranks in best.items()}


def pool_size(pool: dict[str, list[str]]) -> int:
    return sum(len(d) for d in pool.values())


def unjudged(pool: dict[str, list[str]], labels: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """The part of the pool that has no label yet (what is left to judge)."""
    left = {q: [d for d in docs if d not in labels.get(q, {})] for q, docs in pool.items()}
    return {q: docs for q, docs in left.items() if docs}


def write_pool(pool: dict[str, list[str]], path: str | Path) -> Path:
    """Pairs to judge, one `query-id<TAB>corpus-id` per line under a header: the first two columns of BEIR qrels."""
    from embedscope.files import write_file

    lines = [POOL_HEADER, *(f"{qid}\t{did}\n" for qid, docs in pool.items() for did in docs)]
    return write_file(path, "".join(lines))


def read_pool(path: str | Path) -> dict[str, list[str]]:
    """A pool file; qrels files (three columns) are read too, ignoring their grades."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "pool file not found")
    pool: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            parts = raw.rstrip("\r\n").split("\t")
            if not raw.strip() or (number == 1 and parts[0].strip().lower() in ("query-id", "qid", "query_id")):
                continue
            if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
                raise DataError(path, f"expected 'query-id<TAB>corpus-id', got {len(parts)} column(s)", number)
            docs = pool.setdefault(parts[0].strip(), [])
            if parts[1].strip() not in docs:
                docs.append(parts[1].strip())
    return pool


def judged_at_k(run: Run, labels: dict[str, dict[str, int]], k: int, query_ids=None) -> float:
    """Mean over queries of the share of the run's top-k that has a label (any grade, 0 included)."""
    query_ids = list(run.scores) if query_ids is None else list(query_ids)
    shares = []
    for qid in query_ids:
        top = run.ranked(qid, k)
        if top:
            shares.append(sum(1 for d, _ in top if d in labels.get(qid, {})) / len(top))
    return sum(shares) / len(shares) if shares else 0.0


def evaluate_on_labels(runs: list[Run], labels: dict[str, dict[str, int]], metrics: list[str], k: int) -> list[dict]:
    """One row per run: metric means on the labels plus judged@k over the labelled queries."""
    rows = []
    for run in runs:
        evaluation = evaluate(labels, run, metrics)
        rows.append({
            "model": run.name,
            **evaluation.mean,
            f"judged@{k}": judged_at_k(run, labels, k, query_ids=list(labels)),
            "queries": len(evaluation.query_ids),
        })
    return rows
