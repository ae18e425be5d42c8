"""bench/scale.py's figures for the PostgreSQL store, beside the files store's (issue 20).

For one size it takes the files index bench/scale.py built with **synthesised vectors**
(``--out``/index-SIZE-synthetic, its corpus ``--out``/corpus-SIZE; both copied into
``--work`` first, because the switches below edit and rebuild them), starts a real
PostgreSQL 18.6 + pgvector primary and hot standby (tests/engines/postgres.py; fsync on,
``shared_buffers`` 256 MB) and measures, for both stores in the same run:

- **load**: the files version's current segment(s) written into the primary by the store's
  writer (``new_documents`` → ``VersionWriter.add`` in groups of documents → one
  ``commit``): COPY into tables that have their HNSW indexes, so every row is a graph
  insert. Not an embedding build: the vectors are the files index's. Then the standby's
  replay, and disk (data folders after a CHECKPOINT, ``pg_database_size``, tables and
  indexes) and memory (PSS and RSS of each server's processes);
- **in-process retrieval**: ``Retriever(PostgresVersion(standby))`` and
  ``Retriever(IndexStore(files).load())`` with the real model for the question, the same
  dev-set questions alternating per question (p50/p95 of the call and of its
  ``search_ms``; the open time of each; how often their top hits agree);
- **HTTP**: one ``natoqa serve`` reading the standby (``NATOQA_STORE``) and one reading the
  files, ``POST /api/v1/ask`` one at a time alternating between them, p50/p95 and RSS;
- **switch**: ``--switches`` one-document edits (edited, restored, …) while two clients
  ask questions back to back: for PostgreSQL ``build_postgres`` on the primary with the
  same synthetic embedder as the files build (an incremental build: one document
  embedded), for files ``build_index``; the time from the build's return (its commit, and
  for PostgreSQL a prune of nothing) until the server's ``/readyz`` names the new version
  (each server checks every second), and the failed requests.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale_pg.py --size 10000 \\
        --json docs/bench-results/2026-12-06-pg-scale/scale-pg-10000.json
    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale_pg.py --size 100000 --load-only 900

``--load-only SECONDS`` only loads (from the source index, no copies), stops adding after
that long and rolls back: the insert rate as the graphs grow, for a size whose load does
not fit into a run.

Runs as root (the servers as ``nobody``) or as an ordinary user. See docs/SCALE-OUT.md §1b.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import scale  # noqa: E402
from serving import start_server  # noqa: E402
from tests.engines.postgres import PostgresServer, start_cluster  # noqa: E402

from service import Http, _rss, asking, percentiles  # noqa: E402

if TYPE_CHECKING:
    from natoqa.embed.base import Embedder
    from natoqa.index.postgres import PostgresStore

SCHEMA = "natoqa"
#: the servers' settings: production-like (fsync on), as bench/pg_basics.py
SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "2GB", "maintenance_work_mem": "1GB",
            "max_parallel_maintenance_workers": "1"}
#: passages per writer.add during the load (whole documents; the builder's segment size)
LOAD_GROUP = 2_000
SERVER_ENV = {"NATOQA_RATE_LIMIT": "off", "NATOQA_CACHE_SIZE": "0",
              "NATOQA_RELOAD_INTERVAL": str(scale.RELOAD_INTERVAL),
              "NATOQA_MAX_CONCURRENT": "64", "NATOQA_LOG_LEVEL": "warning"}
MIB = 1024 * 1024


def dev_questions() -> list[str]:
    """The distinct questions of eval/devset.jsonl and followups.jsonl, in file order."""
    seen: dict[str, None] = {}
    for path in scale.DEV_SETS:
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                seen.setdefault(json.loads(line)["question"].strip(), None)
    return list(seen)


def seed_index_of(index: Path) -> Path | None:
    """The real index whose vectors the synthetic build of ``index`` reused (the last
    argument of the build command kept beside it), so an edit is embedded alike."""
    figures = index.with_suffix(".build.json")
    if not figures.is_file():
        return None
    command = json.loads(figures.read_text())["command"]
    return Path(command[5]) if len(command) > 5 else None


# --- PostgreSQL --------------------------------------------------------------------------


def load_version(index: Path, store: PostgresStore, progress: Callable[[str], None],
                 limit_s: float | None = None) -> dict[str, Any]:
    """The files index's current version written into ``store`` as one version (one
    transaction), from its own arrays; the times of the adds and the commit. With
    ``limit_s``: no more adds after that many seconds, and no commit (rolled back): the
    insert rate as the graphs grow, for a size that would take too long to load."""
    from natoqa.index.postgres_build import new_documents
    from natoqa.index.store import IndexStore, Manifest

    version = IndexStore(index).load()
    manifest = Manifest.from_json(version.manifest.to_json())
    store.ensure_schema(manifest.dim)
    out: dict[str, Any] = {"adds_s": [], "groups": [], "passages": 0, "units": 0}
    started = time.perf_counter()
    with store.build_lock() as locked, locked.writer(manifest) as writer:
        for segment in version.segments:
            passages = list(segment.passages[0:len(segment.passages)])
            docs = new_documents(passages, segment.vectors, segment.extras, version.documents)
            # a document edited since lives on in a newer segment: not these rows
            docs = [d for d in docs if d.record.doc_id not in set(segment.entry.deleted)]
            group: list[Any] = []
            for i, doc in enumerate(docs):
                group.append(doc)
                if sum(len(d.passages) for d in group) < LOAD_GROUP and i < len(docs) - 1:
                    continue
                t = time.perf_counter()
                writer.add(group)
                took = time.perf_counter() - t
                units = sum(len(d.unit_vectors) for d in group if d.unit_vectors is not None)
                out["adds_s"].append(round(took, 2))
                out["passages"] += sum(len(d.passages) for d in group)
                out["units"] += units
                # units already in the graph when the group began, and the group's rate
                out["groups"].append({"units_before": out["units"] - units,
                                      "units_per_s": round(units / took, 1)})
                progress(f"  loaded {out['passages']:,} passages, {out['units']:,} units "
                         f"in {time.perf_counter() - started:.0f} s")
                group = []
                if limit_s is not None and time.perf_counter() - started > limit_s:
                    break
            if limit_s is not None and time.perf_counter() - started > limit_s:
                break
        out["add_s"] = round(sum(out["adds_s"]), 2)
        out["units_per_s"] = round(out["units"] / out["add_s"], 1)
        if limit_s is not None:
            out["complete"] = False  # left without a commit: rolled back
            return out
        t = time.perf_counter()
        out["name"] = writer.commit(build_seconds=time.perf_counter() - started)
        out["commit_s"] = round(time.perf_counter() - t, 2)
    out["load_s"] = round(time.perf_counter() - started, 2)
    return out


def sizes(server: PostgresServer) -> dict[str, Any]:
    """Database size, each table (with TOAST) and index of the schema, the data folder."""
    with server.connect() as conn:
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        relations = conn.execute(
            "SELECT c.relname, c.relkind, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid) "
            "ELSE pg_relation_size(c.oid) END FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i') "
            "ORDER BY 3 DESC", (SCHEMA,)).fetchall()
    assert database is not None
    return {"database_bytes": int(database[0]), "data_folder": server.disk_bytes(),
            "tables_bytes": {str(r[0]): int(r[2]) for r in relations if r[1] == "r"},
            "indexes_bytes": {str(r[0]): int(r[2]) for r in relations if r[1] == "i"}}


def memory(server: PostgresServer) -> dict[str, float]:
    m = server.memory()
    return {"processes": m["processes"], "pss_mib": round(m["pss_bytes"] / MIB),
            "rss_mib": round(m["rss_bytes"] / MIB)}


# --- questions ---------------------------------------------------------------------------


def in_process(files_index: Path, standby: PostgresStore, embedder: Embedder,
               questions: Sequence[str]) -> dict[str, Any]:
    """Both retrievers on the same questions, alternating per question (after 5 untimed)."""
    from natoqa.config import load_settings
    from natoqa.index.postgres_reader import PostgresVersion
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever

    settings = load_settings().retrieval
    out: dict[str, Any] = {}
    t = time.perf_counter()
    pg_version = PostgresVersion(standby)
    out["pg_open_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    by_pg = Retriever(pg_version, embedder, settings)
    out["pg_retriever_init_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    files_version = IndexStore(files_index).load(expect_dim=embedder.dim,
                                                  expect_model=embedder.model_id)
    out["files_open_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    by_files = Retriever(files_version, embedder, settings)
    out["files_retriever_init_s"] = round(time.perf_counter() - t, 2)
    retrievers = {"postgresql": by_pg, "files": by_files}
    for q in questions[-5:]:
        for r in retrievers.values():
            r.search(q)
    total: dict[str, list[float]] = {k: [] for k in retrievers}
    scoring: dict[str, list[float]] = {k: [] for k in retrievers}
    top1 = top5 = 0
    for n, q in enumerate(questions[:-5]):
        ids = {}
        order = list(retrievers.items())
        for name, retriever in order if n % 2 else order[::-1]:
            t = time.perf_counter()
            result = retriever.search(q)
            total[name].append((time.perf_counter() - t) * 1000)
            scoring[name].append(result.timings["search_ms"])
            ids[name] = [h.passage.passage_id for h in result.hits[:5]]
        top1 += ids["postgresql"][:1] == ids["files"][:1]
        top5 += len(set(ids["postgresql"]) & set(ids["files"]))
    asked = len(questions) - 5
    out.update({
        "questions": asked,
        "retrieval_ms": {k: percentiles(v) for k, v in total.items()},
        "scoring_ms": {k: percentiles(v) for k, v in scoring.items()},
        "top1_agree": round(top1 / asked, 3), "top5_overlap": round(top5 / (5 * asked), 3),
        "passages": len(pg_version), "units": pg_version.unit_count,
    })
    pg_version.close()
    return out


def over_http(urls: dict[str, str], questions: Sequence[str]) -> dict[str, Any]:
    """``POST /api/v1/ask`` one at a time, alternating between the servers."""
    clients = {k: Http(u) for k, u in urls.items()}
    for q in questions[-5:]:
        for c in clients.values():
            c.ask(q)
    times: dict[str, list[float]] = {k: [] for k in clients}
    for n, q in enumerate(questions[:-5]):
        order = list(clients.items())
        for name, client in order if n % 2 else order[::-1]:
            t = time.perf_counter()
            client.ask(q)
            times[name].append((time.perf_counter() - t) * 1000)
    for c in clients.values():
        c.close()
    return {k: percentiles(v) for k, v in times.items()}


def switches_under_load(url: str, rebuild: Callable[[int], dict[str, Any]],
                        questions: Sequence[str], switches: int) -> dict[str, Any]:
    """``switches`` rebuilds (``rebuild(i)`` returns the new version in ``version``) while two
    clients ask back to back: each switch's time from the rebuild's return until the server
    answers from the new version, and the requests that failed."""
    rounds = []
    with asking(url, questions) as tally:
        for i in range(switches):
            t = time.perf_counter()
            done = rebuild(i)
            build_s = time.perf_counter() - t
            t = time.perf_counter()
            seen = scale.wait_for_version(url, done["version"], timeout=600)
            rounds.append({**done, "build_s": round(build_s, 2),
                           "switch_s": round(time.perf_counter() - t, 2),
                           "switched": seen == done["version"]})
    return {"switches": switches, "rounds": rounds,
            "switch_s": [r["switch_s"] for r in rounds], **tally}


# --- the run -----------------------------------------------------------------------------


def run(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Measure, filling ``result`` as each phase ends (what a failed run measured is kept)."""
    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.index.builder import build_index, manifest_change, passage_settings
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_build import build_postgres
    from natoqa.index.store import IndexStore

    def say(text: str) -> None:
        print(text, flush=True)

    size = args.size
    source_corpus, source_index = args.out / f"corpus-{size}", args.out / f"index-{size}-synthetic"
    if not (source_index / "CURRENT").is_file():
        raise SystemExit(f"no {source_index}: run bench/scale.py --sizes {size} "
                         "--synthetic-vectors first")
    if args.load_only:
        result |= load_only(source_index, args.load_only)
        return
    corpus, index = args.work / f"corpus-{size}", args.work / f"index-{size}-synthetic"
    for src, dst in ((source_corpus, corpus), (source_index, index)):
        shutil.rmtree(dst, ignore_errors=True)
        # cp -a: the versions' files stay hard links of each other (copytree made the
        # 100,000-passage index of 5 versions 26 GB instead of 5.2)
        subprocess.run(["cp", "-a", "--", str(src), str(dst)], check=True)
    questions = dev_questions()
    n = args.questions
    if len(questions) < 2 * n + 5:
        raise SystemExit(f"only {len(questions)} dev-set questions for 2 x {n} + 5")
    settings = load_settings()
    embedder = load_embedder(settings)
    seed_index = args.seed_index or seed_index_of(source_index)
    say(f"synthetic embedder for edits: known vectors from {seed_index}")
    builder = scale.synthetic_embedder(embedder, seed_index, args.out)
    files_store = IndexStore(index)
    current = files_store.current()
    assert current is not None
    why = [r for r in manifest_change(files_store.manifest(), builder,
                                      passage_settings(60, 200, 0, True), "separate") if r]
    if why and args.switches:  # found now, not after an hour's load
        raise SystemExit(f"{source_index} would be rebuilt whole by an edit ({'; '.join(why)}):"
                         f" build it again with bench/scale.py, or run with --switches 0")
    result |= {
        "size": size, "vectors": scale.SYNTHETIC_NOTE, "source_index": str(source_index),
        "seed_index": str(seed_index),
        "files": {"version": current,
                  "version_bytes": scale.tree_bytes(files_store.versions_dir / current)},
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "model": {"backend": settings.backend, "torch_threads": settings.torch_threads},
    }
    say(f"== {size:,} passages; *** {scale.SYNTHETIC_NOTE} ***")
    with start_cluster(SETTINGS) as cluster:
        primary = PostgresStore(cluster.primary.dsn, schema=SCHEMA)
        standby = PostgresStore(cluster.standby.dsn, schema=SCHEMA)
        pg: dict[str, Any] = {"settings": SETTINGS}
        result["postgresql"] = pg
        say("loading the files version into the primary …")
        pg["load"] = load_version(index, primary, say)
        t = time.perf_counter()
        cluster.wait_for_replay(timeout=3600)
        pg["load"]["standby_replay_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        primary.verify()
        pg["verify_s"] = round(time.perf_counter() - t, 2)
        say(json.dumps(pg["load"]))
        for server in (cluster.primary, cluster.standby):
            with server.connect() as conn:
                conn.execute("CHECKPOINT")
        pg["disk_after_load"] = {s.name: sizes(s) for s in (cluster.primary, cluster.standby)}
        pg["memory_after_load"] = {s.name: memory(s) for s in (cluster.primary,
                                                                cluster.standby)}
        say(json.dumps({"disk": pg["disk_after_load"], "memory": pg["memory_after_load"]}))

        say("in-process retrieval …")
        result["in_process"] = in_process(index, standby, embedder, questions[:n + 5])
        say(json.dumps(result["in_process"]["retrieval_ms"]))

        say("servers …")
        servers: dict[str, Any] = {}
        procs = {}
        try:
            for name, env in (("postgresql", {"NATOQA_STORE": cluster.standby.dsn,
                                              "NATOQA_STORE_SCHEMA": SCHEMA}),
                              ("files", {})):
                t = time.perf_counter()
                proc, url = start_server(index, args.work / f"server-{name}.log",
                                         {**SERVER_ENV, **env}, ready="/readyz", timeout=1800)
                procs[name] = proc
                servers[name] = {"url": url, "spawn_to_ready_s": round(time.perf_counter() - t, 2),
                                 "rss_after_start_mib": round(_rss(proc.pid)[0])}
            result["http_ms"] = over_http({k: v["url"] for k, v in servers.items()},
                                          questions[n:2 * n + 5])
            for name, proc in procs.items():
                rss, peak = _rss(proc.pid)
                servers[name].update(rss_mib=round(rss), peak_rss_mib=round(peak))
            pg["memory_after_questions"] = {s.name: memory(s) for s in (cluster.primary,
                                                                         cluster.standby)}
            say(json.dumps(result["http_ms"]))

            if args.switches:
                path, old = scale.edit_document(corpus)
                edited = path.read_text(encoding="utf-8")
                path.write_text(old, encoding="utf-8")

                def edit(i: int) -> None:
                    path.write_text(old if i % 2 else edited, encoding="utf-8")

                def pg_rebuild(i: int) -> dict[str, Any]:
                    edit(i)
                    report = build_postgres(corpus, primary, builder)
                    done = time.perf_counter()
                    cluster.wait_for_replay(timeout=600)
                    return {"version": report.version, "build_report_s": report.seconds,
                            "passages_embedded": report.passages_embedded,
                            "replayed_after_s": round(time.perf_counter() - done, 3)}

                def files_rebuild(i: int) -> dict[str, Any]:
                    edit(i)
                    report = build_index(corpus, index, builder)
                    return {"version": report.version, "build_report_s": report.seconds,
                            "passages_embedded": report.passages_embedded}

                try:
                    say("switches, PostgreSQL …")
                    result["switches_postgresql"] = switches_under_load(
                        servers["postgresql"]["url"], pg_rebuild, questions, args.switches)
                    say(json.dumps(result["switches_postgresql"]["switch_s"]))
                    say("switches, files …")
                    result["switches_files"] = switches_under_load(
                        servers["files"]["url"], files_rebuild, questions, args.switches)
                    say(json.dumps(result["switches_files"]["switch_s"]))
                finally:
                    path.write_text(old, encoding="utf-8")
                for name, proc in procs.items():
                    rss, peak = _rss(proc.pid)
                    servers[name].update(rss_after_switches_mib=round(rss),
                                         peak_rss_mib=round(peak))
                pg["rows_after_switches"] = primary.table_rows()
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=60)
        result["servers"] = servers
        for server in (cluster.primary, cluster.standby):
            with server.connect() as conn:
                conn.execute("CHECKPOINT")
        pg["disk_at_end"] = {s.name: sizes(s) for s in (cluster.primary, cluster.standby)}
        pg["memory_at_end"] = {s.name: memory(s) for s in (cluster.primary, cluster.standby)}
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]


