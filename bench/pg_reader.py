"""Questions over the PostgreSQL store's reader against the files store (issue 20).

Generates a corpus of ``--passages`` synthetic German passages (documents of 5), embeds
it with the tests' TermedBag (hashed words, with latent terms: no model, so the figures
are the store's and retrieval's, not the model's), writes it as a files version (FAISS
graphs from 5,000 passages, as natoqa builds them) and into a real PostgreSQL primary
(tests/engines/postgres.py), opens it on the hot standby and asks both the same
questions, one at a time:

- write: the files version; the PostgreSQL commit (COPY, HNSW inserts, the check);
- open: ``PostgresVersion`` on the standby plus the Retriever (postings, columns, sample);
- per question: ``Retriever.search`` wall time, p50/p95 (after 5 untimed ones), and how
  often the top hit and the top 5 agree with the files store's.

    .venv/bin/python bench/pg_reader.py --passages 5000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.engines.postgres import start_cluster  # noqa: E402
from tests.fakes import TermedBag  # noqa: E402
from tests.index.test_postgres_reader import copy_into, files_version  # noqa: E402

from natoqa.index.postgres import PostgresStore  # noqa: E402
from natoqa.index.postgres_reader import (  # noqa: E402
    _NEAREST_PASSAGES,
    _NEAREST_UNITS,
    PostgresVersion,
)
from natoqa.retrieve.retriever import Retriever  # noqa: E402

STEMS = ["Abschreckung", "Ostflanke", "Rüstung", "Cyberabwehr", "Bündnisfall", "Haushalt",
         "Brigade", "Litauen", "Gipfel", "Drohnen", "Munition", "Luftverteidigung", "Marine",
         "Satelliten", "Reserve", "Kommando", "Panzer", "Fregatte", "Übung", "Strategie",
         "Partner", "Ukraine", "Energie", "Logistik", "Ausbildung", "Manöver", "Truppen",
         "Grenze", "Sicherheit", "Verteidigung"]


def corpus(passages: int, seed: int = 11) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    words = [f"{w}{s}" for w in STEMS for s in ("", "n", "s", "planung", "konzept")]
    docs: dict[str, list[tuple[str, str]]] = {}
    for d in range(passages // 5):
        docs[f"doc{d:06d}.txt"] = [
            (" ".join(" ".join(rng.sample(words, 7)).capitalize() + f" im Jahr "
                      f"{rng.randint(1990, 2030)}." for _ in range(rng.randint(3, 5))), "body")
            for _ in range(5)]
    return docs


def percentiles(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(times, 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(times, 95)) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out: dict[str, Any] = {"passages": args.passages, "embedder": "TermedBag (tests/fakes.py)"}
    docs = corpus(args.passages)
    rng = random.Random(5)
    questions = [" ".join(rng.sample(STEMS, 3)) + "?" for _ in range(args.questions)]
    with tempfile.TemporaryDirectory() as tmp, start_cluster() as cluster:
        t = time.perf_counter()
        files = files_version(Path(tmp) / "files", docs)
        out["files_write_s"] = round(time.perf_counter() - t, 2)
        store = PostgresStore(cluster.primary.dsn, schema="bench")
        t = time.perf_counter()
        copy_into(store, files)
        out["pg_commit_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        cluster.wait_for_replay(timeout=300)
        out["standby_replay_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        version = PostgresVersion(PostgresStore(cluster.standby.dsn, schema="bench"))
        by_pg = Retriever(version, TermedBag())
        out["pg_open_s"] = round(time.perf_counter() - t, 2)
        by_files = Retriever(files, TermedBag())
        out["files_approximate"] = by_files.corpus.approximate
        timings: dict[str, list[float]] = {"files": [], "pg": []}
        top1 = top5 = 0
        for n, question in enumerate(questions):
            found = {}
            for name, retriever in (("files", by_files), ("pg", by_pg)):
                t = time.perf_counter()
                found[name] = retriever.search(question, k=5)
                if n >= 5:
                    timings[name].append(time.perf_counter() - t)
            ids = {k: [h.passage.passage_id for h in r.hits] for k, r in found.items()}
            top1 += ids["files"][:1] == ids["pg"][:1]
            top5 += len(set(ids["files"]) & set(ids["pg"]))
        out["search"] = {k: percentiles(v) for k, v in timings.items()}
        query = TermedBag().embed_batch([questions[0]], kind="query")[0]
        with version._session("explain") as conn, conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', '200', true), "
                         "set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            for name, sql in (("passages", _NEAREST_PASSAGES), ("units", _NEAREST_UNITS)):
                plan = "\n".join(str(r[0]) for r in conn.execute(
                    "EXPLAIN (ANALYZE) " + sql, {"v": version.number, "q": query, "w": 200}))
                out[f"plan_{name}_uses_hnsw"] = f"{name}_embedding" in plan
                out[f"plan_{name}"] = plan.splitlines()
        out["top1_agree"] = round(top1 / len(questions), 3)
        out["top5_overlap"] = round(top5 / (5 * len(questions)), 3)
        out["pg_bytes"] = cluster.primary.disk_bytes()
        version.close()
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
