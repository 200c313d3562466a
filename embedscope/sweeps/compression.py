"""How much quality each way of shrinking the vectors costs, measured on the task through a real index.

Every option searches the same cached vectors: float16 and int8 through faiss IndexScalarQuantizer (QT_fp16,
QT_8bit: per-dimension min/max trained on the corpus; queries stay float, scored against decoded codes),
binary through IndexBinaryFlat (sign bits, Hamming), optionally rescored (see BinaryIndex), and Matryoshka
truncation to the first d dims. The baseline is float32 exact search (faiss IndexFlat) on the full vectors;
each option's per-query metric minus the baseline's gives a paired delta, with a bootstrap interval over
queries for its mean.

Options are written `[dimD+]precision[+rescore|+rescore-float]`: float32, float16, int8, binary,
binary+rescore, binary+rescore-float, dim256, dim256+int8, ...
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from embedscope.index import normalize, timed_build
from embedscope.metrics import canonical, evaluate
from embedscope.runs import Run
from embedscope.stats.bootstrap import percentile_ci

PRECISIONS = {"float32": "faiss:Flat", "float16": "faiss:SQfp16", "int8": "faiss:SQ8", "binary": "faiss:BinaryFlat"}
PRECISION_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "sq8": "int8", "uint8": "int8",
                     "ubinary": "binary", "bit": "binary"}
MATRYOSHKA_DIMS = (512, 256, 128, 64)
DEFAULT_RESCORE = 4  # candidates per hit when rescoring binary search, as in the sentence-transformers recipe


@dataclass(frozen=True)
class Compression:
    """One way to store the vectors: optional truncation to `dim`, then an index spec."""

    name: str
    precision: str = "float32"
    dim: int | None = None
    rescore: str | None = None  # None, "binary" (float query x stored bits) or "float" (x original vectors)
    rescore_factor: int = DEFAULT_RESCORE

    @property
    def index_spec(self) -> str:
        spec = PRECISIONS[self.precision]
        if self.rescore:
            spec += f"?rescore={self.rescore_factor}" + ("&rescore_with=float" if self.rescore == "float" else "")
        return spec


def parse_option(text: str, rescore_factor: int = DEFAULT_RESCORE) -> Compression:
    """'binary+rescore' -> Compression; 'dim256+int8' truncates to 256 dims, then stores int8."""
    precision, dim, rescore = "float32", None, None
    for token in (t.strip().lower() for t in text.split("+")):
        token = PRECISION_ALIASES.get(token, token)
        if token in PRECISIONS:
            precision = token
        elif token.startswith("dim") and token[3:].isdigit():
            dim = int(token[3:])
        elif token in ("rescore", "rescore-binary"):
            rescore = "binary"
        elif token == "rescore-float":
            rescore = "float"
        else:
            raise ValueError(f"compression option '{text}': '{token}' is not one of {', '.join(PRECISIONS)}, "
                             "dimN, rescore, rescore-float")
    if rescore and precision != "binary":
        raise ValueError(f"compression option '{text}': rescoring applies to binary only")
    if dim is not None and dim < 1:
        raise ValueError(f"compression option '{text}': dim must be at least 1")
    return Compression(text, precision, dim, rescore, rescore_factor)


def default_options(full_dim: int, dims=MATRYOSHKA_DIMS, rescore_factor: int = DEFAULT_RESCORE) -> list[Compression]:
    """float16, int8, binary (plain and rescored both ways), and truncation to each dim below the model's."""
    names = ["float16", "int8", "binary", "binary+rescore", "binary+rescore-float"]
    names += [f"dim{d}" for d in sorted(set(dims), reverse=True) if d < full_dim]
    return [parse_option(n, rescore_factor) for n in names]


def is_unit_length(vectors: np.ndarray, tolerance: float = 1e-3) -> bool:
    norms = np.linalg.norm(vectors, axis=1)
    return bool(len(norms)) and bool(np.all(np.abs(norms - 1) < tolerance))


def truncate(vectors: np.ndarray, dim: int, renormalize: bool = True) -> np.ndarray:
    """The first `dim` dims (Matryoshka), scaled back to unit length unless told otherwise."""
    if dim > vectors.shape[1]:
        raise ValueError(f"cannot truncate {vectors.shape[1]}-dim vectors to {dim} dims")
    part = np.ascontiguousarray(vectors[:, :dim], dtype=np.float32)
    return normalize(part) if renormalize else part