def load_only(index: Path, limit_s: float) -> dict[str, Any]:
    """Only the load, for ``limit_s`` seconds, rolled back: how the insert rate falls as the
    graphs grow, to extrapolate a size that does not fit into a run."""
    from natoqa.index.postgres import PostgresStore

    with start_cluster(SETTINGS) as cluster:
        store = PostgresStore(cluster.primary.dsn, schema=SCHEMA)
        load = load_version(index, store, lambda text: print(text, flush=True), limit_s)
    return {"source_index": str(index), "vectors": scale.SYNTHETIC_NOTE, "load_only": load,
            "settings": SETTINGS}


def table(r: dict[str, Any]) -> str:
    """The figures side by side (markdown)."""
    pg, ip, http = r["postgresql"], r["in_process"], r.get("http_ms", {})
    disk = pg["disk_after_load"]
    mem = pg.get("memory_after_questions", pg["memory_after_load"])

    def ms(d: dict[str, Any], key: str) -> str:
        return f"{d[key]['p50']:.0f} / {d[key]['p95']:.0f}" if key in d else "n/a"

    def mb(n: int) -> str:
        return f"{n / 1e6:,.0f}"

    def switch(key: str) -> str:
        s = r.get(key)
        if not s:
            return "n/a"
        times = ", ".join(f"{x:.1f}" for x in s["switch_s"])
        asked = s["requests_ok"] + s["requests_failed"]
        return f"{times} s; {s['requests_failed']} of {asked} failed"

    servers = r.get("servers", {})
    rows = [
        ("passages / units", f"{ip['passages']:,} / {ip['units']:,}", "same"),
        ("write the version", f"{pg['load']['load_s']:.0f} s (load, not an embedding build; "
         f"{pg['load']['units_per_s']:.0f} units/s)", "(built by scale.py)"),
        ("standby replayed the commit after", f"{pg['load']['standby_replay_s']:.2f} s", ""),
        ("open (version + Retriever)",
         f"{ip['pg_open_s'] + ip['pg_retriever_init_s']:.1f} s",
         f"{ip['files_open_s'] + ip['files_retriever_init_s']:.1f} s"),
        ("in-process retrieval p50 / p95 ms", ms(ip["retrieval_ms"], "postgresql"),
         ms(ip["retrieval_ms"], "files")),
        ("… of it scoring (search_ms) p50 / p95", ms(ip["scoring_ms"], "postgresql"),
         ms(ip["scoring_ms"], "files")),
        ("top hit agrees / top-5 overlap", f"{ip['top1_agree']:.2f} / {ip['top5_overlap']:.2f}",
         ""),
        ("HTTP /api/v1/ask p50 / p95 ms", ms(http, "postgresql"), ms(http, "files")),
        ("server RSS MiB (after questions)",
         str(servers.get("postgresql", {}).get("rss_mib", "n/a")),
         str(servers.get("files", {}).get("rss_mib", "n/a"))),
        ("server spawn to ready s",
         str(servers.get("postgresql", {}).get("spawn_to_ready_s", "n/a")),
         str(servers.get("files", {}).get("spawn_to_ready_s", "n/a"))),
        ("switch (one document) under load", switch("switches_postgresql"),
         switch("switches_files")),
        ("database MB (pg_database_size)", mb(disk["primary"]["database_bytes"]), ""),
        ("data folder MB primary / standby (WAL)",
         f"{mb(disk['primary']['data_folder']['total'])} "
         f"({mb(disk['primary']['data_folder']['wal'])}) / "
         f"{mb(disk['standby']['data_folder']['total'])} "
         f"({mb(disk['standby']['data_folder']['wal'])})",
         f"{mb(r['files']['version_bytes'])} (the version's folder)"),
        ("PostgreSQL PSS / RSS MiB primary; standby",
         f"{mem['primary']['pss_mib']} / {mem['primary']['rss_mib']}; "
         f"{mem['standby']['pss_mib']} / {mem['standby']['rss_mib']}", ""),
    ]
    lines = ["| | PostgreSQL (standby) | files (same run) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="Corpus size in passages.")
    parser.add_argument("--out", type=Path, default=Path("/tmp/natoqa-scale"),
                        help="bench/scale.py's folder: corpus-SIZE, index-SIZE-synthetic.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/natoqa-pgscale"),
                        help="Copies of the corpus and index (edited), server logs.")
    parser.add_argument("--seed-index", type=Path,
                        help="The real index the synthetic build reused (default: from "
                             "index-SIZE-synthetic.build.json).")
    parser.add_argument("--questions", type=int, default=50,
                        help="Questions in-process and over HTTP each (of the dev set).")
    parser.add_argument("--switches", type=int, default=scale.SWITCHES,
                        help="One-document switches under load per store (0: none).")
    parser.add_argument("--load-only", type=float, metavar="SECONDS",
                        help="Only load (no copies, questions or switches) for this long, "
                             "rolled back: the insert rate for a size too large to load.")
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out, args.work = args.out.resolve(), args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        run(args, result)
    except BaseException as exc:  # a run of an hour or more: keep what it measured
        result["incomplete"] = repr(exc)
        raise
    finally:
        result.update(command=" ".join([Path(sys.executable).name, *sys.argv]),
                      date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      run_s=round(time.perf_counter() - started), cpus=os.cpu_count())
        if args.json and len(result) > 4:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
            print(f"figures in {args.json}")
    print(f"\n*** {scale.SYNTHETIC_NOTE} ***")
    print(json.dumps(result["load_only"]) if args.load_only else table(result))


if __name__ == "__main__":
    main()
