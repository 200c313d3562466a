"""Search a corpus straight from its embedding-cache shards, one shard in memory at a time.

For corpora whose vectors do not fit in RAM together (100M x 384 float32 = 154 GB):

- `StreamingExactSearch` reads shard after shard, scores every query against it (with `ExactIndex`, blocked)
  and merges that shard's top-k into the running top-k per query, as `ExactIndex` merges its blocks. Memory:
  one shard plus queries x k. The result is the exact top-k, the same as `ExactIndex` over all vectors.
- `StreamingIVFIndex` trains a FAISS IVF index (IVF-PQ or IVF-SQ8) on a sample drawn across all shards, then
  adds shard after shard: only the compressed codes stay in RAM (16 bytes a vector for PQ16, dim bytes for SQ8).

Shards hold vectors by text key, in whatever order they were written (several engines, several runs). Results
come back as positions in the caller's document list, which is what `Run.from_topk` takes: `DocumentKeys`
maps each shard row to the documents whose text has that key (a text shared by two documents scores for both;
rows of texts that are not in this corpus are skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from embedscope.cache import EmbeddingCache, text_key
from embedscope.index.base import check_similarity, prepare, top_k
from embedscope.index.exact import ExactIndex

Shards = Callable[[], Iterable[tuple[list[str], np.ndarray]]]  # a fresh pass over (keys, vectors) per call


class DocumentKeys:
    """Text key -> document positions, as a sorted array of 16-byte keys (16 MB for 1M documents, no dict)."""

    def __init__(self, keys: Sequence[str]):
        packed = _pack(keys)
        self.order = np.argsort(packed, kind="stable")
        self.sorted = packed[self.order]
        self.count = len(keys)

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> "DocumentKeys":
        return cls([text_key(t) for t in texts])

    def locate(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, positions): for each shard row whose key is a document's, the row once per such document."""
        packed = _pack(keys)
        lo = np.searchsorted(self.sorted, packed, side="left")
        hi = np.searchsorted(self.sorted, packed, side="right")
        hits = hi - lo
        rows = np.repeat(np.arange(len(keys)), hits)
        # position j of row r's run of equal keys: lo[r] + (0, 1, ..., hits[r]-1)
        starts = np.repeat(lo, hits)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(hits) - hits, hits)
        return rows, self.order[starts + within].astype(np.int64)


def _pack(keys: Sequence[str]) -> np.ndarray:
    return np.array([bytes.fromhex(k) for k in keys], dtype="S16")


def cache_shards(cache: EmbeddingCache, fingerprint: str, role: str = "document") -> Shards:
    if not cache.shards(fingerprint, role):
        raise ValueError(f"no cached {role} vectors for model {fingerprint} in {cache.root}: "
                         f"run `embedscope embed` (or `embedscope run`) with this model and cache first")
    return lambda: cache.iter_shards(fingerprint, role)


