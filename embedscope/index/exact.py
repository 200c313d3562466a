from __future__ import annotations

import numpy as np

from embedscope.index.base import check_similarity, prepare, similarity_scores, top_k


class ExactIndex:
    """Brute-force top-k, blocked over queries and documents so memory stays flat.

    A block of `query_block` x `doc_block` scores (256 x 32,768, float64 while accumulated: 64 MiB) and the
    block's vectors in float64 are the only extra memory, so 1M x 384 vectors (1.5 GiB) search within a few GiB.
    Scores come from `similarity_scores` and ties from `top_k`, so the result does not depend on the blocking.

    `add(vectors, ids=...)` gives the rows ids of the caller's (document positions, as FAISS's add_with_ids);
    search returns those ids, and equal scores go to the lower id. Without ids, rows are numbered in order.
    """

    def __init__(self, similarity: str = "cosine", query_block: int = 256, doc_block: int = 32768):
        check_similarity(similarity)
        self.name = f"exact-{similarity}"
        self.similarity = similarity
        self.query_block, self.doc_block = query_block, doc_block
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (vectors, ids)
        self.count = 0

    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        vectors = prepare(vectors, self.similarity)
        ids = np.arange(self.count, self.count + len(vectors)) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        for start in range(0, len(vectors), self.doc_block):
            self.blocks.append((vectors[start : start + self.doc_block], ids[start : start + self.doc_block]))
        self.count += len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = prepare(queries, self.similarity)
        k_eff = min(k, self.count)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        if k_eff <= 0:
            return out_s, out_i
        for qs in range(0, len(queries), self.query_block):
            q = queries[qs : qs + self.query_block]
            best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
            best_i = np.zeros((len(q), 0), dtype=np.int64)
            for vectors, ids in self.blocks:
                s, i = top_k(similarity_scores(q, vectors, self.similarity), ids[None, :], k_eff)
                best_s, best_i = top_k(np.concatenate([best_s, s], axis=1), np.concatenate([best_i, i], axis=1),
                                       k_eff)
            out_s[qs : qs + len(q), :k_eff] = best_s
            out_i[qs : qs + len(q), :k_eff] = best_i
        return out_s, out_i
