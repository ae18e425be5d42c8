"""The development set and XQuAD answered from the PostgreSQL store score as from files
(issue 20: R@1/R@5 and abstention within 0.01). One corpus serves both question sets: the
bundled documents with XQuAD's 240 German paragraphs beside them (eval/assemble_xquad.py
--with-natoqa), built once into each store with the real model (the second build takes
its vectors from the first's embedding cache: the same vectors in both)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from natoqa.embed.base import Embedder
from natoqa.embed.cache import CachedEmbedder
from natoqa.evaluate.evaluation import load_questions, run, summarise
from natoqa.index.builder import build_index
from natoqa.index.store import IndexStore
from natoqa.retrieve.retriever import Retriever
from tests.conftest import ROOT, SHARED
from tests.engines.postgres import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

TOLERANCE = 0.01


def scores(report: dict[str, Any]) -> dict[str, float]:
    """R@1, R@5 and abstention of every group, and out-of-scope abstention."""
    report = json.loads(json.dumps(report))  # as `natoqa eval --json` prints it
    out = {"out_of_scope_abstained": float(report["out_of_scope_abstained"] or 0.0),
           "answerable_abstained": float(report["answerable_abstained"] or 0.0)}
    for group, values in report["groups"].items():
        out |= {f"{group} R@1": values["recall"]["1"], f"{group} R@5": values["recall"]["5"],
                f"{group} abstained": values["abstained"]}
    return out


@pytest.mark.skipif(not (SHARED / "benchmarks" / "xquad_de").is_dir(),
                    reason="no XQuAD benchmark in ../shared")
def test_devset_and_xquad_score_alike_from_postgresql_and_from_files(
    tmp_path: Path, embedder: Embedder, pg_standby: PostgresServer, pg_primary: PostgresServer,
) -> None:
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_build import build_postgres
    from natoqa.index.postgres_reader import PostgresVersion

    assemble = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "assemble_xquad.py"), "--out", str(tmp_path),
         "--with-natoqa"], capture_output=True, text=True, check=False)
    assert assemble.returncode == 0, assemble.stderr
    corpus, schema = tmp_path / "corpus", f"t_{uuid.uuid4().hex[:12]}"
    cached = CachedEmbedder(embedder, tmp_path / "vectors.sqlite")
    build_index(corpus, tmp_path / "index", cached)
    store = PostgresStore(pg_primary.dsn, schema=schema)
    try:
        report = build_postgres(corpus, store, cached)
        assert report.passages == len(IndexStore(tmp_path / "index").load())
        on_standby = PostgresStore(pg_standby.dsn, schema=schema)
        files = IndexStore(tmp_path / "index").load()
        version = PostgresVersion(on_standby, report.version)
        try:
            for questions in ([ROOT / "eval" / "devset.jsonl"],
                              [tmp_path / "questions.jsonl"]):
                qs = load_questions(questions)
                want = scores(summarise(run(Retriever(files, embedder), qs)).to_dict())
                got = scores(summarise(run(Retriever(version, embedder), qs)).to_dict())
                print(questions[0].name, {k: (round(want[k], 3), round(got[k], 3))
                                          for k in want})
                assert got.keys() == want.keys()
                for key in want:
                    assert got[key] == pytest.approx(want[key], abs=TOLERANCE), key
        finally:
            version.close()
    finally:
        cached.close()
        with pg_primary.connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
