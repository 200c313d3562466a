"""Hard-negative mining: documents a model ranks high for a query but that are not its positives.

Candidates come from a rank range of the model's results (default ranks 2-200, like FlagEmbedding's
`range_for_sampling`), positives excluded. The false-negative guard skips any candidate that scores above
`margin` x the query's weakest positive score (0.95: the NV-Retriever "TopK-PercPos 95%" rule, which is
sentence-transformers' `relative_margin=0.05`): unjudged relevant documents tend to score as high as the
positives, and training them away hurts. Vectors go through the embedding cache, so mining, evaluating and
re-mining with the same model embed the corpus once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np

from embedscope import progress
from embedscope.finetune.data import TrainingExample
from embedscope.index import ExactIndex, normalize


@dataclass
class MiningSettings:
    range_min: int = 2
    range_max: int = 200
    num_negatives: int = 7
    margin: float = 0.95
    sampling: str = "top"  # "top": the best-ranked candidates that pass the guard; "random": a sample of them
    seed: int = 0

    def check(self) -> None:
        if not 1 <= self.range_min <= self.range_max:
            raise ValueError(f"rank range {self.range_min}..{self.range_max} must satisfy 1 <= start <= end")
        if self.num_negatives < 1:
            raise ValueError("--num-negatives must be at least 1")
        if not 0 < self.margin <= 1:
            raise ValueError(f"--margin must be in (0, 1], got {self.margin}")
        if self.sampling not in ("top", "random"):
            raise ValueError(f"sampling must be 'top' or 'random', got '{self.sampling}'")


def parse_range(text: str) -> tuple[int, int]:
    """'2..200' -> (2, 200) (embedscope.specs: the one range syntax)."""
    from embedscope.specs import parse_range as parse

    return parse(text, "rank range")


def candidate_corpus(examples: list[TrainingExample]) -> list[str]:
    """Without a corpus, every positive and negative text in the file is a candidate (FlagEmbedding's default)."""
    seen: dict[str, None] = {}
    for ex in examples:
        for text in (*ex.pos, *ex.neg):
            seen.setdefault(text, None)
    return list(seen)


def _vectors(embedder, cache, role: str, texts: list[str]) -> np.ndarray:
    encode = embedder.encode_queries if role == "query" else embedder.encode_documents
    if cache is None:
        return np.asarray(encode(texts), dtype=np.float32)
    with progress.task(f"{embedder.name}: {role} vectors", len(texts)) as advance:
        vectors, _ = cache.encode(embedder.fingerprint(), role, texts, encode, on_progress=advance,
                                  meta={"name": embedder.name, "class": type(embedder).__name__})
    return vectors


def positive_threshold(pos_score: float, margin: float) -> float:
    """margin x score for positive scores; for a non-positive score the same relative gap below it."""
    return pos_score - (1.0 - margin) * abs(pos_score)


def mine_hard_negatives(examples: list[TrainingExample], corpus: list[str] | None, embedder, cache=None,
                        settings: MiningSettings | None = None) -> tuple[list[TrainingExample], dict]:
    """Examples with `neg` replaced by mined negatives (and `neg_scores`), plus statistics."""
    settings = settings or MiningSettings()
    settings.check()
    corpus = list(dict.fromkeys(corpus if corpus is not None else candidate_corpus(examples)))
    if not corpus:
        raise ValueError("no candidate documents to mine negatives from")
    doc_vecs = _vectors(embedder, cache, "document", corpus)
    query_vecs = normalize(_vectors(embedder, cache, "query", [ex.query for ex in examples]))
    pos_texts = list(dict.fromkeys(t for ex in examples for t in ex.pos))
    pos_row = {t: i for i, t in enumerate(pos_texts)}
    pos_vecs = normalize(_vectors(embedder, cache, "document", pos_texts))

    index = ExactIndex("cosine")
    index.add(doc_vecs)
    depth = min(settings.range_max, len(corpus))
    scores, positions = index.search(query_vecs, depth)

    rng = random.Random(settings.seed)
    stats = {"examples": len(examples), "candidates": 0, "skipped_positive": 0, "skipped_margin": 0,
             "negatives": 0, "short": 0, "positive_scores": [], "negative_scores": []}
    mined: list[TrainingExample] = []
    for i, ex in enumerate(examples):
        positives = set(ex.pos)
        pos_score = float(min(pos_vecs[pos_row[t]] @ query_vecs[i] for t in ex.pos))
        limit = positive_threshold(pos_score, settings.margin)
        passed: list[tuple[str, float]] = []
        for rank in range(settings.range_min - 1, depth):
            j = int(positions[i, rank])
            if j < 0:
                break
            text, score = corpus[j], float(scores[i, rank])
            stats["candidates"] += 1
            if text in positives or text == ex.query:
                stats["skipped_positive"] += 1
            elif score > limit:
                stats["skipped_margin"] += 1
            else:
                passed.append((text, score))
        if settings.sampling == "random" and len(passed) > settings.num_negatives:
            chosen = sorted(rng.sample(passed, settings.num_negatives), key=lambda t: -t[1])
        else:
            chosen = passed[: settings.num_negatives]
        stats["short"] += len(chosen) < settings.num_negatives
        stats["negatives"] += len(chosen)
        stats["positive_scores"].append(pos_score)
        stats["negative_scores"].extend(s for _, s in chosen)
        extra = dict(ex.extra) | {"neg_scores": [round(s, 6) for _, s in chosen]}
        mined.append(replace(ex, neg=[t for t, _ in chosen], extra=extra))
    summary = {k: v for k, v in stats.items() if not k.endswith("_scores")}
    summary["mean_positive_score"] = float(np.mean(stats["positive_scores"]))
    summary["mean_negative_score"] = float(np.mean(stats["negative_scores"])) if stats["negative_scores"] else None
    summary["settings"] = vars(settings).copy()
    return mined, summary
