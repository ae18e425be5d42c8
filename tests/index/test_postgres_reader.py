"""Questions answered from a version in PostgreSQL (natoqa.index.postgres_reader) rank as
the same version in files does: the same hits, scores and evidence, on the hot standby,
and a reader opened after a commit answers from the new version.

The versions are written with the test fakes (TermedBag: vectors, units, latent terms)
into both stores: files by :class:`IndexStore`, PostgreSQL by the writer, from the files
version's own arrays (what a builder for PostgreSQL will write)."""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from natoqa.config import RetrievalSettings
from natoqa.errors import IndexIncompatible
from natoqa.index import artifacts
from natoqa.index import units as sentence_units
from natoqa.index.store import DocumentRecord, IndexStore, IndexVersion, Manifest, new_version_name
from natoqa.index.units import UnitSpan
from natoqa.models import DocumentMeta, Passage
from natoqa.retrieve.retriever import RetrievalResult, Retriever
from tests.engines.postgres import PostgresCluster, PostgresServer
from tests.fakes import TermedBag

if TYPE_CHECKING:
    from natoqa.index.postgres import NewDocument, PostgresStore
    from natoqa.index.postgres_cohorts import Cohort
    from natoqa.index.postgres_reader import PostgresVersion

pytestmark = pytest.mark.slow

DOCUMENTS: dict[str, list[tuple[str, str]]] = {
    "a.txt": [
        ("Das New Force Model sieht insgesamt 800 000 Soldaten vor. Die erste Stufe ist "
         "schnell einsatzbereit.", "body"),
        ("Die Allianz unterstützt die Ukraine mit Treibstoff. Waffen liefert sie nicht selbst "
         "an die Front.", "body"),
        ("Speech by the Secretary General on defence spending, www.nato.int.", "footnote"),
    ],
    "b.txt": [
        ("Der Generalsekretär Rutte will höhere Verteidigungsausgaben. Er nennt drei Prozent "
         "als neues Ziel.", "body"),
        ("Die Brigade in Litauen wächst bis 2027 auf 5000 Soldaten. Sie steht an der "
         "Ostflanke des Bündnisses.", "body"),
    ],
    "c.txt": [
        ("Drohnen und Munition fehlen der Luftverteidigung. Die Marine bekommt neue "
         "Fregatten und Satelliten.", "body"),
        ("Smith, J. (2024) Burden sharing in the alliance. London: Press.", "backmatter"),
    ],
}
WORDS = ["Abschreckung", "Ostflanke", "Rüstung", "Cyberabwehr", "Bündnisfall", "Haushalt",
         "Brigade", "Litauen", "Gipfel", "Drohnen", "Munition", "Luftverteidigung", "Marine"]
EDITED = ("Die Brigade in Litauen wächst bis 2027 auf 5000 Soldaten. Ihr Kommando sitzt in "
          "Vilnius und übt mit Panzern.", "body")
QUESTIONS = [
    ("Wie viele Soldaten sieht das New Force Model vor?", ()),
    ("Liefert die Allianz Waffen oder Treibstoff an die Ukraine?", ()),
    ("Und wie viel davon?", ("Was sagt Rutte zu Verteidigungsausgaben?",)),
    ("What does Smith write about burden sharing?", ()),
    ("Was fehlt der Luftverteidigung?", ()),
    ("Wer gewann die Fußball-Weltmeisterschaft 2014?", ()),
]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def files_version(root: Path, documents: dict[str, list[tuple[str, str]]]) -> IndexVersion:
    """A files version of the documents (one segment; rows document by document)."""
    embedder = TermedBag()
    passages = [Passage(passage_id=f"{doc}-{i}-{_digest(text)}", doc_id=doc,
                        ordinal=i, text=text, kind=kind,  # type: ignore[arg-type]
                        footnote=1 if kind == "footnote" else None)
                for doc, texts in documents.items() for i, (text, kind) in enumerate(texts)]
    vectors = embedder.embed_batch([p.text for p in passages], kind="passage")
    extras = sentence_units.build(passages, embedder)
    extras |= artifacts.build(passages, extras, vectors)
    records = [DocumentRecord(doc, DocumentMeta(title=f"Titel {doc}", authors=("J. Smith",)),
                              _digest(repr(texts)), len(texts))
               for doc, texts in documents.items()]
    manifest = Manifest(version=new_version_name(), model_id=embedder.model_id, dim=embedder.dim,
                        passage_count=len(passages),
                        documents={r.doc_id: r.content_hash for r in records},
                        passage_settings={}, created="now", corpus_language="de")
    store = IndexStore(root)
    store.write(passages=passages, vectors=vectors, manifest=manifest, extras=extras,
                documents=records)
    return store.load(manifest.version)