@dataclass
class CompressionSweep:
    model: str
    dim: int
    similarity: str
    metrics: list[str]
    baseline: dict[str, float]
    rows: list[dict]
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # option -> metric -> qid

    def to_dict(self) -> dict:
        return {"model": self.model, "dim": self.dim, "similarity": self.similarity, "metrics": self.metrics,
                "baseline": self.baseline, "options": self.rows}


def _search(index_spec: str, similarity: str, docs: np.ndarray, queries: np.ndarray, depth: int):
    index, built = timed_build(index_spec, similarity, docs)
    started = time.perf_counter()
    scores, positions = index.search(queries, min(depth, len(docs)))
    return index, scores, positions, built["index_seconds"], time.perf_counter() - started


@dataclass(frozen=True)
class Bootstrap:
    """The percentile bootstrap behind each delta's interval."""

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0


def compression_sweep(
    dataset,
    doc_vectors: np.ndarray,
    query_vectors: np.ndarray,
    *,
    model: str = "model",
    options: list[Compression] | None = None,
    similarity: str = "cosine",
    metrics=("ndcg@10", "recall@100"),
    depth: int = 100,
    bootstrap: Bootstrap = Bootstrap(),
) -> CompressionSweep:
    """Score each option against float32 exact search on the same vectors; deltas are option - baseline."""
    metrics = [canonical(m) for m in metrics]
    depth = max(depth, *(int(m.split("@")[1]) for m in metrics))
    full_dim = doc_vectors.shape[1]
    options = default_options(full_dim) if options is None else options
    # Truncated cosine-model vectors are renormalized; raw dot/l2 vectors keep their scale.
    renormalize = similarity == "cosine" or (is_unit_length(doc_vectors) and is_unit_length(query_vectors))

    def run_of(name, scores, positions):
        return Run.from_topk(name, dataset.query_ids, dataset.doc_ids, scores, positions)

    _, b_scores, b_pos, _, _ = _search("faiss:Flat", similarity, doc_vectors, query_vectors, depth)
    base_eval = evaluate(dataset.qrels, run_of("float32", b_scores, b_pos), metrics)
    base_bytes = 4 * full_dim
    rows, per_query = [], {"float32 (baseline)": base_eval.per_query}
    for option in options:
        docs, queries = doc_vectors, query_vectors
        if option.dim is not None:
            if option.dim > full_dim:
                raise ValueError(f"compression option '{option.name}': the model has only {full_dim} dims")
            docs, queries = truncate(docs, option.dim, renormalize), truncate(queries, option.dim, renormalize)
        index, scores, positions, build_s, search_s = _search(option.index_spec, similarity, docs, queries, depth)
        evaluation = evaluate(dataset.qrels, run_of(option.name, scores, positions), metrics)
        per_query[option.name] = evaluation.per_query
        code = int(getattr(index, "code_size", 0))
        row = {
            "option": option.name, "precision": option.precision, "dim": option.dim or full_dim,
            "index": option.index_spec, "rescore": option.rescore,
            "bytes_per_vector": code,
            "extra_bytes_per_vector": int(getattr(index, "extra_bytes_per_vector", 0)),
            "saved_pct": 100 * (1 - code / base_bytes),
            "index_bytes": int(getattr(index, "nbytes", 0)),
            "build_seconds": build_s, "search_seconds": search_s,
            "metrics": evaluation.mean, "delta": {}, "ci": {},
        }
        for m in metrics:
            deltas = np.array([evaluation.per_query[m][q] - base_eval.per_query[m][q] for q in base_eval.query_ids])
            row["delta"][m] = float(deltas.mean()) if len(deltas) else 0.0
            if len(deltas):
                low, high = percentile_ci(deltas[:, None], bootstrap.confidence, bootstrap.resamples, bootstrap.seed)
                row["ci"][m] = [float(np.ravel(low)[0]), float(np.ravel(high)[0])]
            else:
                row["ci"][m] = [0.0, 0.0]
        rows.append(row)
    baseline = {"option": "float32", "dim": full_dim, "index": "faiss:Flat", "bytes_per_vector": base_bytes,
                "metrics": base_eval.mean}
    return CompressionSweep(model, full_dim, similarity, metrics, baseline, rows, per_query)