def _corpus_rows(shards: Shards, documents: DocumentKeys) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(vectors, document positions) shard by shard, only rows of this corpus, each document once."""
    seen = np.zeros(documents.count, dtype=bool)  # a key cached twice (two racing writers) counts once
    for keys, vectors in shards():
        rows, positions = documents.locate(keys)
        fresh = ~seen[positions]
        rows, positions = rows[fresh], positions[fresh]
        seen[positions] = True
        if len(rows):
            yield vectors[rows], positions
    if not seen.all():
        raise ValueError(f"{int((~seen).sum()):,} of {documents.count:,} documents have no cached vector: "
                         f"embed the corpus first (`embedscope embed`)")


class StreamingExactSearch:
    """Exact top-k over cached shards; the same scores and ranking as `ExactIndex` over all vectors in memory
    (higher is better, equal scores to the earlier document, -1 pads): each shard is an `ExactIndex` whose ids
    are document positions, and shards merge with the same `top_k`."""

    def __init__(self, shards: Shards, documents: DocumentKeys, similarity: str = "cosine",
                 query_block: int = 256, doc_block: int = 32768):
        check_similarity(similarity)
        self.shards, self.documents, self.similarity = shards, documents, similarity
        self.name = f"streaming-exact-{similarity}"
        self.query_block, self.doc_block = query_block, doc_block

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(queries), 0), dtype=np.int64)
        for vectors, positions in _corpus_rows(self.shards, self.documents):
            shard = ExactIndex(self.similarity, self.query_block, self.doc_block)
            shard.add(vectors, ids=positions)
            del vectors
            s, i = shard.search(queries, min(k, len(positions)))
            del shard
            best_s, best_i = top_k(np.concatenate([best_s, s], axis=1), np.concatenate([best_i, i], axis=1), k)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        out_s[:, : best_s.shape[1]], out_i[:, : best_i.shape[1]] = best_s, best_i
        return out_s, out_i


class StreamingIVFIndex:
    """FAISS IVF (e.g. 'IVF1024,PQ16' or 'IVF256,SQ8') trained on a sample, filled shard by shard.

    The sample takes the same share of every shard (`train_size` vectors in all), so the coarse centroids and
    codebooks see the whole corpus, not just the first shards written. Vectors are added with their document
    positions as ids, so search returns positions directly.
    """

    def __init__(self, factory: str = "IVF1024,PQ16", similarity: str = "cosine", nprobe: int = 16,
                 train_size: int = 100_000, seed: int = 0):
        check_similarity(similarity)
        if not factory.startswith("IVF"):
            raise ValueError(f"streaming ANN needs an IVF factory string such as 'IVF1024,PQ16', got '{factory}'")
        self.factory, self.similarity, self.nprobe = factory, similarity, nprobe
        self.train_size, self.seed = train_size, seed
        self.name = f"streaming-{factory},nprobe={nprobe}-{similarity}"
        self.index = None

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        return prepare(vectors, self.similarity)

    def build(self, shards: Shards, documents: DocumentKeys) -> "StreamingIVFIndex":
        import faiss

        rng = np.random.default_rng(self.seed)
        share = min(1.0, self.train_size / max(1, documents.count))
        sample = [v[rng.random(len(v)) < share] for v, _ in _corpus_rows(shards, documents)]
        sample = self._prepare(np.concatenate(sample))
        faiss_metric = faiss.METRIC_L2 if self.similarity == "l2" else faiss.METRIC_INNER_PRODUCT
        try:
            index = faiss.index_factory(sample.shape[1], self.factory, faiss_metric)
            ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
            if hasattr(ivf, "do_polysemous_training"):
                # The factory turns on polysemous training for IVF-PQ: a slow reordering of codes used only by
                # Hamming pre-filtering, which is never set here. Results are the same without it.
                ivf.do_polysemous_training = False
            index.train(sample)
        except RuntimeError as e:
            detail = str(e).strip().splitlines()[-1]
            raise ValueError(f"streaming index '{self.factory}' cannot be built from {len(sample):,} sampled "
                             f"{sample.shape[1]}-dim vectors (too few for its centroids?): {detail}") from None
        del sample
        ivf.nprobe = self.nprobe
        for vectors, positions in _corpus_rows(shards, documents):
            index.add_with_ids(self._prepare(vectors), positions)
        self.index = index
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index is None:
            raise ValueError("search before build: the index is empty")
        scores, positions = self.index.search(self._prepare(queries), k)
        if self.similarity == "l2":
            scores = -scores  # higher is better, as for every other index
        scores[positions < 0] = -np.inf
        return scores, positions.astype(np.int64, copy=False)

    @property
    def nbytes(self) -> int:
        import faiss

        return int(len(faiss.serialize_index(self.index))) if self.index is not None else 0


def streaming_index(spec: str, similarity: str, shards: Shards, documents: DocumentKeys):
    """The searcher an index spec names: `streaming` (exact) or `streaming:IVF1024,SQ8?nprobe=64` (an IVF
    index built shard by shard; nprobe 16 unless given). The one spec grammar: embedscope.specs."""
    from embedscope.specs import index_spec

    parsed = index_spec(spec)
    if parsed.kind != "streaming":
        raise ValueError(f"'{spec}' is not a streaming index spec (streaming or streaming:IVF...)")
    for key, value in parsed.options.items():
        if key != "nprobe":
            raise ValueError(f"index spec '{spec}': unknown parameter '{key}={value}' (streaming IVF takes nprobe=N)")
    nprobe = parsed.options.get("nprobe", "16")
    if not nprobe.isdigit() or int(nprobe) < 1:
        raise ValueError(f"index spec '{spec}': nprobe must be a whole number of at least 1")
    if not parsed.target:
        return StreamingExactSearch(shards, documents, similarity)
    return StreamingIVFIndex(parsed.target, similarity, int(nprobe)).build(shards, documents)