def new_documents(index: IndexVersion, doc_ids: Sequence[str]) -> list[NewDocument]:
    """The documents ``doc_ids`` of a files version as the PostgreSQL writer takes them."""
    from natoqa.index.postgres import NewDocument

    [segment] = index.segments
    extras = segment.extras
    unit_rows = np.asarray(extras[sentence_units.ROWS_FILE])
    spans = np.asarray(extras[sentence_units.SPANS_FILE])
    postings = artifacts.lexicons(index)[0][0].per_row()
    out = []
    for doc in doc_ids:
        rows = [i for i, p in enumerate(index.passages) if p.doc_id == doc]
        units = [np.flatnonzero(unit_rows == row) for row in rows]
        flat = np.concatenate(units).astype(np.int64)
        out.append(NewDocument(
            index.documents[doc], [index.passages[i] for i in rows],
            np.asarray(segment.vectors[rows]),
            [[UnitSpan(*map(int, spans[j])) for j in unit] for unit in units],
            np.asarray(extras[sentence_units.VECTORS_FILE][flat]),
            postings=[postings[i] for i in rows],
            unit_term_ids=np.asarray(extras[sentence_units.TERM_IDS_FILE][flat]),
            unit_term_weights=np.asarray(extras[sentence_units.TERM_WEIGHTS_FILE][flat])))
    return out


def copy_into(store: PostgresStore, index: IndexVersion, changed: Sequence[str] | None = None,
              ) -> str:
    """Commit the files version into the store: the documents ``changed`` (default: all)
    written, the others kept from the current version."""
    manifest = Manifest.from_json(index.manifest.to_json())
    changed = list(index.documents) if changed is None else list(changed)
    with store.build_lock() as locked, locked.writer(manifest) as writer:
        writer.keep(d for d in index.documents if d not in changed)
        writer.add(new_documents(index, changed))
        return writer.commit()


def assert_same(got: RetrievalResult, want: RetrievalResult) -> None:
    assert [h.passage for h in got.hits] == [h.passage for h in want.hits]
    for a, b in zip(got.hits, want.hits, strict=True):
        assert (a.score, a.dense, a.lexical) == pytest.approx((b.score, b.dense, b.lexical),
                                                              abs=1e-5)
        assert a.low_confidence == b.low_confidence
    assert got.no_answer == want.no_answer
    assert got.confidence == pytest.approx(want.confidence, abs=1e-5)
    assert got.evidence == pytest.approx(want.evidence, abs=1e-5)
    assert got.unit_scores.keys() == want.unit_scores.keys()
    for key, units in want.unit_scores.items():
        assert [u[:2] for u in got.unit_scores[key]] == [u[:2] for u in units]
        assert [u[2] for u in got.unit_scores[key]] == pytest.approx([u[2] for u in units],
                                                                     abs=1e-5)


def test_questions_rank_alike_from_files_and_from_the_standby(
    tmp_path: Path, pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore
) -> None:
    from natoqa.index.postgres_reader import PostgresVersion

    files = files_version(tmp_path / "files", DOCUMENTS)
    name = copy_into(store, files)
    pg_cluster.wait_for_replay()
    version = PostgresVersion(replica)
    assert (version.version, len(version), version.unit_count) == (
        name, len(files), len(files.extras[sentence_units.ROWS_FILE]))
    assert version.stored_terms and list(version.passages) == list(files.passages)
    assert version.names() == artifacts.passage_names(files)
    assert version.documents == files.documents

    by_files = Retriever(files, TermedBag())
    for settings in (RetrievalSettings(), RetrievalSettings(exact=True)):
        by_pg = Retriever(version, TermedBag(), settings)
        assert by_pg.lexical.known_terms == by_files.lexical.known_terms
        for question, history in QUESTIONS:
            assert_same(by_pg.search(question, history, k=4),
                        by_files.search(question, history, k=4))
    version.close()


