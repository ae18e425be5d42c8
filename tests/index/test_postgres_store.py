"""The PostgreSQL store's versions (natoqa.index.postgres) on a real primary and hot standby
(tests/engines/postgres.py): commits read back on the standby, edits that share rows,
rollback, prune, the build lock, and builds that die before their commit.

Each test has its own PostgreSQL schema in the session's cluster, so tests do not see
each other's versions."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pytest

from natoqa.errors import (
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    StoreUnreachable,
)
from natoqa.index.store import DocumentRecord, Manifest, new_version_name, utc_now
from natoqa.index.units import UnitSpan
from natoqa.models import DocumentMeta, Passage
from tests.engines.postgres import PostgresCluster, PostgresServer, free_port

if TYPE_CHECKING:
    from natoqa.index.postgres import NewDocument, PostgresStore

pytestmark = pytest.mark.slow

DIM = 384
UNITS_PER_PASSAGE = 3


def _vectors(n: int, seed: str) -> np.ndarray:
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def document(doc_id: str, edition: int = 1, passages: int = 3) -> NewDocument:
    """A document of ``passages`` passages with 3 sentence units each; ``edition`` changes
    its text (and so its content hash and vectors)."""
    from natoqa.index.postgres import NewDocument

    texts = [f"{doc_id} edition {edition}, passage {i}. Second sentence. Third one."
             for i in range(passages)]
    content = "\n\n".join(texts)
    record = DocumentRecord(doc_id, DocumentMeta(title=f"Title of {doc_id}", authors=("A. B.",)),
                            hashlib.sha256(content.encode()).hexdigest(), passages, "txt")
    parts = [Passage(passage_id=f"{doc_id}-{edition}-{i}", doc_id=doc_id, ordinal=i, text=t,
                     start=0, end=len(t), footnote_refs=(1,) if i == 0 else ())
             for i, t in enumerate(texts)]
    spans = [[UnitSpan(0, 10), UnitSpan(11, 20, 15, 16), UnitSpan(21, len(t))] for t in texts]
    return NewDocument(record, parts, _vectors(passages, f"{doc_id}/{edition}"), spans,
                       _vectors(passages * UNITS_PER_PASSAGE, f"{doc_id}/{edition}/units"))


def manifest_of(docs: Mapping[str, NewDocument]) -> Manifest:
    return Manifest(version=new_version_name(), model_id="test-model", dim=DIM,
                    passage_count=sum(len(d.passages) for d in docs.values()),
                    documents={k: d.record.content_hash for k, d in docs.items()},
                    passage_settings={"max_words": 200}, created=utc_now())


def build(store: PostgresStore, docs: Mapping[str, NewDocument], *, base: str | None = None,
          activate: bool = True) -> str:
    """What the builder will do: keep the documents whose hash the base version has, add
    the others, commit; the new version's name."""
    manifest = manifest_of(docs)
    before = store.documents(base) if store.exists() else {}
    with store.build_lock() as locked, locked.writer(manifest, base=base) as writer:
        same = [k for k, d in docs.items()
                if k in before and before[k].content_hash == d.record.content_hash]
        writer.keep(same)
        writer.add(d for k, d in docs.items() if k not in same)
        return writer.commit(activate=activate)


def test_a_commit_is_read_back_on_the_standby(
    pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore
) -> None:
    assert store.current() is None and store.versions() == []
    docs = {k: document(k) for k in ("a", "b", "c")}
    name = build(store, docs)
    pg_cluster.wait_for_replay()

    assert replica.current() == name
    [version] = replica.versions()
    assert (version.name, version.current, version.documents, version.passages,
            version.units, version.dim) == (name, True, 3, 9, 27, DIM)
    assert replica.verify().units == 27
    assert replica.manifest(name).documents == {k: d.record.content_hash
                                               for k, d in docs.items()}
    rows = replica.rows()
    assert rows.passages == [p for k in ("a", "b", "c") for p in docs[k].passages]
    np.testing.assert_array_equal(rows.vectors,
                                  np.concatenate([docs[k].vectors for k in ("a", "b", "c")]))
    assert rows.units == [UNITS_PER_PASSAGE] * 9
    assert replica.documents()["b"] == docs["b"].record
    # the standby's HNSW index finds a stored passage by its own vector
    with replica.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        found = conn.execute(
            "SELECT passage_id FROM passages ORDER BY embedding <=> %s LIMIT 1",
            (docs["b"].vectors[1],)).fetchone()
    assert found == ("b-1-1",)


