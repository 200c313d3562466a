"""Active judging: which unjudged (query, document) pair to judge next so the comparison of the models settles
with the fewest judgments, and whether it has settled.

Minimal Test Collections (Carterette, Allan & Sitaraman, SIGIR 2006). For a top-k metric the difference between
two models a and b on one query is linear in the gains x_d of the documents either retrieved:

    DCG@k(a) - DCG@k(b) = sum_d x_d * (disc_a(d) - disc_b(d)),   disc_m(d) = 1/log2(rank_m(d) + 1) in m's top k, else 0
    P@k(a) - P@k(b)     = sum_d [x_d > 0] * (in_a(d) - in_b(d)) / k

so w_d = disc_a(d) - disc_b(d) (divided by the query's ideal DCG for nDCG) is how far judging d can move the
difference. Only documents in some model's top k (the depth-k pool) have a weight. MTC's bound follows: the
difference can end no higher than if every unjudged document with w > 0 is relevant (at the top grade) and every
one with w < 0 is not, and no lower than the reverse. A pair whose bound lies on one side of zero is decided
whatever the remaining judgments say. With several models, a document's weight is the sum of |w| over the pairs
not yet settled, so judgments go where a verdict is still open.

Confidence before the bound closes (MTC's section 4, Li & Kanoulas 2017): an unjudged document is relevant with
probability p, estimated from the judged ones by a logistic regression on the rank each model gave it (a smoothed
base rate until there are enough judgments of both kinds). The difference is then a sum of independent terms
plus the error of the relevance model itself (shared by every term: its coefficient covariance, by the delta
method), which gives an interval on the final difference and the probability that the current order holds.

The stopping rule: a pair of models is settled when MTC's bound excludes zero (the remaining judgments cannot
flip it), or when the interval at the chosen alpha excludes zero once the relevance model has been fitted on at
least MIN_CLASS judged relevant and MIN_CLASS judged not-relevant pairs. Labels that came with the data for
being relevant (a generated query's source document) count in the metric but do not teach the model.

What is estimated is the comparison on these queries once the whole depth-k pool is judged: queries sampled from
a larger population add their own uncertainty, which `embedscope run --judgments` reports afterwards (bootstrap
intervals and paired tests over queries).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse
from scipy.stats import norm

from embedscope.metrics import parse_metric
from embedscope.runs import Run

SUPPORTED = ("ndcg", "precision")
STRATEGIES = ("mtc", "variance")
MIN_CLASS = 10  # judged relevant and not-relevant pool pairs needed before the logistic model replaces the base rate
LOGISTIC_C = 1.0  # inverse L2 strength of the relevance model
P_CLIP = (0.01, 0.99)  # no unjudged pair is treated as certain either way
TIE = 1e-12  # differences this small are rounding, not an order


@dataclass(frozen=True)
class PairVerdict:
    """Where the comparison of models a and b stands (differences are a - b, means over queries)."""

    a: str
    b: str
    current: float  # with unjudged pairs counted as not relevant: what `embedscope pool` reports now
    estimate: float  # expected difference once every pooled pair is judged
    low: float  # interval on the final difference at 1 - alpha
    high: float
    probability: float  # probability that the order of `estimate` is the final order
    bound_low: float  # MTC: the final difference cannot end outside [bound_low, bound_high]
    bound_high: float
    settled_by: str | None  # "bound", "interval" or None (still open)
    unjudged: int  # unjudged pooled pairs that can still move this difference

    @property
    def settled(self) -> bool:
        return self.settled_by is not None

    @property
    def leader(self) -> str | None:
        if self.estimate > TIE:
            return self.a
        return self.b if self.estimate < -TIE else None

    @property
    def verdict(self) -> str:
        if self.leader is None:
            return f"{self.a} and {self.b} tie"
        other = self.b if self.leader == self.a else self.a
        return f"{self.leader} better than {other}"

    def to_dict(self) -> dict:
        return {**asdict(self), "settled": self.settled, "leader": self.leader, "verdict": self.verdict}


@dataclass(frozen=True)
class NextPair:
    """An unjudged pooled pair and how much judging it can change the comparison."""

    query_id: str
    doc_id: str
    weight: float  # the strategy's score: MTC's summed |w| over open pairs, or their variance share
    probability: float  # estimated probability that the document is relevant to the query
    ranks: dict[str, int | None]  # each model's rank for it (1-based; None when not in its top k)

    def to_dict(self) -> dict:
        return asdict(self)


class ActiveJudging:
    """The comparison of several runs on a top-k metric as judgments arrive, and the order to judge in.

    runs      the models compared (Run objects; their top k per query is the pool of candidates)
    labels    judgments so far: human, LLM (grade > 0 = relevant)
    given     labels that came with the data for being relevant (a generated query's source document): they
              count in the metric but do not teach the relevance model (see set_labels)
    metric    ndcg@k or precision@k
    alpha     the interval is at 1 - alpha; a pair whose interval excludes zero is settled
    max_grade the highest grade a judge can give (the web app's scale: 2); MTC's bound assumes it
    strategy  "mtc" (summed |weight| over open pairs) or "variance" (share of each open pair's variance)
    """

    def __init__(self, runs: list[Run], labels: dict[str, dict[str, int]] | None = None, metric: str = "ndcg@10",
                 alpha: float = 0.05, max_grade: int = 2, strategy: str = "mtc", query_ids: list[str] | None = None,
                 given: dict[str, dict[str, int]] | None = None):
        base, k = parse_metric(metric)
        if base not in SUPPORTED:
            raise ValueError(f"active judging supports {' and '.join(s + '@k' for s in SUPPORTED)}, not {metric}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if len(runs) < 2:
            raise ValueError("active judging compares models: give at least two runs")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        if max_grade < 1:
            raise ValueError(f"max_grade must be at least 1, got {max_grade}")
        self.metric, self.base, self.k = f"{base}@{k}", base, k
        self.alpha, self.strategy = alpha, strategy
        self.max_grade = 1 if base == "precision" else max_grade
        self.models = [r.name for r in runs]
        self.pairs = list(itertools.combinations(range(len(runs)), 2))
        self._build_pool(runs, query_ids)
        self.set_labels(labels or {}, given)

    # --- the pool and the weights, fixed for the life of the object -------------------------------------------
    def _build_pool(self, runs: list[Run], query_ids: list[str] | None) -> None:
        if query_ids is None:
            query_ids = list(dict.fromkeys(q for run in runs for q in run.scores))
        self.query_ids = list(query_ids)
        self._query_row = {q: i for i, q in enumerate(self.query_ids)}
        qidx, docs, position, ranks = [], [], [], []
        for qi, qid in enumerate(self.query_ids):
            best: dict[str, tuple[int, int]] = {}  # doc -> (best rank, order seen) for a stable pool order
            per_model = []
            for run in runs:
                ranked = {d: r for r, (d, _) in enumerate(run.ranked(qid, self.k))}
                per_model.append(ranked)
                for d, r in ranked.items():
                    if d not in best or r < best[d][0]:
                        best[d] = (r, best.get(d, (r, len(best)))[1])
            for d in sorted(best, key=best.get):
                qidx.append(qi)
                docs.append(d)
                position.append(best[d][0])
                ranks.append([m.get(d) for m in per_model])
        self.qidx = np.asarray(qidx, dtype=np.int64)
        self.doc_ids = docs
        self.index = {(self.query_ids[q], d): i for i, (q, d) in enumerate(zip(qidx, docs))}
        self.ranks = ranks  # 0-based rank per model, None outside its top k
        n, m = len(docs), len(runs)
        contrib = np.zeros((n, m))
        for i, row in enumerate(ranks):
            for j, r in enumerate(row):
                if r is not None:
                    contrib[i, j] = 1.0 / math.log2(r + 2) if self.base == "ndcg" else 1.0
        self.contrib = contrib
        # w for every (candidate, pair of models): how much a gain of 1 moves that pair's per-query difference
        self.raw_weight = np.zeros((n, len(self.pairs)))
        for col, (a, b) in enumerate(self.pairs):
            self.raw_weight[:, col] = contrib[:, a] - contrib[:, b]
        self.by_query = sparse.csr_matrix((np.ones(n), (self.qidx, np.arange(n))), shape=(len(self.query_ids), n))
        self.rows_of = [np.flatnonzero(self.qidx == q) for q in range(len(self.query_ids))]
        self.slot = np.zeros(n, dtype=np.int64)  # position of each pool pair within its query
        for rows in self.rows_of:
            self.slot[rows] = np.arange(len(rows))
        self.width = max((len(r) for r in self.rows_of), default=0)
        self.discount = 1.0 / np.log2(np.arange(self.k) + 2)
        self.features = self._features()

    def _features(self) -> np.ndarray:
        """What the relevance model sees: each model's rank discount, how many models retrieved the document, the
        best and the mean discount."""
        disc = np.zeros_like(self.contrib)
        for i, row in enumerate(self.ranks):
            for j, r in enumerate(row):
                if r is not None:
                    disc[i, j] = 1.0 / math.log2(r + 2)
        votes = (disc > 0).sum(axis=1, keepdims=True) / max(1, disc.shape[1])
        return np.hstack([disc, votes, disc.max(axis=1, keepdims=True), disc.mean(axis=1, keepdims=True)])

    @property
    def pool_size(self) -> int:
        return len(self.doc_ids)

    # --- labels in, estimates out -------------------------------------------------------------------------------
    def set_labels(self, labels: dict[str, dict[str, int]], given: dict[str, dict[str, int]] | None = None) -> None:
        """Replace every known label and recompute. `labels` are judgments (human, LLM, a simulated judge);
        `given` are labels that came with the data for being relevant, such as a generated query's source
        document: they count in the metric like any label, but as they were not picked without knowing their
        grade they do not teach the relevance model. A judgment of the same pair wins."""
        previous = getattr(self, "judged", None), getattr(self, "grade", None), getattr(self, "_outside_keys", None)
        n = self.pool_size
        self.judged = np.zeros(n, dtype=bool)
        self.grade = np.zeros(n)
        self.sampled = np.zeros(n, dtype=bool)  # judged pairs the relevance model learns from
        self._outside_keys: dict[tuple[str, str], float] = {}  # labelled documents outside the pool
        self._dirty: set[int] = set()
        for source, teaches in ((given or {}, False), (labels, True)):
            for qid, rels in source.items():
                for did, g in rels.items():
                    self._set(qid, did, g, teaches)
        if previous[0] is None:
            self._query_bounds = np.zeros((len(self.query_ids), 2, len(self.pairs)))
            self._dirty = set(range(len(self.query_ids)))
        else:  # a query's bound depends on its own labels only: keep those of the queries that did not change
            old_judged, old_grade, old_outside = previous
            changed = (old_judged != self.judged) | (old_grade != self.grade)
            self._dirty = set(self.qidx[changed].tolist()) | {
                self._query_row[key[0]] for key in set(old_outside) | set(self._outside_keys)
                if old_outside.get(key) != self._outside_keys.get(key)}
        self._rebuild_outside()
        self._refresh()

    def _set(self, qid: str, did: str, grade: int | None, teaches: bool = True) -> None:
        if qid not in self._query_row:
            return
        self._dirty.add(self._query_row[qid])
        i = self.index.get((qid, did))
        if i is None:  # outside the pool: only the ideal DCG sees it
            if grade is not None and grade > 0:
                self._outside_keys[(qid, did)] = float(grade)
            else:
                self._outside_keys.pop((qid, did), None)
            return
        self.judged[i] = grade is not None
        self.grade[i] = max(float(grade or 0), 0.0)
        self.sampled[i] = teaches and grade is not None

    def _rebuild_outside(self) -> None:
        self.outside = [[] for _ in self.query_ids]
        for (qid, _did), g in self._outside_keys.items():
            self.outside[self._query_row[qid]].append(g)

    def record(self, query_id: str, doc_id: str, grade: int | None) -> None:
        """One new judgment (None withdraws one); the ranking and the verdicts are recomputed."""
        self.update([(query_id, doc_id, grade)])

    def update(self, judgments) -> None:
        """Several new judgments (query id, document id, grade or None), then one recomputation."""
        for query_id, doc_id, grade in judgments:
            self._set(query_id, doc_id, grade)
        self._rebuild_outside()
        self._refresh()

    def pair(self, i: int) -> tuple[str, str]:
        """(query id, document id) of pool pair i."""
        return self.query_ids[self.qidx[i]], self.doc_ids[i]

    def _refresh(self) -> None:
        self._relevance_model()
        self._normalizers()
        self._verdicts = self._compute_verdicts()

    def _relevance_model(self) -> None:
        """p (probability of relevance) for every pool pair, how uncertain the model behind it is, and the mean and
        second moment of a relevant gain.

        Until MIN_CLASS judged pairs of each kind exist, p is the judged share of relevant pairs (Laplace-smoothed,
        a Beta posterior); then a logistic regression on the models' ranks. Either way the model's own uncertainty
        (the Beta's variance, or the regression's coefficient covariance by the delta method) is kept, because
        an error in p moves every unjudged pair at once."""
        judged, sampled = self.judged, self.sampled
        relevant = self.grade > 0
        positives, negatives = int((sampled & relevant).sum()), int((sampled & ~relevant).sum())
        self.fitted = positives >= MIN_CLASS and negatives >= MIN_CLASS
        if self.fitted:
            from sklearn.linear_model import LogisticRegression

            from sklearn.exceptions import ConvergenceWarning

            model = LogisticRegression(C=LOGISTIC_C, solver="newton-cholesky", max_iter=100)
            with warnings.catch_warnings():  # a fit short of full convergence still ranks; no console noise
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(self.features[sampled], relevant[sampled])
            p = model.predict_proba(self.features)[:, 1]
            design = np.hstack([np.ones((self.pool_size, 1)), self.features])
            fit_p = p[sampled]
            hessian = design[sampled].T @ (design[sampled] * (fit_p * (1 - fit_p))[:, None])
            hessian[1:, 1:] += np.eye(self.features.shape[1]) / LOGISTIC_C  # the L2 penalty (not on the intercept)
            self._p_gradient = design * (p * (1 - p))[:, None]  # dp/dbeta per pair
            self._p_covariance = np.linalg.pinv(hessian)
        else:
            a, b = positives + 1, negatives + 1
            p = np.full(self.pool_size, a / (a + b))
            self._p_gradient = np.ones((self.pool_size, 1))
            self._p_covariance = np.array([[a * b / ((a + b) ** 2 * (a + b + 1))]])
        self.p = np.clip(p, *P_CLIP)
        self.p[judged] = relevant[judged].astype(float)
        self._p_gradient[judged] = 0.0
        gains = self.grade[judged & relevant]
        if self.base == "precision":
            self.gain_mean, self.gain_m2 = 1.0, 1.0
        elif len(gains):
            self.gain_mean, self.gain_m2 = float(gains.mean()), float((gains ** 2).mean())
        else:
            self.gain_mean = self.gain_m2 = 1.0
        value = self.grade if self.base == "ndcg" else relevant.astype(float)
        self.value = np.where(judged, value, 0.0)  # what judged pairs contribute; unjudged count as 0 for now
        self.expected = np.where(judged, value, self.p * self.gain_mean)
        self.variance = np.where(judged, 0.0, self.p * self.gain_m2 - (self.p * self.gain_mean) ** 2)

    def _normalizers(self) -> None:
        """Per query: the known relevant gains, the ideal DCG now (unjudged = not relevant) and expected, and the
        probability that the query has a relevant document at all."""
        nq = len(self.query_ids)
        known = [list(g) for g in self.outside]
        for i in np.flatnonzero(self.judged & (self.grade > 0)):
            known[self.qidx[i]].append(float(self.grade[i]))
        self._known = known
        unjudged = np.zeros((nq, self.width))  # p of each query's unjudged pairs, 0 where judged
        open_rows = np.flatnonzero(~self.judged)
        unjudged[self.qidx[open_rows], self.slot[open_rows]] = self.p[open_rows]
        has_known = np.array([bool(g) for g in known])
        self.has_relevant = np.where(has_known, 1.0, 1.0 - np.prod(1.0 - unjudged, axis=1))
        if self.base == "precision":
            self.ideal_now = self.ideal_expected = np.full(nq, float(self.k))
        else:
            top = _top_gains(known, self.k)
            curve = _ideal_curves(top, self.gain_mean, self.discount)  # ideal DCG with r more relevant, r = 0..k
            self.ideal_now = curve[:, 0]
            self.ideal_expected = (curve * _count_distribution(unjudged, self.k)).sum(axis=1)
        # A relevant document makes the ideal DCG at least its own gain (>= 1) at rank 1.
        self.normalizer = np.maximum(self.ideal_expected, 1.0) if self.base == "ndcg" else self.ideal_expected
        self.weight = self.raw_weight / self.normalizer[self.qidx][:, None] if self.pool_size else self.raw_weight

    def _compute_verdicts(self) -> list[PairVerdict]:
        z = norm.ppf(1 - self.alpha / 2)
        n_now = max(int((self.ideal_now > 0).sum()) if self.base == "ndcg" else int(self._queries_with_relevant()), 1)
        n_expected = self.queries_expected = max(float(self.has_relevant.sum()), 1.0)
        unjudged = ~self.judged
        # per (query, pair) sums of the linear terms
        now = np.asarray(self.by_query @ (self.raw_weight * self.value[:, None]))
        bound_low, bound_high = self._bounds(now)
        ideal_now = np.where(self.ideal_now > 0, self.ideal_now, 1.0)[:, None]
        current = (now / ideal_now).sum(axis=0) / n_now
        mean = (self.weight * self.expected[:, None]).sum(axis=0)
        var = ((self.weight ** 2) * self.variance[:, None]).sum(axis=0)
        # plus the relevance model's own uncertainty: d(mean)/d(parameters), through the covariance
        gradient = (self.weight * self.gain_mean).T @ self._p_gradient  # pairs x parameters
        var = var + np.einsum("ij,jk,ik->i", gradient, self._p_covariance, gradient)
        movable = ((self.raw_weight != 0) & unjudged[:, None]).sum(axis=0)
        verdicts = []
        for col, (a, b) in enumerate(self.pairs):
            sd = math.sqrt(max(var[col], 0.0))
            est, lo, hi = mean[col] / n_expected, (mean[col] - z * sd) / n_expected, (mean[col] + z * sd) / n_expected
            tie = abs(bound_low[col]) <= TIE and abs(bound_high[col]) <= TIE
            if bound_low[col] > TIE or bound_high[col] < -TIE or tie:
                settled = "bound"
            elif self.fitted and (lo > 0 or hi < 0):
                settled = "interval"
            else:
                settled = None
            if abs(mean[col]) <= TIE:
                probability = 0.5
            else:
                probability = float(norm.cdf(abs(mean[col]) / sd)) if sd > 0 else 1.0
            verdicts.append(PairVerdict(
                self.models[a], self.models[b], float(current[col]), float(est), float(lo), float(hi), probability,
                float(bound_low[col] / n_expected), float(bound_high[col] / n_expected), settled, int(movable[col])))
        self._variance_per_pair = var
        return verdicts

    def _bounds(self, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MTC's bound on the summed per-query difference of every pair, over all ways to judge what is left.
        A query's bound depends on its own labels only, so only queries judged since the last call are redone."""
        discount = self.discount if self.base == "ndcg" else None
        for q in self._dirty:
            rows = self.rows_of[q][~self.judged[self.rows_of[q]]]
            self._query_bounds[q] = _query_bounds(now[q], self.raw_weight[rows], self._known[q], self.max_grade,
                                                  self.k, discount)
        self._dirty = set()
        low, high = self._query_bounds.sum(axis=0)
        return low, high

    def _queries_with_relevant(self) -> int:
        has = np.array([bool(g) for g in self.outside])
        relevant = self.judged & (self.grade > 0)
        has[np.unique(self.qidx[relevant])] = True
        return int(has.sum())

    # --- what the caller asks -------------------------------------------------------------------------------
    def verdicts(self) -> list[PairVerdict]:
        return list(self._verdicts)

    @property
    def settled(self) -> bool:
        """Every pair of models settled: further judgments cannot (bound) or are unlikely to (interval) change
        any verdict."""
        return all(v.settled for v in self._verdicts)

    @property
    def judged_in_pool(self) -> int:
        return int(self.judged.sum())

    def scores(self) -> np.ndarray:
        """The strategy's score of every pool pair (0 for judged ones); the pairs of models still open count, or
        all of them once every pair is settled (so an order exists to go on with)."""
        open_cols = [c for c, v in enumerate(self._verdicts) if not v.settled] or list(range(len(self.pairs)))
        w = self.weight[:, open_cols]
        if self.strategy == "mtc":
            score = np.abs(w).sum(axis=1)
        else:  # the share of each open pair's remaining variance this judgment would remove
            share = (w ** 2) * self.variance[:, None] / np.maximum(self._variance_per_pair[open_cols], 1e-300)
            score = share.sum(axis=1)
        return np.where(self.judged, 0.0, score)

    def next_order(self, n: int | None = None) -> np.ndarray:
        """Indices of unjudged pool pairs, best first (ties keep pool order)."""
        score = self.scores()
        candidates = np.flatnonzero(~self.judged)
        order = candidates[np.argsort(-score[candidates], kind="stable")]
        return order if n is None else order[:n]

    def next_pairs(self, n: int = 10) -> list[NextPair]:
        score = self.scores()
        out = []
        for i in self.next_order(n):
            ranks = {m: (None if r is None else r + 1) for m, r in zip(self.models, self.ranks[i])}
            out.append(NextPair(*self.pair(i), float(score[i]), float(self.p[i]), ranks))
        return out

    def state(self, n: int = 10) -> dict:
        """Everything a page or a script needs: the verdicts, whether to stop, and the next pairs to judge."""
        verdicts = self.verdicts()
        return {
            "metric": self.metric, "alpha": self.alpha, "strategy": self.strategy, "models": self.models,
            "pool": self.pool_size, "judged": self.judged_in_pool, "unjudged": self.pool_size - self.judged_in_pool,
            "judgments": int(self.sampled.sum()), "given": int((self.judged & ~self.sampled).sum()),
            "settled": self.settled, "settled_pairs": sum(v.settled for v in verdicts), "pairs": len(verdicts),
            "verdicts": [v.to_dict() for v in verdicts],
            "next": [p.to_dict() for p in self.next_pairs(n)],
        }


def _count_distribution(probs: np.ndarray, cap: int) -> np.ndarray:
    """Per row of independent event probabilities: P(exactly r happen) for r = 0..cap, the last column holding
    'cap or more'."""
    dist = np.zeros((probs.shape[0], cap + 1))
    dist[:, 0] = 1.0
    for column in probs.T:
        p = column[:, None]
        shifted = np.zeros_like(dist)
        shifted[:, 1:] = dist[:, :-1] * p
        shifted[:, -1] += dist[:, -1] * column  # already at the cap: stays there
        dist = dist * (1 - p) + shifted
    return dist


def _top_gains(known: list[list[float]], k: int) -> np.ndarray:
    """Each query's k largest known gains, best first, padded with zeros (queries x k)."""
    top = np.zeros((len(known), k))
    for q, gains in enumerate(known):
        best = sorted(gains, reverse=True)[:k]
        top[q, : len(best)] = best
    return top


def _ideal_curves(top: np.ndarray, grade: float, discount: np.ndarray) -> np.ndarray:
    """Ideal DCG@k of each query's known gains plus r more documents of `grade`, for r = 0..k (queries x k+1)."""
    k = len(discount)
    out = np.empty((top.shape[0], k + 1))
    for r in range(k + 1):
        merged = -np.sort(-np.hstack([top, np.full((top.shape[0], r), grade)]), axis=1)[:, :k]
        out[:, r] = merged @ discount
    return out


def _query_bounds(fixed: np.ndarray, weights: np.ndarray, known: list[float], max_grade: float, k: int,
                  discount: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """MTC's bound on one query's difference for every pair of models: the lowest and highest value of
    (fixed + sum_d x_d w_d) / ideal over every way the unjudged documents d (weights: n x pairs) can be judged.

    For r of them relevant, the numerator is at most the r largest weights taken at the top grade where positive
    (at grade 1 where negative) and the ideal DCG is at least that of the known gains plus r gains of 1; the
    maximum over r bounds the difference (exactly, when grades are binary). The lowest value is the same
    with the signs turned. `discount` None means a fixed normalizer k (precision@k).
    """
    n = weights.shape[0]

    def ideal(grade: float) -> np.ndarray:  # for r = 0..n more relevant documents of `grade`
        if discount is None:
            return np.full(n + 1, float(k))
        curve = _ideal_curves(_top_gains([known], k), grade, discount)[0]
        return curve[np.minimum(np.arange(n + 1), k)]  # beyond k more, the top k no longer changes

    small, large = ideal(1.0), ideal(max_grade)
    out = []
    for sign in (1.0, -1.0):  # +1: the highest value; -1: the lowest, as minus the highest of the negated
        w = -np.sort(-sign * weights, axis=0) if n else np.zeros((0, weights.shape[1]))
        steps = np.where(w > 0, w * max_grade, w)
        top = sign * fixed + np.vstack([np.zeros((1, weights.shape[1])), np.cumsum(steps, axis=0)])
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(top > 0, top / small[:, None], top / large[:, None])
        value = np.where((large == 0)[:, None], 0.0, value)  # nothing relevant at all: the query scores 0
        out.append(sign * np.minimum(value.max(axis=0), 1.0))
    return out[1], out[0]


LLM_LABELS = "judgments/llm-qrels.tsv"  # where `embedscope pool --judge-url` writes its labels


def run_dir_labels(run_dir) -> dict[str, dict[str, int]]:
    """The judgments of a run directory: the LLM judge's labels with the web app's human judgments on top."""
    from pathlib import Path

    from embedscope.judgments import judgments_path, merge_qrels, read_judgments

    return merge_qrels(read_judgments(Path(run_dir) / LLM_LABELS), read_judgments(judgments_path(run_dir)))


def for_run_dir(run_dir, dataset=None, metric: str | None = None, **options) -> ActiveJudging:
    """Active judging over the models of a run directory: their runs, the dataset's qrels as given labels (for
    generated queries: each one's source document) and the judgments saved in it so far.

    `dataset` is the run's dataset when already loaded (None reloads it; if it cannot be found, the comparison
    goes on without given labels). The metric defaults to nDCG at the run's cutoff."""
    from embedscope.errors import EmbedscopeError
    from embedscope.rundir import read_dataset, read_results, read_runs

    results = read_results(run_dir)
    runs = read_runs(run_dir, results)
    if dataset is None:
        try:
            dataset = read_dataset(run_dir, results)
        except (EmbedscopeError, OSError):  # moved or gone: no texts, no given labels, still a ranking
            dataset = None
    k = results.settings.k or 10
    names = [m.name for m in results.models if m.name in runs]
    given = dataset.qrels if dataset is not None else {}
    query_ids = list(dataset.queries) if dataset is not None else None
    return ActiveJudging([runs[n] for n in names], run_dir_labels(run_dir), metric=metric or f"ndcg@{k}",
                         query_ids=query_ids, given=given, **options)