def test_nearest_asks_hnsw_for_as_many_rows_as_the_width(
    tmp_path: Path, store: PostgresStore
) -> None:
    """pgvector returns at most ``hnsw.ef_search`` rows of an HNSW scan (40 by default):
    the reader sets it to the width, so 60 passages give 60 candidates."""
    from natoqa.index.postgres_reader import PostgresVersion

    rng = random.Random(3)
    generated = {f"g{d:02d}.txt": [(" ".join(rng.sample(WORDS, 6)) + f" im Jahr {1990 + i}.",
                                    "body") for i in range(3)] for d in range(20)}
    files = files_version(tmp_path / "files", generated)
    copy_into(store, files)
    version = PostgresVersion(store)
    with version._session("test") as conn:
        conn.execute("SET enable_seqscan = off")  # the HNSW index, not an exact scan
    query = TermedBag().embed_batch(["Brigade in Litauen und Drohnen"], kind="query")
    found = version.nearest(query, 60, 1, units=False)
    assert sorted(found.tolist()) == list(range(60))  # all of them: not capped at 40
    exact = np.asarray(files.segments[0].vectors) @ query[0]
    best = version.nearest(query, 3, 1, units=False)
    assert np.sort(exact[best]) == pytest.approx(np.sort(exact)[-3:])  # the best 3 (ties)
    # both graphs in one round trip, each with its own ef_search: what each gives alone
    units = version.nearest(query, 60, 1, units=True, unit_ef=80)
    both = version.nearest(query, 60, 1, unit_ef=80)
    assert sorted(both.tolist()) == sorted(found.tolist() + units.tolist())
    version.close()


def test_a_reader_opened_after_a_commit_answers_from_the_new_version(
    tmp_path: Path, pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore
) -> None:
    from natoqa.index.postgres_reader import PostgresVersion

    first = files_version(tmp_path / "v1", DOCUMENTS)
    copy_into(store, first)
    pg_cluster.wait_for_replay()
    old = PostgresVersion(replica)

    edited = dict(DOCUMENTS)
    edited["b.txt"] = [DOCUMENTS["b.txt"][0], EDITED]
    second = files_version(tmp_path / "v2", edited)
    name = copy_into(store, second, changed=["b.txt"])
    pg_cluster.wait_for_replay()
    new = PostgresVersion(replica)
    assert (old.version, new.version) == (first.version, name)
    assert replica.current() == name

    question = "Wo sitzt das Kommando der Brigade und womit übt sie?"
    got = Retriever(new, TermedBag()).search(question, k=3)
    assert_same(got, Retriever(second, TermedBag()).search(question, k=3))
    assert "Vilnius" in got.hits[0].passage.text
    # the reader opened before the commit still answers from its own version
    before = Retriever(old, TermedBag()).search(question, k=3)
    assert_same(before, Retriever(first, TermedBag()).search(question, k=3))
    assert all("Vilnius" not in h.passage.text for h in before.hits)