def test_an_edit_adds_rows_only_for_the_changed_document(store: PostgresStore) -> None:
    docs = {k: document(k) for k in ("a", "b", "c")}
    first = build(store, docs)
    before = store.table_rows()
    assert before == {"versions": 1, "documents": 3, "passages": 9, "units": 27}

    edited = {**docs, "b": document("b", edition=2, passages=4)}
    second = build(store, edited)
    # one new document row, its 4 passages and 12 units; a and c are shared, b's old rows
    # stay for the first version
    assert store.table_rows() == {"versions": 2, "documents": 4, "passages": 13, "units": 39}
    assert store.current() == second
    assert [(v.name, v.documents, v.passages, v.units) for v in store.versions()] == [
        (first, 3, 9, 27), (second, 3, 10, 30)]
    assert store.documents(second)["b"].content_hash == edited["b"].record.content_hash
    assert store.documents(first)["b"].content_hash == docs["b"].record.content_hash
    assert [p.passage_id for p in store.rows(second).passages if p.doc_id == "b"] == [
        "b-2-0", "b-2-1", "b-2-2", "b-2-3"]
    store.verify(first)
    store.verify(second)

    # a removal adds no rows at all
    third = build(store, {k: edited[k] for k in ("a", "b")})
    assert store.table_rows() == {"versions": 3, "documents": 4, "passages": 13, "units": 39}
    assert sorted(store.documents(third)) == ["a", "b"]
    assert store.verify(third).passages == 7


def test_activate_an_older_version_and_build_after_the_rollback(
    pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore
) -> None:
    docs = {k: document(k) for k in ("a", "b", "c")}
    first = build(store, docs)
    newer = {"a": docs["a"], "b": document("b", edition=2), "d": document("d")}
    second = build(store, newer)

    store.activate(first)
    pg_cluster.wait_for_replay()
    assert replica.current() == first
    assert sorted(replica.documents()) == ["a", "b", "c"]
    assert [v.current for v in replica.versions()] == [True, False]
    with pytest.raises(IndexNotFound):
        store.activate("no-such-version")

    # a build from the rolled-back version: b (edition 1) and c live again as new rows,
    # d is retired; every version still reads as it was committed
    third = build(store, {**docs, "e": document("e")}, base=first)
    assert sorted(store.documents(third)) == ["a", "b", "c", "e"]
    assert store.documents(third)["b"].content_hash == docs["b"].record.content_hash
    for name in (first, second, third):
        store.verify(name)
    assert sorted(store.documents(second)) == ["a", "b", "d"]
    assert store.table_rows()["documents"] == 3 + 2 + 2 + 1  # a b c, b2 d, b c again, e


def test_prune_keeps_the_newest_and_the_current_version(store: PostgresStore) -> None:
    names = []
    for edition in (1, 2, 3, 4):
        names.append(build(store, {"a": document("a"), "b": document("b", edition)}))
    assert store.table_rows()["documents"] == 5  # a once, b four times

    assert store.prune(2) == names[:2]
    assert [v.name for v in store.versions()] == names[2:]
    assert store.table_rows() == {"versions": 2, "documents": 3, "passages": 9, "units": 27}
    for name in names[2:]:
        store.verify(name)

    store.activate(names[2])
    names.append(build(store, {"a": document("a"), "b": document("b", 5)}, activate=False))
    assert store.current() == names[2]
    # keep 1: the newest, and the current one, which is older
    assert store.prune(1) == [names[3]]
    assert [v.name for v in store.versions()] == [names[2], names[4]]
    assert store.table_rows()["documents"] == 3
    store.verify(names[2])
    store.verify(names[4])
    with pytest.raises(ValueError, match="at least one"):
        store.prune(0)


def test_a_second_build_is_refused_while_one_holds_the_lock(store: PostgresStore) -> None:
    build(store, {"a": document("a")})
    with store.build_lock():
        with pytest.raises(IndexLocked, match="another build is running"):
            build(store, {"a": document("a", 2)})
        with pytest.raises(IndexLocked, match=r"after waiting 0\.3s"), store.build_lock(0.3):
            pass
        with pytest.raises(IndexLocked):
            store.prune(1)
    # released: the next build runs, and one waiting for the lock gets it when it is free
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.build_lock():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        threading.Timer(0.5, release.set).start()
        name = build_waiting(store, {"a": document("a", 3)})
    finally:
        release.set()
        holder.join()
    assert store.current() == name


def build_waiting(store: PostgresStore, docs: Mapping[str, NewDocument]) -> str:
    manifest = manifest_of(docs)
    with store.build_lock(timeout=10) as locked, locked.writer(manifest) as writer:
        writer.add(docs.values())
        return writer.commit()


