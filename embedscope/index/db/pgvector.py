"""PostgreSQL + pgvector: `--index pgvector` (starts a private PostgreSQL from the pgserver wheel on
127.0.0.1, stopped on close) or `--index pgvector:hnsw|ivfflat|flat`; `EMBEDSCOPE_PG_DSN` points at an
existing database instead.

Filters are SQL WHERE clauses. The planner may skip the vector index (small tables, selective filters):
`describe()` reports the plan PostgreSQL actually chose, from EXPLAIN."""

from __future__ import annotations

import os

import numpy as np

from embedscope.index.db.base import (
    TEXT_FIELD, DatabaseRows, Filter, check_similarity, distance_to_score, like_word, pack_results, prepare,
)
from embedscope.index.registry import register

_OPERATOR = {"cosine": "<=>", "dot": "<#>", "l2": "<->"}
_OPCLASS = {"cosine": "vector_cosine_ops", "dot": "vector_ip_ops", "l2": "vector_l2_ops"}
_RETURNS = {"cosine": "cosine_distance", "dot": "neg_ip", "l2": "l2"}  # <#> is the negated inner product
TABLE = "embedscope_docs"


class PgvectorIndex(DatabaseRows):
    def __init__(self, similarity: str = "cosine", index_type: str = "hnsw", dsn: str | None = None,
                 ef_search: int = 128):
        try:
            import psycopg
            from pgvector.psycopg import register_vector
        except ImportError as e:
            raise ValueError("--index pgvector needs: pip install 'psycopg[binary]' pgvector pgserver") from e
        self.similarity = check_similarity(similarity)
        self.index_type = (index_type or "hnsw").lower()
        if self.index_type not in ("hnsw", "ivfflat", "flat"):
            raise ValueError(f"pgvector index type must be hnsw, ivfflat or flat, not '{index_type}'")
        self.name = f"pgvector-{self.index_type}-{similarity}"
        self.ef_search = ef_search
        self.server = None
        dsn = dsn or os.environ.get("EMBEDSCOPE_PG_DSN")
        if not dsn:
            from embedscope.servers import start_postgres

            self.server = start_postgres()
            dsn = f"host={self.server.host} port={self.server.port} user=postgres dbname=postgres"
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(self.conn)
        self.count = 0
        self.fields: list[str] = []
        self.created = False
        self._plan = ""

    def _create(self, dim: int) -> None:
        columns = "".join(f", {key} text" for key in self.fields)
        self.conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        self.conn.execute(f"CREATE TABLE {TABLE} (row bigint PRIMARY KEY, embedding vector({dim}){columns})")

    def _insert(self, vectors, metadata, first_row: int) -> None:
        names = ", ".join(["row", "embedding", *self.fields])
        with self.conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({names}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector", *["text"] * len(self.fields)])
            for i, vector in enumerate(vectors):
                copy.write_row([first_row + i, vector, *(metadata[i].get(key, "") for key in self.fields)])

    def _after_insert(self) -> None:
        self.conn.execute(f"DROP INDEX IF EXISTS {TABLE}_embedding")
        if self.index_type == "hnsw":
            self.conn.execute(f"CREATE INDEX {TABLE}_embedding ON {TABLE} USING hnsw (embedding {_OPCLASS[self.similarity]}) "
                              "WITH (m = 16, ef_construction = 100)")
        elif self.index_type == "ivfflat":
            lists = max(1, int(np.sqrt(self.count)))
            self.conn.execute(f"CREATE INDEX {TABLE}_embedding ON {TABLE} USING ivfflat "
                              f"(embedding {_OPCLASS[self.similarity]}) WITH (lists = {lists})")
        self.conn.execute(f"ANALYZE {TABLE}")

    def _sql(self, k: int, filter: Filter | None) -> tuple[str, list]:
        where, params = [], []
        if filter:
            for key, value in filter.tags.items():
                where.append(f"{key} = %s")
                params.append(value)
            for word in filter.words:
                where.append(f"{TEXT_FIELD} LIKE %s")
                params.append(like_word(word))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = (f"SELECT row, embedding {_OPERATOR[self.similarity]} %s AS distance FROM {TABLE}{clause} "
               f"ORDER BY distance LIMIT {int(k)}")
        return sql, params

    def search(self, queries, k, filter: Filter | None = None):
        queries = prepare(queries, self.similarity)
        if not self.created:
            return pack_results([[] for _ in queries], k)
        sql, params = self._sql(k, filter)
        hits = []
        with self.conn.cursor() as cur:
            if self.index_type == "hnsw":
                cur.execute(f"SET hnsw.ef_search = {max(self.ef_search, int(k))}")
            elif self.index_type == "ivfflat":
                cur.execute("SET ivfflat.probes = 10")
            else:
                cur.execute("SET enable_indexscan = off")
            cur.execute("EXPLAIN " + sql, [queries[0], *params])
            self._plan = " ".join(row[0].strip() for row in cur.fetchall())
            for q in queries:
                cur.execute(sql, [q, *params])
                rows = cur.fetchall()
                scores = distance_to_score(np.array([r[1] for r in rows]), self.similarity, _RETURNS[self.similarity])
                hits.append([(int(r[0]), float(s)) for r, s in zip(rows, scores)])
        return pack_results(hits, k)

    def describe(self) -> dict:
        indexes = self.conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname = %s",
                                    [TABLE, f"{TABLE}_embedding"]).fetchall() if self.created else []
        plan = self._plan
        if "Index Scan" in plan and f"{TABLE}_embedding" in plan:
            used = f"{self.index_type.upper()} index scan"
        elif plan:
            used = "sequential scan (exact)" + (" although an index exists" if indexes else "")
        else:
            used = "not searched yet"
        version = self.conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        return {"backend": "pgvector", "index_requested": self.index_type.upper(), "index_used": used,
                "index_defined": indexes[0][0] if indexes else "", "rows": self.count,
                "server_version": f"pgvector {version[0] if version else '?'}"}

    def close(self) -> None:
        if self.conn is not None:
            if self.created:
                self.conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            self.conn.close()
            self.conn = None
        if self.server is not None:
            self.server.stop()
            self.server = None


@register("pgvector")
def build(spec, similarity: str) -> PgvectorIndex:
    return PgvectorIndex(similarity=similarity, index_type=spec.target or "hnsw")
