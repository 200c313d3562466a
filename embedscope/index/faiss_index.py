"""FAISS indexes behind the VectorIndex Protocol, from specs written like FAISS factory strings.

    faiss:Flat                      exact, float32
    faiss:SQfp16 / faiss:SQ8        float16 / int8 scalar quantization (per-dimension min/max trained on the corpus)
    faiss:HNSW32?efSearch=64        HNSW graph, M=32 (efConstruction=... sets the build-time beam)
    faiss:IVF256,Flat?nprobe=16     inverted lists, 256 centroids, 16 probed per query
    faiss:IVF256,PQ16?nprobe=16     inverted lists over 16-byte product-quantized codes
    faiss:BinaryFlat                sign bits, Hamming search (BinaryHNSW32, BinaryIVF256 likewise)
    faiss:BinaryFlat?rescore=4      ... top-4k by Hamming, rescored with the float query (see BinaryIndex)

The one spec grammar (embedscope.specs): the target is the factory string given to `faiss.index_factory`, the
options after '?' are parameters. Cosine = normalize + inner product; dot = inner product; l2 = squared L2 distance,
returned negated so that higher is better for every similarity, as ExactIndex does.
"""

from __future__ import annotations

import logging

import numpy as np

from embedscope.index.base import check_similarity, normalize, prepare
from embedscope.index.registry import register

log = logging.getLogger(__name__)

SEARCH_PARAMS = ("efSearch", "nprobe")
BUILD_PARAMS = ("efConstruction",)
BINARY_PARAMS = ("rescore", "rescore_with")


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency; this names the fix if it is missing
        raise ImportError("faiss indexes need the faiss-cpu package: pip install faiss-cpu") from None
    return faiss


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'HNSW32?efSearch=64' -> ('HNSW32', {'efSearch': '64'}): the FAISS factory string and the parameters, in the
    one spec grammar (embedscope.specs; the older 'HNSW32,efSearch=64' is read with a warning)."""
    from embedscope.specs import index_spec

    parsed = index_spec(f"faiss:{spec}")
    return _checked(parsed.target, parsed.options, f"faiss:{spec}")


def _checked(factory: str | None, params: dict, spec: str) -> tuple[str, dict[str, str]]:
    known = SEARCH_PARAMS + BUILD_PARAMS + BINARY_PARAMS
    for key in params:
        if key not in known:
            raise ValueError(f"index spec '{spec}': unknown parameter '{key}' (known: {', '.join(known)})")
    if not factory:
        raise ValueError(f"index spec '{spec}' names no index, e.g. faiss:HNSW32 or faiss:IVF256,Flat")
    return factory, dict(params)


def _int_param(spec: str, key: str, value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"index spec '{spec}': {key} must be a whole number, got '{value}'") from None
    if number < 1:
        raise ValueError(f"index spec '{spec}': {key} must be at least 1, got {number}")
    return number


def serialized_bytes(index) -> int:
    """Bytes the index takes when written out: codes, graph links, centroids, trained ranges."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexBinary):
        return int(len(faiss.serialize_index_binary(index)))
    return int(len(faiss.serialize_index(index)))


def _undertrained(index, n: int) -> list[str]:
    """The k-means steps of an index that get fewer training vectors than FAISS asks for (39 per centroid),
    with their warnings silenced: FAISS would print one per PQ sub-quantizer (48 lines for PQ48). The caller
    says it once instead."""
    faiss = _faiss()
    steps = []
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        steps.append(("IVF", ivf.cp, ivf.nlist))
    pq = getattr(faiss.downcast_index(ivf) if ivf is not None else faiss.downcast_index(index), "pq", None)
    if pq is not None:
        steps.append(("PQ", pq.cp, pq.ksub))
    short = []
    for label, params, centroids in steps:
        if n < params.min_points_per_centroid * centroids:
            short.append(f"{label} needs {params.min_points_per_centroid * centroids:,} for {centroids} centroids")
            params.min_points_per_centroid = 1
    return short


def _train(index, vectors: np.ndarray, spec: str) -> None:
    short = _undertrained(index, len(vectors))
    if short:
        log.warning(f"{spec} trained on {len(vectors):,} vectors, fewer than FAISS advises ({'; '.join(short)}): "
              "its recall may be lower than on a larger corpus")
    try:
        index.train(vectors)
    except RuntimeError as e:
        # Clustering needs at least as many vectors as centroids (IVF nlist, PQ 2**nbits).
        detail = str(e).strip().splitlines()[-1]
        raise ValueError(f"index spec '{spec}' cannot be trained on {len(vectors):,} vectors "
                         f"(too few for its centroids?): {detail}") from None


