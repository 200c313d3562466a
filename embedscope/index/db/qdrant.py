"""Qdrant, the real engine in-process (qdrant-edge-py): `--index qdrant` (HNSW) or `--index qdrant:flat`
(exact scan). Filters are Qdrant payload filters (keyword match, full-text match on an indexed text field),
applied inside the HNSW traversal rather than after it."""

from __future__ import annotations

import shutil
import tempfile
import weakref

import numpy as np

from embedscope.index.db.base import (
    TEXT_FIELD, DatabaseRows, Filter, check_similarity, distance_to_score, pack_results, prepare,
)
from embedscope.index.registry import register

_RETURNS = {"cosine": "similarity", "dot": "similarity", "l2": "l2"}  # Qdrant's Euclid score is the distance


class QdrantIndex(DatabaseRows):
    def __init__(self, similarity: str = "cosine", index_type: str = "hnsw", path: str | None = None,
                 m: int = 16, ef_construct: int = 100, hnsw_ef: int = 128, batch: int = 512):
        try:
            import qdrant_edge as qe
        except ImportError as e:
            raise ValueError("--index qdrant needs Qdrant Edge: pip install qdrant-edge-py") from e
        self.qe = qe
        self.similarity = check_similarity(similarity)
        self.index_type = (index_type or "hnsw").lower()
        if self.index_type not in ("hnsw", "flat"):
            raise ValueError(f"qdrant index type must be hnsw or flat, not '{index_type}'")
        self.name = f"qdrant-{self.index_type}-{similarity}"
        self.m, self.ef_construct, self.hnsw_ef, self.batch = m, ef_construct, hnsw_ef, batch
        self._own_dir = path is None
        self.path = path or tempfile.mkdtemp(prefix="embedscope-qdrant-")
        if self._own_dir:  # removed on close(), or when the index is dropped without one (e.g. by `run`)
            weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        self.shard = None
        self.count = 0
        self.fields: list[str] = []

    def _create(self, dim: int) -> None:
        qe = self.qe
        distance = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "l2": qe.Distance.Euclid}[self.similarity]
        # indexing_threshold=1 KB: build the HNSW graph even for small collections, so what we score is HNSW;
        # full_scan_threshold=1 KB: and do not let the planner quietly fall back to a full scan below ~10k vectors.
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=distance),
            hnsw_config=qe.HnswIndexConfig(m=self.m, ef_construct=self.ef_construct, full_scan_threshold=1),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1 if self.index_type == "hnsw" else 10**9),
        )
        self.shard = qe.EdgeShard.create(self.path, config)
        for key in self.fields:
            schema = (qe.TextIndexParams(tokenizer=qe.TokenizerType.Whitespace, lowercase=True)
                      if key == TEXT_FIELD else qe.PayloadSchemaType.Keyword)
            self.shard.update(qe.UpdateOperation.create_field_index(key, schema))

    def _insert(self, vectors, metadata, first_row: int) -> None:
        qe = self.qe
        for start in range(0, len(vectors), self.batch):
            points = [qe.Point(first_row + start + i, vectors[start + i].tolist(), metadata[start + i])
                      for i in range(min(self.batch, len(vectors) - start))]
            self.shard.update(qe.UpdateOperation.upsert_points(points))

    def _after_insert(self) -> None:
        self.shard.optimize()  # blocks until segments are merged and indexed: part of the load time we report

    def _filter(self, filter: Filter | None):
        if not filter:
            return None
        qe = self.qe
        must = [qe.FieldCondition(key, match=qe.MatchValue(value)) for key, value in filter.tags.items()]
        must += [qe.FieldCondition(TEXT_FIELD, match=qe.MatchText(word)) for word in filter.words]
        return qe.Filter(must=must)

    def search(self, queries, k, filter: Filter | None = None):
        qe = self.qe
        queries = prepare(queries, self.similarity)
        if self.shard is None:
            return pack_results([[] for _ in queries], k)
        params = qe.SearchParams(hnsw_ef=max(self.hnsw_ef, k), exact=self.index_type == "flat")
        where = self._filter(filter)
        requests = [qe.QueryRequest(limit=k, query=qe.Query.Nearest(q.tolist()), filter=where, params=params,
                                    with_payload=False, with_vector=False) for q in queries]
        hits = []
        for start in range(0, len(requests), 64):
            for points in self.shard.query_batch(qe.QueryBatchRequest(requests[start : start + 64])):
                scores = distance_to_score(np.array([p.score for p in points]), self.similarity, _RETURNS[self.similarity])
                hits.append([(int(p.id), float(s)) for p, s in zip(points, scores)])
        return pack_results(hits, k)

    def describe(self) -> dict:
        info = self.shard.info() if self.shard is not None else None
        indexed = info.indexed_vectors_count if info else 0
        points = info.points_count if info else 0
        if self.index_type == "flat":
            used = "exact scan (SearchParams.exact)"
        elif points and indexed >= points:
            used = f"HNSW (m={self.m}, ef_construct={self.ef_construct}, {indexed} vectors indexed)"
        else:
            used = f"partly plain scan: {indexed} of {points} vectors in HNSW"
        return {"backend": "qdrant-edge", "index_requested": self.index_type.upper(), "index_used": used,
                "rows": points, "segments": info.segments_count if info else 0}

    def close(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None
        if self._own_dir:
            shutil.rmtree(self.path, ignore_errors=True)


@register("qdrant")
def build(spec, similarity: str) -> QdrantIndex:
    return QdrantIndex(similarity=similarity, index_type=spec.target or "hnsw")
