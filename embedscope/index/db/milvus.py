"""Milvus through pymilvus: `--index milvus-lite` (embedded, a local .db folder) or `--index milvus:HOST:PORT`
(a running Milvus server), each optionally `:INDEX` (HNSW by default; FLAT, IVF_FLAT, ...), e.g.
`milvus-lite:FLAT`, `milvus:127.0.0.1:19530:IVF_FLAT`.

The index type Milvus really built is read back with describe_index: builds differ in what they support,
and what was asked for is not always what runs."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from embedscope.index.db.base import (
    TEXT_FIELD, DatabaseRows, Filter, check_similarity, distance_to_score, like_word, pack_results, prepare,
)
from embedscope.index.registry import register

_METRIC = {"cosine": "COSINE", "dot": "IP", "l2": "L2"}
_RETURNS = {"cosine": "similarity", "dot": "similarity", "l2": "l2sq"}  # Milvus L2 "distance" is squared
_BUILD = {"HNSW": {"M": 16, "efConstruction": 100}, "IVF_FLAT": {"nlist": 64}, "FLAT": {}}
COLLECTION = "docs"


class MilvusIndex(DatabaseRows):
    def __init__(self, similarity: str = "cosine", uri: str | None = None, index_type: str = "HNSW", ef: int = 128,
                 batch: int = 1000):
        try:
            from pymilvus import MilvusClient
        except ImportError as e:
            raise ValueError("--index milvus needs pymilvus (and milvus-lite for milvus-lite): "
                             "pip install pymilvus milvus-lite") from e
        self.similarity = check_similarity(similarity)
        self.index_type = (index_type or "HNSW").upper()
        self.ef, self.batch = ef, batch
        self.lite = uri is None
        self._tmp = tempfile.mkdtemp(prefix="embedscope-milvus-") if self.lite else None
        if self._tmp:  # removed on close(), or when the index is dropped without one (e.g. by `run`)
            weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)
        self.uri = str(Path(self._tmp) / "milvus.db") if self.lite else uri
        self.name = f"{'milvus-lite' if self.lite else 'milvus'}-{self.index_type.lower()}-{similarity}"
        self.client = MilvusClient(uri=self.uri)
        self.count = 0
        self.fields: list[str] = []
        self.created = False

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(COLLECTION):
            self.client.drop_collection(COLLECTION)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for key in self.fields:
            schema.add_field(key, DataType.VARCHAR, max_length=65535)
        self.client.create_collection(COLLECTION, schema=schema)

    def _insert(self, vectors, metadata, first_row: int) -> None:
        for start in range(0, len(vectors), self.batch):
            rows = [{"row": first_row + start + i, "vector": vectors[start + i].tolist(),
                     **{key: metadata[start + i].get(key, "") for key in self.fields}}
                    for i in range(min(self.batch, len(vectors) - start))]
            self.client.insert(COLLECTION, rows)

    def _after_insert(self) -> None:
        self.client.flush(COLLECTION)
        self._build_index()

    def _build_index(self) -> None:
        self.client.release_collection(COLLECTION)
        for name in self.client.list_indexes(COLLECTION, field_name="vector"):
            self.client.drop_index(COLLECTION, name)
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type=self.index_type, metric_type=_METRIC[self.similarity],
                         params=_BUILD.get(self.index_type, {}))
        self.client.create_index(COLLECTION, params, sync=True)
        self.client.load_collection(COLLECTION)

    def _expr(self, filter: Filter | None) -> str:
        if not filter:
            return ""
        clauses = [f'{key} == "{_quote(value)}"' for key, value in filter.tags.items()]
        # infix LIKE on the search_text form: an exact whole-word match (Milvus 2.3 servers accept prefix LIKE only)
        clauses += [f'{TEXT_FIELD} like "{like_word(word)}"' for word in filter.words]
        return " and ".join(clauses)

    def search(self, queries, k, filter: Filter | None = None):
        queries = prepare(queries, self.similarity)
        if not self.created:
            return pack_results([[] for _ in queries], k)
        params = {"metric_type": _METRIC[self.similarity], "params": {"ef": max(self.ef, k), "nprobe": 16}}
        expr = self._expr(filter)
        hits = []
        for start in range(0, len(queries), 100):
            found = self.client.search(COLLECTION, data=queries[start : start + 100].tolist(), limit=k, filter=expr,
                                       search_params=params, output_fields=[], anns_field="vector")
            for per_query in found:
                ids = [int(h.get("row", h.get("id"))) for h in per_query]
                scores = distance_to_score(np.array([h["distance"] for h in per_query]), self.similarity,
                                           _RETURNS[self.similarity])
                hits.append(list(zip(ids, scores.tolist())))
        return pack_results(hits, k)

    def describe(self) -> dict:
        used = "none"
        if self.created:
            names = self.client.list_indexes(COLLECTION, field_name="vector")
            if names:
                info = self.client.describe_index(COLLECTION, names[0])
                used = str(info.get("index_type", "?"))
                params = {key: info[key] for key in ("M", "efConstruction", "nlist") if key in info}
                if params:
                    used += " " + ", ".join(f"{key}={value}" for key, value in params.items())
        return {"backend": "milvus-lite" if self.lite else f"milvus {self.uri}", "index_requested": self.index_type,
                "index_used": used, "rows": self.count, "server_version": _version(self.client)}

    def close(self) -> None:
        if self.client is not None:
            if not self.lite and self.created:
                self.client.drop_collection(COLLECTION)
            self.client.close()
            self.client = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _version(client) -> str:
    try:
        return str(client.get_server_version())
    except Exception:  # milvus-lite has no version endpoint in some releases
        return ""


@register("milvus-lite")
def build_lite(spec, similarity: str) -> MilvusIndex:
    return MilvusIndex(similarity=similarity, index_type=spec.target or "HNSW")


@register("milvus")
def build_server(spec, similarity: str) -> MilvusIndex:
    """`milvus[:INDEX]?host=HOST&port=PORT`; the address is required so nothing is ever sent anywhere by default."""
    from embedscope.specs import SpecError

    host, port = spec.options.get("host"), spec.options.get("port")
    if not host or not str(port or "").isdigit():
        raise SpecError(str(spec), str(spec), "a Milvus server needs its address, e.g. "
                        "milvus:HNSW?host=127.0.0.1&port=19530 (or milvus-lite for a local file)", "index spec")
    return MilvusIndex(similarity=similarity, uri=f"http://{host}:{port}", index_type=spec.target or "HNSW")
