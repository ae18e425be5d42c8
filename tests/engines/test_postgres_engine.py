"""The test PostgreSQL (tests/engines/postgres.py) is real and does what the store will need:
pgvector with an HNSW index, a hot standby that answers after catching up and refuses
writes, servers that stop, crash and start again without losing committed rows."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engines.postgres import PostgresCluster, PostgresServer, server_version

pytestmark = pytest.mark.slow

DIM = 384
ROWS = 300


def unit_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def literal(vector: np.ndarray) -> str:
    """pgvector's text form, ``[x,y,…]``."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def test_binaries_are_postgresql_18_with_pgvector(pg_primary: PostgresServer) -> None:
    assert "PostgreSQL) 18." in server_version()
    with pg_primary.connect() as conn:
        row = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    assert row is not None, "pgvector is not installed in the server"
    assert tuple(int(p) for p in row[0].split(".")[:2]) >= (0, 8)


def test_hnsw_nearest_neighbours_on_the_standby(
    pg_cluster: PostgresCluster, pg_primary: PostgresServer, pg_standby: PostgresServer
) -> None:
    vectors = unit_vectors(ROWS, seed=1)
    with pg_primary.connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE TABLE hnsw_passages (id int PRIMARY KEY, embedding vector({DIM}))")
        with conn.cursor().copy("COPY hnsw_passages (id, embedding) FROM STDIN") as copy:
            for i, vector in enumerate(vectors):
                copy.write_row((i, literal(vector)))
        conn.execute(
            "CREATE INDEX hnsw_passages_embedding ON hnsw_passages "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        conn.execute("ANALYZE hnsw_passages")
    pg_cluster.wait_for_replay()

    queries = unit_vectors(5, seed=2)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    with pg_standby.connect() as conn:
        conn.execute("SET hnsw.ef_search = 100")
        # a few hundred rows are cheaper to scan: make the planner show it can use the index
        conn.execute("SET enable_seqscan = off")
        plan = [str(r[0])[:80] for r in conn.execute(
            "EXPLAIN SELECT id FROM hnsw_passages ORDER BY embedding <=> %s::vector LIMIT 10",
            (literal(queries[0]),),
        ).fetchall()]
        assert any("Index Scan using hnsw_passages_embedding" in line for line in plan), plan
        found = [
            [r[0] for r in conn.execute(
                "SELECT id FROM hnsw_passages ORDER BY embedding <=> %s::vector LIMIT 10",
                (literal(q),),
            ).fetchall()]
            for q in queries
        ]
        row = conn.execute(
            "SELECT 1 - (embedding <=> %s::vector) FROM hnsw_passages WHERE id = %s",
            (literal(queries[0]), int(exact[0][0])),
        ).fetchone()
        # what the store relies on (docs/SCALE-OUT.md): an HNSW scan yields at most
        # ef_search rows, unless it is iterative
        wide = "SELECT count(*) FROM (SELECT id FROM hnsw_passages " \
               "ORDER BY embedding <=> %s::vector LIMIT 150) s"
        conn.execute("SET hnsw.ef_search = 40")
        assert conn.execute(wide, (literal(queries[0]),)).fetchone() == (40,)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        assert conn.execute(wide, (literal(queries[0]),)).fetchone() == (150,)
    assert row is not None
    assert row[0] == pytest.approx(float(queries[0] @ vectors[exact[0][0]]), abs=1e-5)
    assert [f[0] for f in found] == exact[:, 0].tolist()  # the nearest is found for every query
    recall = np.mean([len(set(f) & set(e.tolist())) / 10
                      for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.9


def test_the_standby_refuses_writes(pg_standby: PostgresServer) -> None:
    import psycopg

    with pg_standby.connect() as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE refused (id int)")


def test_committed_rows_survive_a_crash_and_reach_a_restarted_standby(
    pg_cluster: PostgresCluster, pg_primary: PostgresServer, pg_standby: PostgresServer
) -> None:
    from psycopg import sql

    table = sql.Identifier("survivors")
    with pg_primary.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(table))
    pg_standby.stop()
    assert not pg_standby.is_running()
    with pg_primary.connect() as conn:
        conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 1000)").format(table))
    pg_primary.kill()
    assert not pg_primary.is_running()
    pg_primary.start()
    pg_standby.start()
    pg_cluster.wait_for_replay()
    for server in (pg_primary, pg_standby):
        with server.connect() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        assert row == (1000,), server.name