class _SpecNamed:
    """The spec string an index was built from, and its name in reports (spec + similarity)."""

    factory: str
    params: dict
    similarity: str

    @property
    def spec(self) -> str:
        return "faiss:" + self.factory + ("?" + "&".join(f"{k}={v}" for k, v in self.params.items())
                                          if self.params else "")

    @property
    def name(self) -> str:
        return f"{self.spec}-{self.similarity}"


class FaissIndex(_SpecNamed):
    """A float FAISS index built with `faiss.index_factory`, trained on the first vectors added."""

    def __init__(self, factory: str, similarity: str = "cosine", params: dict | None = None):
        check_similarity(similarity)
        self.factory, self.similarity = factory, similarity
        self.params = {k: v for k, v in (params or {}).items()}
        for key in self.params:
            if key in BINARY_PARAMS:
                raise ValueError(f"index spec '{self.spec}': {key} applies to Binary indexes only")
        self.index = None

    def _build(self, dim: int):
        faiss = _faiss()
        faiss_metric = faiss.METRIC_L2 if self.similarity == "l2" else faiss.METRIC_INNER_PRODUCT
        try:
            index = faiss.index_factory(dim, self.factory, faiss_metric)
        except RuntimeError as e:
            detail = str(e).strip().splitlines()[-1]
            raise ValueError(f"index spec '{self.spec}': faiss cannot build '{self.factory}' "
                             f"for {dim}-dim vectors: {detail}") from None
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None and hasattr(faiss.downcast_index(ivf), "do_polysemous_training"):
            # The factory turns on polysemous training for IVF-PQ: a slow code reordering that only Hamming
            # pre-filtering (polysemous_ht, never set here) uses. Distances and results are the same without it.
            faiss.downcast_index(ivf).do_polysemous_training = False
        if "efConstruction" in self.params:  # must be set before the graph is built
            faiss.ParameterSpace().set_index_parameter(
                index, "efConstruction", _int_param(self.spec, "efConstruction", self.params["efConstruction"]))
        return index

    def set_search_params(self, **params) -> None:
        """Change efSearch / nprobe on the built index (no rebuild): how the ANN sweep walks its grid."""
        for key, value in params.items():
            if key not in SEARCH_PARAMS:
                raise ValueError(f"{key} is not a search-time parameter (those are {', '.join(SEARCH_PARAMS)})")
            self.params[key] = value
        if self.index is not None:
            self._apply_search_params()

    def _apply_search_params(self) -> None:
        faiss = _faiss()
        space = faiss.ParameterSpace()
        for key in SEARCH_PARAMS:
            if key in self.params:
                try:
                    space.set_index_parameter(self.index, key, _int_param(self.spec, key, self.params[key]))
                except RuntimeError:
                    raise ValueError(f"index spec '{self.spec}': {key} does not apply to '{self.factory}'") from None

    def add(self, vectors: np.ndarray) -> None:
        vectors = prepare(vectors, self.similarity)
        if self.index is None:
            self.index = self._build(vectors.shape[1])
            self._apply_search_params()
        if not self.index.is_trained:
            _train(self.index, vectors, self.spec)
        self.index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index is None:
            raise ValueError("search before add: the index is empty")
        scores, positions = self.index.search(prepare(queries, self.similarity), k)
        if self.similarity == "l2":
            scores = -scores
        scores[positions < 0] = -np.inf
        return scores, positions.astype(np.int64, copy=False)

    @property
    def code_size(self) -> int:
        """Bytes of one vector's code (4*dim for Flat, dim for SQ8, m for PQm); graph links and list ids are
        extra and show in nbytes."""
        if self.index is None:
            return 0
        faiss = _faiss()
        index = faiss.downcast_index(self.index)
        if hasattr(index, "storage"):  # HNSW: vectors live in a flat (or SQ/PQ) storage index
            index = faiss.downcast_index(index.storage)
        return int(index.code_size) if hasattr(index, "code_size") else int(index.sa_code_size())

    @property
    def nbytes(self) -> int:
        return serialized_bytes(self.index) if self.index is not None else 0

    def __len__(self) -> int:
        return int(self.index.ntotal) if self.index is not None else 0


