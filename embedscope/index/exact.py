from __future__ import annotations

import numpy as np

from embedscope.index.base import check_similarity, prepare


class ExactIndex:
    """Brute-force top-k, blocked over queries and documents so memory stays flat.

    A block of `query_block` x `doc_block` scores (256 x 65,536 float32 = 64 MiB) is the only extra memory,
    so 1M x 384 vectors (1.5 GiB) search within a few GiB.
    """

    def __init__(self, similarity: str = "cosine", query_block: int = 256, doc_block: int = 65536):
        check_similarity(similarity)
        self.name = f"exact-{similarity}"
        self.similarity = similarity
        self.query_block, self.doc_block = query_block, doc_block
        self.blocks: list[np.ndarray] = []
        self.sq_norms: list[np.ndarray] = []
        self.count = 0

    def add(self, vectors: np.ndarray) -> None:
        vectors = prepare(vectors, self.similarity)
        for start in range(0, len(vectors), self.doc_block):
            block = vectors[start : start + self.doc_block]
            self.blocks.append(block)
            self.sq_norms.append(np.einsum("ij,ij->i", block, block) if self.similarity == "l2" else np.empty(0))
        self.count += len(vectors)

    def _scores(self, q: np.ndarray, block_i: int) -> np.ndarray:
        s = q @ self.blocks[block_i].T
        if self.similarity == "l2":  # negative squared distance, so higher is better like the others
            s = 2 * s - self.sq_norms[block_i][None, :] - np.einsum("ij,ij->i", q, q)[:, None]
        return s

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = prepare(queries, self.similarity)
        k_eff = min(k, self.count)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        for qs in range(0, len(queries), self.query_block):
            q = queries[qs : qs + self.query_block]
            best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
            best_i = np.zeros((len(q), 0), dtype=np.int64)
            offset = 0
            for b in range(len(self.blocks)):
                s = self._scores(q, b)
                kk = min(k_eff, s.shape[1])
                part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
                cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
                cand_i = np.concatenate([best_i, part + offset], axis=1)
                keep = np.argpartition(-cand_s, min(k_eff, cand_s.shape[1]) - 1, axis=1)[:, :k_eff]
                best_s = np.take_along_axis(cand_s, keep, axis=1)
                best_i = np.take_along_axis(cand_i, keep, axis=1)
                offset += self.blocks[b].shape[0]
            order = np.argsort(-best_s, axis=1, kind="stable")
            out_s[qs : qs + len(q), :k_eff] = np.take_along_axis(best_s, order, axis=1)
            out_i[qs : qs + len(q), :k_eff] = np.take_along_axis(best_i, order, axis=1)
        return out_s, out_i
