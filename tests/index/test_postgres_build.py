"""Building versions of the PostgreSQL store from a corpus (natoqa.index.postgres_build),
with the real model on the real primary: what it writes is what a files build writes, an
edit writes only the changed documents, and a build that dies (killed, or its primary
killed under it) leaves the current version as it was."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from natoqa.embed.base import Embedder
from natoqa.index.store import IndexStore
from natoqa.retrieve.retriever import Retriever
from tests.conftest import CORPUS, BundledInPostgres
from tests.engines.postgres import PostgresServer
from tests.index.test_postgres_reader import assert_same

if TYPE_CHECKING:
    from natoqa.index.postgres import PostgresStore

pytestmark = pytest.mark.slow

QUESTIONS = ["Was erbt Rutte von Stoltenberg?", "Wie viele Soldaten sieht das New Force "
             "Model vor?", "What does NATO plan for the eastern flank?",
             "Wer gewann die Fußball-Weltmeisterschaft 2014?"]
ADDED = ("Die Allianz übt im Baltikum mit neuen Brigaden. Litauen stellt Kasernen, Deutschland "
         "schickt Panzer und Soldaten, und die Luftverteidigung wird mit Flugabwehrsystemen "
         "verstärkt. Der Bündnisfall gilt als unwahrscheinlich, doch Abschreckung braucht "
         "sichtbare Präsenz an der Ostflanke, sagen die Planer in Brüssel und Vilnius, die "
         "bis zum Gipfel im Sommer einen gemeinsamen Plan vorlegen wollen.\n")


def test_a_build_writes_what_a_files_build_writes_and_ranks_alike(
    pg_bundled: BundledInPostgres, pg_primary: PostgresServer, built_index: Path,
    embedder: Embedder,
) -> None:
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_reader import PostgresVersion

    store = PostgresStore(pg_primary.dsn, schema=pg_bundled.schema)
    files = IndexStore(built_index).load()
    rows = store.rows(pg_bundled.first)
    by_id = {p.passage_id: v for p, v in zip(rows.passages, rows.vectors, strict=True)}
    assert set(by_id) == {p.passage_id for p in files.passages}
    for i, passage in enumerate(files.passages):  # the same model on the same batches
        np.testing.assert_array_equal(by_id[passage.passage_id], files.vectors[i])
    version = PostgresVersion(store, pg_bundled.first)
    try:
        assert version.documents == files.documents
        for question in QUESTIONS:
            assert_same(Retriever(version, embedder).search(question, k=5),
                        Retriever(files, embedder).search(question, k=5))
    finally:
        version.close()


def _store(primary: PostgresServer, schema: str) -> PostgresStore:
    from natoqa.index.postgres import PostgresStore

    return PostgresStore(primary.dsn, schema=schema)


def _document_rows(primary: PostgresServer, schema: str) -> dict[str, list[int]]:
    with primary.connect() as conn:
        rows = conn.execute(f"SELECT doc_id, id FROM {schema}.documents ORDER BY id").fetchall()
    out: dict[str, list[int]] = {}
    for doc_id, row in rows:
        out.setdefault(doc_id, []).append(row)
    return out


def small_corpus(root: Path) -> Path:
    """Three short documents (one passage each: quick to embed)."""
    corpus = root / "corpus"
    corpus.mkdir()
    for name, place in (("baltikum", "Baltikum"), ("arktis", "Hohen Norden"),
                        ("balkan", "Westbalkan")):
        (corpus / f"{name}.txt").write_text(ADDED.replace("Baltikum", place), encoding="utf-8")
    return corpus


def test_an_edit_writes_only_what_changed_and_rollback_goes_back(
    tmp_path: Path, pg_primary: PostgresServer, store: PostgresStore, schema: str,
    embedder: Embedder,
) -> None:
    from natoqa.index.postgres_build import build_postgres

    corpus = small_corpus(tmp_path)
    first = build_postgres(corpus, store, embedder)
    assert first.switched and len(first.added) == 3 and first.passages_embedded == first.passages
    rows_before = _document_rows(pg_primary, schema)

    (corpus / "baltikum.txt").write_text(ADDED + "\nNachtrag: Estland ist auch dabei.\n",
                                         encoding="utf-8")
    (corpus / "neu.txt").write_text(ADDED.replace("Baltikum", "Nordmeer"), encoding="utf-8")
    second = build_postgres(corpus, store, embedder)
    assert second.changed == ["baltikum.txt"] and second.added == ["neu.txt"]
    assert second.previous_version == first.version and store.current() == second.version
    assert second.passages_embedded == 2  # the two short documents' one passage each
    rows_after = _document_rows(pg_primary, schema)
    for doc_id in first.added:  # the unchanged ones keep their rows: nothing rewritten
        if doc_id != "baltikum.txt":
            assert rows_after[doc_id] == rows_before[doc_id]
    assert len(rows_after["baltikum.txt"]) == 2  # the old state stays for rollback

    (corpus / "neu.txt").unlink()
    third = build_postgres(corpus, store, embedder)
    assert third.removed == ["neu.txt"] and third.passages_embedded == 0
    assert "neu.txt" not in store.documents()
    unchanged = build_postgres(corpus, store, embedder)
    assert not unchanged.switched and unchanged.version == third.version
    assert [v.name for v in store.versions()] == [first.version, second.version,
                                                  third.version]
    store.verify()

    assert store.rollback() == second.version  # the one before the current
    assert "neu.txt" in store.documents()
    assert store.rollback(first.version) == first.version
    assert store.documents()["baltikum.txt"].content_hash == \
        first_hash(corpus, ADDED, tmp_path)


def first_hash(corpus: Path, text: str, tmp_path: Path) -> str:
    """The content hash natoqa gives ``text`` as a corpus file (as the first build saw it)."""
    from natoqa.ingest.sources import scan_corpus

    other = tmp_path / "hash"
    other.mkdir()
    (other / "baltikum.txt").write_text(text, encoding="utf-8")
    return scan_corpus(other, None).documents[0].content_hash


def _build_process(corpus: Path, url: str, schema: str, index: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NATOQA_STORE": url,
           "NATOQA_STORE_SCHEMA": schema}
    return subprocess.Popen(
        [sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus), "--index", str(index)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_embedding(proc: subprocess.Popen[str]) -> list[str]:
    """The build's output up to its first embedding progress line."""
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if "embedded " in line and "sentences" in line:
            return lines
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("the build ended before embedding:\n" + "".join(lines))