class BinaryIndex(_SpecNamed):
    """Sign bits (x > 0) packed 8 per byte; Hamming distance, returned as -distance so higher is better.

    With rescore=R the index fetches the top R*k by Hamming and re-ranks them with the float query, following
    sentence-transformers' binary rescoring recipe (`semantic_search_faiss`): the query stays float32 and is
    scored against the candidates' *binary* vectors (bits as +-1, which ranks exactly as its 0/1 bits do), so
    nothing but the bits is stored. rescore_with=float instead scores against the original float vectors, which
    must be kept beside the index (on disk, say): better quality for 32x the storage of the bits.
    """

    def __init__(self, factory: str = "BinaryFlat", similarity: str = "cosine", params: dict | None = None):
        check_similarity(similarity)
        self.factory, self.similarity = factory, similarity
        self.params = dict(params or {})
        for key in self.params:
            if key not in BINARY_PARAMS + SEARCH_PARAMS:
                raise ValueError(f"index spec '{self.spec}': {key} does not apply to Binary indexes")
        self.rescore = _int_param(self.spec, "rescore", self.params["rescore"]) if "rescore" in self.params else 0
        self.rescore_with = self.params.get("rescore_with", "binary")
        if self.rescore_with not in ("binary", "float"):
            raise ValueError(f"index spec '{self.spec}': rescore_with must be 'binary' or 'float'")
        if "rescore_with" in self.params and not self.rescore:
            raise ValueError(f"index spec '{self.spec}': rescore_with needs rescore=R (candidates per hit)")
        self.index = None
        self.dim = 0
        # What rescoring reads back: the bits (a copy as numpy, cheaper than faiss reconstruct() per row)
        # or, for rescore_with=float, the original float vectors.
        self.kept: list[np.ndarray] = []

    @staticmethod
    def pack(vectors: np.ndarray) -> np.ndarray:
        """Sign bits, 8 per byte; np.packbits pads the last byte with zeros on both sides alike."""
        return np.packbits(np.asarray(vectors) > 0, axis=1)

    def add(self, vectors: np.ndarray) -> None:
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        codes = self.pack(vectors)
        if self.index is None:
            self.dim = vectors.shape[1]
            sub = self.factory[len("Binary"):]
            try:
                self.index = faiss.index_binary_factory(codes.shape[1] * 8, "B" + sub)
            except RuntimeError as e:
                detail = str(e).strip().splitlines()[-1]
                raise ValueError(f"index spec '{self.spec}': faiss cannot build '{self.factory}': {detail}") from None
            for key in SEARCH_PARAMS:
                if key in self.params:
                    value = _int_param(self.spec, key, self.params[key])
                    if key == "nprobe" and hasattr(self.index, "nprobe"):
                        self.index.nprobe = value
                    elif key == "efSearch" and hasattr(self.index, "hnsw"):
                        self.index.hnsw.efSearch = value
                    else:
                        raise ValueError(f"index spec '{self.spec}': {key} does not apply to '{self.factory}'")
        if not self.index.is_trained:
            _train(self.index, codes, self.spec)
        self.index.add(codes)
        if self.rescore:
            self.kept.append(vectors if self.rescore_with == "float" else codes)

    def _candidates(self, rows: np.ndarray) -> np.ndarray:
        """Float vectors to rescore against: the stored bits as +-1, or the originals."""
        if len(self.kept) > 1:
            self.kept = [np.concatenate(self.kept)]
        stored = self.kept[0][rows]
        if self.rescore_with == "float":
            return stored
        bits = np.unpackbits(stored, axis=-1)[..., : self.dim].astype(np.float32)
        return 2 * bits - 1

    def _rescore(self, queries: np.ndarray, positions: np.ndarray) -> np.ndarray:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        docs = self._candidates(np.where(positions < 0, 0, positions))
        if self.similarity == "cosine":
            queries, docs = normalize(queries), normalize(docs)
        scores = np.einsum("qd,qkd->qk", queries, docs)
        if self.similarity == "l2":
            scores = 2 * scores - np.einsum("qkd,qkd->qk", docs, docs) - np.einsum("qd,qd->q", queries, queries)[:, None]
        return np.where(positions < 0, -np.inf, scores).astype(np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index is None:
            raise ValueError("search before add: the index is empty")
        fetch = k * self.rescore if self.rescore else k
        distances, positions = self.index.search(self.pack(queries), fetch)
        positions = positions.astype(np.int64, copy=False)
        if not self.rescore:
            scores = -distances.astype(np.float32)
            scores[positions < 0] = -np.inf
            return scores, positions
        scores = self._rescore(queries, positions)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(positions, order, axis=1)

    @property
    def code_size(self) -> int:
        return int(self.index.code_size) if self.index is not None else 0

    @property
    def extra_bytes_per_vector(self) -> int:
        """Float vectors kept beside the index for rescore_with=float (0 otherwise)."""
        return 4 * self.dim if self.rescore_with == "float" and self.rescore else 0

    @property
    def nbytes(self) -> int:
        return serialized_bytes(self.index) if self.index is not None else 0

    def __len__(self) -> int:
        return int(self.index.ntotal) if self.index is not None else 0


def faiss_index(spec, similarity: str = "cosine"):
    """The index for a parsed 'faiss:FACTORY?PARAMS' spec (or its text without the prefix)."""
    factory, params = parse_spec(spec) if isinstance(spec, str) else _checked(spec.target, spec.options, str(spec))
    if factory.startswith("Binary"):
        return BinaryIndex(factory, similarity, params)
    return FaissIndex(factory, similarity, params)


@register("faiss")
def _build(spec: str, similarity: str):
    return faiss_index(spec, similarity)