def test_a_build_whose_connection_dies_before_its_commit_leaves_nothing(
    pg_primary: PostgresServer, store: PostgresStore
) -> None:
    docs = {k: document(k) for k in ("a", "b")}
    first = build(store, docs)
    rows = store.table_rows()
    new = {"a": docs["a"], "b": document("b", 2), "c": document("c")}
    with (store.build_lock() as locked, pytest.raises(StoreUnreachable),
          locked.writer(manifest_of(new)) as writer):
        writer.keep(["a"])
        writer.add([new["b"], new["c"]])
        pid = locked.conn.info.backend_pid
        with pg_primary.connect() as other:  # what a killed build or a network cut does
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        writer.commit()
    assert store.current() == first
    assert [v.name for v in store.versions()] == [first]
    assert store.table_rows() == rows
    store.verify(first)
    # the dead session's lock went with it
    second = build(store, new)
    assert store.current() == second


#: a build that stops before its commit and waits to be killed
KILLED_BUILD = """
import sys, time
from natoqa.index.postgres import PostgresStore
from tests.index.test_postgres_store import document, manifest_of
store = PostgresStore(sys.argv[1], schema=sys.argv[2])
docs = {"a": document("a", 2), "z": document("z")}
with store.build_lock() as locked, locked.writer(manifest_of(docs)) as writer:
    writer.add(docs.values())
    print("written", flush=True)
    time.sleep(120)
    writer.commit()
"""


def test_a_build_process_killed_before_its_commit_leaves_nothing_and_no_lock(
    pg_primary: PostgresServer, store: PostgresStore, schema: str
) -> None:
    first = build(store, {"a": document("a")})
    rows = store.table_rows()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, pg_primary.dsn, schema],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
        with pytest.raises(IndexLocked):
            store.activate(first)
    finally:
        process.kill()
        process.wait()
    # the server ends the dead client's session: its transaction and its lock
    with store.build_lock(timeout=10):
        pass
    assert (store.current(), [v.name for v in store.versions()]) == (first, [first])
    assert store.table_rows() == rows


def test_a_primary_killed_during_a_build_keeps_the_committed_version(
    pg_cluster: PostgresCluster, store: PostgresStore, replica: PostgresStore
) -> None:
    first = build(store, {"a": document("a"), "b": document("b")})
    rows = store.table_rows()
    new = {"a": document("a"), "b": document("b", 2)}
    with (store.build_lock() as locked, pytest.raises(StoreUnreachable),
          locked.writer(manifest_of(new)) as writer):
        writer.keep(["a"])
        writer.add([new["b"]])
        pg_cluster.primary.kill()
        pg_cluster.primary.start()
        writer.commit()
    assert (store.current(), store.table_rows()) == (first, rows)
    store.verify(first)
    pg_cluster.wait_for_replay()
    assert replica.current() == first
    assert build(store, new) == store.current()


def test_an_error_inside_the_writer_rolls_everything_back(store: PostgresStore) -> None:
    first = build(store, {"a": document("a")})
    rows = store.table_rows()
    with (store.build_lock() as locked, pytest.raises(RuntimeError),
          locked.writer(manifest_of({"b": document("b")})) as writer):
        writer.add([document("b")])
        raise RuntimeError("the build failed")
    # a manifest that does not describe the rows is refused at the commit
    wrong = manifest_of({"b": document("b")})
    wrong.passage_count += 1
    with (store.build_lock() as locked, pytest.raises(IndexCorrupt, match="manifest says"),
          locked.writer(wrong) as writer):
        writer.keep(["a"])
        writer.add([document("b")])
        writer.commit()
    assert (store.current(), store.table_rows()) == (first, rows)
    # the lock's connection is usable again afterwards
    second = build(store, {"a": document("a"), "b": document("b")})
    assert store.verify(second).documents == 2


def test_verify_finds_rows_that_changed_under_a_version(
    pg_primary: PostgresServer, store: PostgresStore, schema: str
) -> None:
    name = build(store, {k: document(k) for k in ("a", "b")})
    with pg_primary.connect() as conn:
        conn.execute(f"DELETE FROM {schema}.passages WHERE passage_id = 'b-1-2'")
    with pytest.raises(IndexCorrupt, match=r"5 passages, the manifest says 6.*\['b'\]"):
        store.verify(name)


def test_schema_is_idempotent_and_keeps_its_dimension(store: PostgresStore) -> None:
    store.ensure_schema(DIM)
    store.ensure_schema(DIM)
    with pytest.raises(IndexIncompatible, match="384-dimensional"):
        store.ensure_schema(768)
    with pytest.raises(IndexNotFound):
        store.manifest()


def test_an_unreachable_server_and_a_bad_url() -> None:
    from natoqa.index.postgres import PostgresStore

    store = PostgresStore(f"postgresql://postgres:secret@127.0.0.1:{free_port()}/natoqa",
                          connect_timeout=2)
    with pytest.raises(StoreUnreachable, match=r"127\.0\.0\.1") as info:
        store.current()
    assert "secret" not in str(info.value)
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresStore("/var/lib/natoqa/index")
    with pytest.raises(ValueError, match="schema name"):
        PostgresStore("postgresql://localhost/natoqa", schema="Robert'); DROP")