def test_a_killed_build_leaves_nothing_and_frees_the_lock(
    tmp_path: Path, pg_primary: PostgresServer, store: PostgresStore, schema: str,
    embedder: Embedder,
) -> None:
    from natoqa.index.postgres_build import build_postgres

    corpus = small_corpus(tmp_path)
    first = build_postgres(corpus, store, embedder)
    tables = store.table_rows()
    (corpus / "neu.txt").write_text(ADDED.replace("Baltikum", "Nordmeer"), encoding="utf-8")
    shutil.copy(CORPUS / "002_7ab4b17f7a80dd35.txt", corpus / "lang.txt")  # long to embed
    proc = _build_process(corpus, pg_primary.dsn, schema, tmp_path / "index")
    _wait_for_embedding(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert store.current() == first.version and store.table_rows() == tables
    assert [v.name for v in store.versions()] == [first.version]
    # the lock went with the killed session, and what it embedded is resumed
    again = build_postgres(corpus, store, embedder,
                           cache_file=tmp_path / "index" / f".embeddings-{schema}.sqlite")
    assert again.switched and sorted(again.added) == ["lang.txt", "neu.txt"]
    assert again.texts_resumed > 0


def test_a_primary_killed_during_a_build_leaves_the_current_version(
    tmp_path: Path, pg_primary: PostgresServer, store: PostgresStore, schema: str,
    embedder: Embedder,
) -> None:
    from natoqa.index.postgres_build import build_postgres

    corpus = small_corpus(tmp_path)
    first = build_postgres(corpus, store, embedder)
    shutil.copy(CORPUS / "002_7ab4b17f7a80dd35.txt", corpus / "lang.txt")
    proc = _build_process(corpus, pg_primary.dsn, schema, tmp_path / "index")
    _wait_for_embedding(proc)
    pg_primary.kill()  # SIGKILL: no shutdown, the WAL replays at the next start
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert "cannot be reached" in out.splitlines()[-1] and "Traceback" not in out
    pg_primary.ensure_running()
    assert store.current() == first.version
    assert [v.name for v in store.versions()] == [first.version]
    store.verify()
    second = build_postgres(corpus, store, embedder)
    assert second.added == ["lang.txt"] and store.current() == second.version


def test_a_changed_document_keeps_the_vectors_of_its_unchanged_passages(
    tmp_path: Path, store: PostgresStore, embedder: Embedder,
) -> None:
    from natoqa.index.postgres_build import build_postgres

    corpus = small_corpus(tmp_path)
    shutil.copy(CORPUS / "002_7ab4b17f7a80dd35.txt", corpus / "lang.txt")
    first = build_postgres(corpus, store, embedder)
    before = store.rows()
    long = [p for p in before.passages if p.doc_id == "lang.txt"]
    assert len(long) > 2
    with (corpus / "lang.txt").open("a", encoding="utf-8") as f:
        f.write("\nNachtrag: Die Allianz tagt erneut in Brüssel.\n")
    second = build_postgres(corpus, store, embedder)
    assert second.changed == ["lang.txt"] and second.previous_version == first.version
    assert 1 <= second.passages_embedded < len(long)  # only what the edit touched
    after = store.rows()
    old = {p.text: v for p, v in zip(before.passages, before.vectors, strict=True)}
    kept = [(p, v) for p, v in zip(after.passages, after.vectors, strict=True)
            if p.doc_id == "lang.txt" and p.text in old]
    assert len(kept) == len(long) - second.passages_embedded
    for passage, vector in kept:
        np.testing.assert_array_equal(vector, old[passage.text])