def test_a_version_opened_after_another_reads_only_the_documents_it_added(
    tmp_path: Path, pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server's next version takes over the rows its last one read (a cohort per build)
    and ranks as the same version from files: retired documents' words and names are not
    the version's. Documents pruned after the server saw them retired are taken off their
    cohort without reading it again; pruned before (a server that skipped the version
    that retired them), their cohort is read again."""
    from natoqa.index.postgres_reader import PostgresVersions

    copy_into(store, files_version(tmp_path / "v1", DOCUMENTS))
    pg_cluster.wait_for_replay()
    versions, skipping = PostgresVersions(replica), PostgresVersions(replica)
    read = record_reads(monkeypatch)
    old = versions.load()
    skipped = skipping.load()
    edited = {"a.txt": DOCUMENTS["a.txt"], "b.txt": [DOCUMENTS["b.txt"][0], EDITED]}
    second = files_version(tmp_path / "v2", edited)  # b edited, c deleted
    copy_into(store, second, changed=["b.txt"])
    pg_cluster.wait_for_replay()
    new = versions.load()
    assert cohorts(new)[0] is cohorts(old)[0]  # not read again
    assert len(new._parts) == 2 and len(new._parts[1][0].ids) == 2  # b's two passages
    assert_reads_as(new, second)

    third = files_version(tmp_path / "v3", {**edited, "d.txt": [EDITED]})
    copy_into(store, third, changed=["d.txt"])
    assert store.prune(keep=1)  # the first version's rows of b and c are gone, a's stay
    pg_cluster.wait_for_replay()
    read.clear()
    latest = versions.load()
    assert read == [3]  # d's: b's first rows and c are taken off the first cohort in memory
    first = cohorts(latest)[0]
    assert len(first.ids) == 3 and not first.retired  # 4 of its 7 rows pruned: compacted
    assert cohorts(latest)[1] is cohorts(new)[1]
    assert_reads_as(latest, third)
    read.clear()
    jumped = skipping.load()  # never saw b's first rows and c retired
    assert read == [1, 2, 3]
    assert_reads_as(jumped, third)
    for version in (old, new, latest, skipped, jumped):
        version.close()


def test_cohorts_of_many_builds_are_merged_and_pruned_rows_compacted(
    tmp_path: Path, pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One cohort per build would grow with every build a server sees: small adjacent ones
    are merged as they accumulate, a cohort mostly of pruned documents is compacted, and
    the version read so still ranks as the files version of the same documents."""
    from natoqa.index.postgres_cohorts import MERGE_FACTOR
    from natoqa.index.postgres_reader import PostgresVersions

    documents = dict(DOCUMENTS)
    copy_into(store, files_version(tmp_path / "v0", documents))
    pg_cluster.wait_for_replay()
    versions = PostgresVersions(replica)
    opened = [versions.load()]
    read = record_reads(monkeypatch)
    for i in range(2 * MERGE_FACTOR):  # one small document per build
        documents[f"e{i}.txt"] = [(f"{WORDS[i]} und {WORDS[i + 1]} im Bericht {i}: "
                                   f"{EDITED}", "body")]
        files = files_version(tmp_path / f"v{i + 1}", documents)
        copy_into(store, files, changed=[f"e{i}.txt"])
        pg_cluster.wait_for_replay()
        opened.append(versions.load())
        assert read[-1] == i + 2  # this build's alone
        assert len(cohorts(opened[-1])) <= 1 + MERGE_FACTOR  # never MERGE_FACTOR small ones
    latest = opened[-1]
    # the first build's, then the next builds' four and four merged (each of 4 rows)
    assert [c.numbers for c in cohorts(latest)] == [(1,), (2, 3, 4, 5), (6, 7, 8, 9)]
    assert cohorts(latest)[1] is cohorts(opened[-2])[1]  # merged once, then held
    assert_reads_as(latest, files)

    del documents["a.txt"], documents["c.txt"]  # 5 of the first cohort's 7 rows
    final = files_version(tmp_path / "final", documents)
    copy_into(store, final, changed=[])
    pg_cluster.wait_for_replay()
    opened.append(versions.load())  # a and c seen retired
    assert store.prune(keep=1)
    pg_cluster.wait_for_replay()
    read.clear()
    compacted = versions.load()  # the same version, a's and c's rows pruned since
    assert read == []  # taken off in memory
    assert len(cohorts(compacted)[0].ids) == 2  # b's two rows; a's and c's dropped
    assert_reads_as(compacted, final)
    for version in [*opened, compacted]:
        version.close()


def record_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The versions whose cohorts are read from the database from now on."""
    from natoqa.index import postgres_cohorts

    read: list[int] = []
    original = postgres_cohorts.read_cohort

    def recording(conn: Any, number: int, live: set[int] | None = None) -> Cohort:
        read.append(number)
        return original(conn, number, live)

    monkeypatch.setattr(postgres_cohorts, "read_cohort", recording)
    return read


def cohorts(version: PostgresVersion) -> list[Cohort]:
    return [cohort for cohort, _ in version._parts]


def assert_reads_as(version: PostgresVersion, files: IndexVersion) -> None:
    assert list(version.passages) == list(files.passages)
    assert version.documents == files.documents
    assert version.unit_count == len(files.extras[sentence_units.ROWS_FILE])
    assert version.names() == artifacts.passage_names(files)
    [(lexicon, _)] = artifacts.lexicons(files)
    assert sum((lex.word_counts for lex, _ in version.lexicons()), Counter()) == \
        lexicon.word_counts
    by_files, by_pg = Retriever(files, TermedBag()), Retriever(version, TermedBag())
    assert by_pg.lexical.known_terms == by_files.lexical.known_terms
    for question, history in QUESTIONS:
        assert_same(by_pg.search(question, history, k=4), by_files.search(question, history, k=4))


def test_a_store_of_schema_1_is_upgraded_by_a_build_and_read_without_postings(
    tmp_path: Path, store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A store an older natoqa made (schema 1: no postings) is refused by the reader until
    a build upgrades it; a version written without postings is read with its lexicon
    derived from its texts, and ranks as the files version."""
    from dataclasses import replace

    from natoqa.index import postgres_schema
    from natoqa.index.postgres_reader import PostgresVersion

    with store.connect() as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA {store.schema}")
        conn.execute(f"SET search_path TO {store.schema}, public")
        conn.execute(postgres_schema._SCHEMA_SQL.format(dim=TermedBag.dim, m=16, ef=64))
        conn.execute("INSERT INTO store_schema (version, dim) VALUES (1, %s)", (TermedBag.dim,))
    with pytest.raises(IndexIncompatible, match="store schema 1"):
        PostgresVersion(store)

    files = files_version(tmp_path / "files", DOCUMENTS)
    manifest = Manifest.from_json(files.manifest.to_json())
    with store.build_lock() as locked, locked.writer(manifest) as writer:
        writer.add(replace(d, postings=None) for d in new_documents(files, list(DOCUMENTS)))
        writer.commit()
    with store.connect() as conn:
        assert conn.execute("SELECT version FROM store_schema").fetchone() == (2,)
    with caplog.at_level(logging.WARNING):
        version = PostgresVersion(store)
        by_pg = Retriever(version, TermedBag())
    assert "no stored postings" in caplog.text
    by_files = Retriever(files, TermedBag())
    for question, history in QUESTIONS:
        assert_same(by_pg.search(question, history, k=4), by_files.search(question, history, k=4))
    version.close()


def test_a_lost_connection_is_replaced_and_a_server_that_is_gone_is_store_unreachable(
    tmp_path: Path, pg_primary: PostgresServer, store: PostgresStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from natoqa.errors import StoreUnreachable
    from natoqa.index.postgres_reader import PostgresVersion

    files = files_version(tmp_path / "files", DOCUMENTS)
    copy_into(store, files)
    version = PostgresVersion(store)
    retriever = Retriever(version, TermedBag())
    question = "Wie viele Soldaten sieht das New Force Model vor?"
    want = retriever.search(question, k=3)

    def kill_idle_connection() -> None:
        with version._session("test") as conn:
            pid = conn.info.backend_pid
        with pg_primary.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    # an idle connection the server dropped (a restart, a failover): the question is asked
    # again on a new one, and the caller sees nothing
    kill_idle_connection()
    assert_same(retriever.search(question, k=3), want)
    # the server gone for good: no new connection either
    kill_idle_connection()
    monkeypatch.setattr(store, "url", "postgresql://natoqa:password@127.0.0.1:1/natoqa")
    with pytest.raises(StoreUnreachable, match="cannot be reached") as caught:
        retriever.search(question, k=3)
    assert "password" not in str(caught.value)
    monkeypatch.undo()  # back: the next question reconnects
    assert_same(retriever.search(question, k=3), want)
    version.close()


def test_an_empty_version_abstains(
    tmp_path: Path, store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    from natoqa.index.postgres_reader import PostgresVersion

    files = files_version(tmp_path / "files", {})
    copy_into(store, files)
    with caplog.at_level(logging.WARNING):
        version = PostgresVersion(store)
        result = Retriever(version, TermedBag()).search("Wie viele Soldaten?")
    assert len(version) == 0 and result.no_answer and result.hits == []
    assert "no stored postings" not in caplog.text
    version.close()


def test_questions_asked_at_once_each_get_their_own_answer(
    tmp_path: Path, store: PostgresStore
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from natoqa.index.postgres_reader import PostgresVersion

    files = files_version(tmp_path / "files", DOCUMENTS)
    copy_into(store, files)
    version = PostgresVersion(store)
    by_pg, by_files = Retriever(version, TermedBag()), Retriever(files, TermedBag())
    asked = QUESTIONS * 4
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda q: by_pg.search(q[0], q[1], k=3), asked))
    for (question, history), got in zip(asked, answers, strict=True):
        assert_same(got, by_files.search(question, history, k=3))
    assert 1 <= len(version._idle) <= 4
    version.close()
