"""Writing the PostgreSQL store: a version in one transaction under the build lock.

:meth:`natoqa.index.postgres.PostgresStore.build_lock` gives a :class:`LockedStore`; its
:meth:`~LockedStore.writer` a :class:`VersionWriter` that keeps documents of the base
version (their rows are shared), adds new ones (``COPY``), and commits: the changed and
removed documents retired, the rows checked against the manifest, the version recorded
and made current, all at once. Left without a commit, nothing of it remains.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from natoqa.errors import IndexCorrupt, IndexStoreError
from natoqa.index.postgres_schema import (
    _LIVE,
    Connection,
    Vectors,
    _check_rows,
    _count_rows,
    _register_vector,
)
from natoqa.index.store import DocumentRecord, Manifest, check_version_name
from natoqa.index.units import UnitSpan
from natoqa.models import Passage
from natoqa.text.analyzer import identifiers, words

if TYPE_CHECKING:
    from natoqa.index.postgres import PostgresStore

#: the manifest's fields that describe files, not a version in the database
_FILE_FIELDS = ("checksums", "edges", "segments")


@dataclass(frozen=True)
class NewDocument:
    """A document's new state for a build: its record, passages, their vectors, and their
    sentence units (one list of spans per passage, or none) with one vector per unit in
    passage order."""

    record: DocumentRecord
    passages: Sequence[Passage]
    vectors: Vectors
    units: Sequence[Sequence[UnitSpan]] = ()
    unit_vectors: Vectors | None = None
    #: BM25's postings of each passage (term -> frequency; :meth:`Lexicon.per_row`), None:
    #: not given (the reader derives them from the texts)
    postings: Sequence[Mapping[str, float]] | None = None
    #: the units' latent terms, one fixed-width row per unit (ids, weights)
    unit_term_ids: npt.NDArray[np.signedinteger[Any]] | None = None
    unit_term_weights: Vectors | None = None

    def check(self, dim: int) -> None:
        """ValueError unless the parts fit together and the vectors are finite and ``dim``-d."""
        doc_id, n = self.record.doc_id, len(self.passages)
        if self.record.passages != n:
            raise ValueError(f"{doc_id}: the record says {self.record.passages} passages, "
                             f"{n} given")
        if other := {p.doc_id for p in self.passages} - {doc_id}:
            raise ValueError(f"{doc_id}: passages of {sorted(other)}")
        if self.vectors.shape != (n, dim):
            raise ValueError(f"{doc_id}: vectors of shape {self.vectors.shape}, "
                             f"expected {(n, dim)}")
        if self.units and len(self.units) != n:
            raise ValueError(f"{doc_id}: units for {len(self.units)} of {n} passages")
        count = sum(len(u) for u in self.units)
        got = 0 if self.unit_vectors is None else len(self.unit_vectors)
        if got != count or (self.unit_vectors is not None and count
                            and self.unit_vectors.shape[1:] != (dim,)):
            raise ValueError(f"{doc_id}: {got} unit vectors for {count} units of {dim} dims")
        if self.postings is not None and len(self.postings) != n:
            raise ValueError(f"{doc_id}: postings for {len(self.postings)} of {n} passages")
        if (self.unit_term_ids is None) != (self.unit_term_weights is None) or (
                self.unit_term_ids is not None and self.unit_term_weights is not None and (
                    self.unit_term_ids.shape != self.unit_term_weights.shape
                    or len(self.unit_term_ids) != count)):
            raise ValueError(f"{doc_id}: latent terms do not fit its {count} units")
        for vectors in (self.vectors, self.unit_vectors):
            if vectors is not None and len(vectors) and not np.isfinite(vectors).all():
                raise ValueError(f"{doc_id}: vectors with NaN or infinity")


class LockedStore:
    """The store while this process holds the build lock: write, activate, prune."""

    def __init__(self, store: PostgresStore, conn: Connection) -> None:
        self.store, self.conn = store, conn

    @contextlib.contextmanager
    def writer(self, manifest: Manifest, *, base: str | None = None) -> Iterator[VersionWriter]:
        """A new version in one transaction: ``keep`` documents of version ``base`` (default:
        the current one; none for a first or full build), ``add`` new ones, ``commit``.
        Left without ``commit`` (an error, Ctrl-C), the transaction is rolled back and
        nothing of it remains; a lost connection does the same on the server."""
        check_version_name(manifest.version)
        self.store.ensure_schema(manifest.dim)
        conn = self.conn
        if conn.autocommit is False or conn.info.transaction_status != \
                psycopg.pq.TransactionStatus.IDLE:
            raise IndexStoreError("a writer is already open on this lock")
        with self.store._errors("starting a build"):
            if conn.adapters.types.get("vector") is None:
                _register_vector(conn)  # pgvector was installed after this connection began
            conn.autocommit = False
            exists = conn.execute("SELECT 1 FROM versions WHERE name = %s",
                                  (manifest.version,)).fetchone()
            if exists:
                raise IndexStoreError(f"version {manifest.version} exists already")
            base_number: int | None = None
            if base is not None or conn.execute("SELECT 1 FROM current_version").fetchone():
                base_number, _, _ = self.store._version(conn, base)
            row = conn.execute("SELECT nextval('version_numbers')").fetchone()
            assert row is not None
        writer = VersionWriter(self.store, conn, manifest, int(row[0]), base_number)
        try:
            yield writer
        finally:
            if not writer.committed and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
            if not conn.broken:
                conn.autocommit = True

    def activate(self, version: str) -> None:
        with self.store._errors("activating a version"), self.conn.transaction():
            self.store._require_schema(self.conn)
            number, _, _ = self.store._version(self.conn, version)
            _set_current(self.conn, number)

    def prune(self, keep: int) -> list[str]:
        if keep < 1:
            raise ValueError("keep at least one version")
        conn = self.conn
        with self.store._errors("pruning versions"), conn.transaction():
            if self.store._schema_row(conn) is None:
                return []
            doomed = [str(r[0]) for r in conn.execute(
                "SELECT name FROM versions WHERE number NOT IN ("
                " SELECT number FROM versions ORDER BY number DESC LIMIT %s) "
                "AND number NOT IN (SELECT version FROM current_version) ORDER BY number",
                (keep,)).fetchall()]
            if not doomed:
                return []
            conn.execute("DELETE FROM versions WHERE name = ANY(%s)", (doomed,))
            # rows live in no version left (cascades to passages and units)
            conn.execute(
                "DELETE FROM documents d WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE "
                "d.added_in <= v.number AND (d.retired_in IS NULL OR d.retired_in > v.number))")
        return doomed


class VersionWriter:
    """One version being written inside the lock's transaction (see LockedStore.writer)."""

    def __init__(self, store: PostgresStore, conn: Connection, manifest: Manifest,
                 number: int, base: int | None) -> None:
        self.store, self.conn, self.manifest = store, conn, manifest
        self.number, self.base = number, base
        self.kept: dict[str, int] = {}  # doc_id -> document row of the base version
        self.added: set[str] = set()
        self.committed = False

    def keep(self, doc_ids: Iterable[str]) -> None:
        """Documents of the base version that stay as they are (their rows are shared)."""
        wanted = sorted(set(doc_ids) - set(self.kept))
        if not wanted:
            return
        if self.base is None:
            raise IndexStoreError("no base version to keep documents from")
        if clash := self.added.intersection(wanted):
            raise ValueError(f"documents both kept and added: {sorted(clash)}")
        with self.store._errors("keeping documents"):
            rows = self.conn.execute(
                f"SELECT d.doc_id, d.id FROM documents d WHERE {_LIVE} "
                "AND d.doc_id = ANY(%(ids)s)", {"v": self.base, "ids": wanted}).fetchall()
        found = {str(r[0]): int(r[1]) for r in rows}
        if missing := [d for d in wanted if d not in found]:
            raise IndexStoreError(f"documents not in the base version: {missing[:10]}")
        self.kept.update(found)

    def add(self, documents: Iterable[NewDocument]) -> None:
        """Write new documents (new or changed) with their passages and units now."""
        docs = list(documents)
        for doc in docs:
            doc.check(self.manifest.dim)
        ids = [d.record.doc_id for d in docs]
        if len(set(ids)) != len(ids) or self.added.intersection(ids) or \
                set(self.kept).intersection(ids):
            raise ValueError("a document is given twice (added twice, or kept and added)")
        if not docs:
            return
        conn = self.conn
        with self.store._errors("writing documents"):
            # the rows these documents replace end with this version (before the copy: one
            # open row per document)
            conn.execute("UPDATE documents SET retired_in = %s WHERE retired_in IS NULL "
                         "AND added_in < %s AND doc_id = ANY(%s)", (self.number, self.number, ids))
            n_passages = sum(len(d.passages) for d in docs)
            doc_rows = _reserve(conn, "document_ids", len(docs))
            passage_rows = _reserve(conn, "passage_ids", n_passages)
            with conn.cursor().copy(
                "COPY documents (id, doc_id, content_hash, fmt, meta, passages, added_in, "
                "words, names) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "text", "text", "jsonb", "int4", "int8",
                                "jsonb", "text[]"])
                for row, doc in zip(doc_rows, docs, strict=True):
                    r = doc.record
                    copy.write_row((row, r.doc_id, r.content_hash, r.fmt,
                                    Jsonb(asdict(r.meta)), r.passages, self.number,
                                    *_lexical_of(doc)))
            at = 0
            with conn.cursor().copy(
                "COPY passages (id, document, passage_id, ordinal, kind, passage, embedding, "
                "length) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "text", "int4", "text", "jsonb", "vector",
                                "float4"])
                for row, doc in zip(doc_rows, docs, strict=True):
                    for i, (p, vector) in enumerate(zip(doc.passages, doc.vectors, strict=True)):
                        length = (None if doc.postings is None
                                  else float(sum(doc.postings[i].values())))
                        copy.write_row((passage_rows[at], row, p.passage_id, p.ordinal, p.kind,
                                        Jsonb(asdict(p)), vector, length))
                        at += 1
            at = 0
            with conn.cursor().copy("COPY postings (term, passage, tf) FROM STDIN "
                                    "(FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "float4"])
                for doc in docs:
                    for postings in doc.postings or [{}] * len(doc.passages):
                        for term, tf in postings.items():
                            copy.write_row((term, passage_rows[at], float(tf)))
                        at += 1
            at = 0
            with conn.cursor().copy(
                "COPY units (passage, ordinal, start_at, end_at, gap_start, gap_end, embedding, "
                "term_ids, term_weights) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int4", "int4", "int4", "int4", "int4", "vector",
                                "bytea", "bytea"])
                for doc in docs:
                    spans = doc.units or [()] * len(doc.passages)
                    flat = 0
                    for passage_spans in spans:
                        for k, span in enumerate(passage_spans):
                            assert doc.unit_vectors is not None
                            copy.write_row((passage_rows[at], k, span.start, span.end,
                                            span.gap_start, span.gap_end,
                                            doc.unit_vectors[flat], *_terms_of(doc, flat)))
                            flat += 1
                        at += 1
        self.added.update(ids)

    def commit(self, *, activate: bool = True, build_seconds: float | None = None) -> str:
        """Retire the documents neither kept nor re-added, check the new version's rows
        against its manifest, record it and (``activate``) make it current: one commit.
        IndexCorrupt (and nothing written) when the rows do not match the manifest."""
        if self.committed:
            raise IndexStoreError("this version is committed already")
        conn, v, manifest = self.conn, self.number, self.manifest
        with self.store._errors("committing the version"):
            kept_rows = list(self.kept.values())
            # retire every open row that is not kept: changed and removed documents, and
            # (after a rollback) those the newest version had beyond the base
            conn.execute("UPDATE documents SET retired_in = %s WHERE retired_in IS NULL "
                         "AND added_in < %s AND id <> ALL(%s)", (v, v, kept_rows))
            # kept rows retired since the base (it is an older, activated version): their
            # rows again, as new rows of this version (no embedding, only graph inserts)
            stale = [int(r[0]) for r in conn.execute(
                "SELECT id FROM documents WHERE id = ANY(%s) AND retired_in IS NOT NULL",
                (kept_rows,)).fetchall()]
            for old in stale:
                _copy_document(conn, old, v)
            dim = self.store._require_schema(conn).dim
            stored = {k: v_ for k, v_ in asdict(manifest).items() if k not in _FILE_FIELDS}
            counts = _count_rows(conn, v)
            check = _check_rows(conn, v, manifest.version, manifest, dim, counts)
            if check.problems:
                raise IndexCorrupt(f"the new version {manifest.version} does not match its "
                                   f"manifest: " + "; ".join(check.problems))
            conn.execute(
                "INSERT INTO versions (number, name, manifest, documents, passages, units, "
                "build_seconds) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (v, manifest.version, Jsonb(stored), *counts,
                 build_seconds if build_seconds is not None else manifest.build_seconds))
            if activate:
                _set_current(conn, v)
            conn.execute("ANALYZE documents, passages, units, postings")
            conn.commit()
        self.committed = True
        return manifest.version


# -- helpers ----------------------------------------------------------------------------------


def _reserve(conn: Connection, sequence: str, n: int) -> list[int]:
    """``n`` new numbers of a sequence (row ids chosen before the rows are copied)."""
    if n == 0:
        return []
    rows = conn.execute(sql.SQL("SELECT nextval({}) FROM generate_series(1, %s)").format(
        sql.Literal(sequence)), (n,)).fetchall()
    return [int(r[0]) for r in rows]


def _copy_document(conn: Connection, old: int, version: int) -> None:
    """A document row with its passages and units again, as new rows added in ``version``."""
    conn.execute(
        "WITH d AS (INSERT INTO documents (doc_id, content_hash, fmt, meta, passages, added_in, "
        "  words, names) SELECT doc_id, content_hash, fmt, meta, passages, %(v)s, words, names "
        "  FROM documents WHERE id = %(old)s RETURNING id), "
        "m AS MATERIALIZED (SELECT id AS old, nextval('passage_ids') AS new FROM passages "
        "  WHERE document = %(old)s ORDER BY id), "
        "p AS (INSERT INTO passages (id, document, passage_id, ordinal, kind, passage, embedding,"
        "  length) SELECT m.new, d.id, q.passage_id, q.ordinal, q.kind, q.passage, q.embedding,"
        "  q.length FROM passages q JOIN m ON q.id = m.old CROSS JOIN d), "
        "u AS (INSERT INTO units (passage, ordinal, start_at, end_at, gap_start, gap_end, "
        "  embedding, term_ids, term_weights) SELECT m.new, u.ordinal, u.start_at, u.end_at, "
        "  u.gap_start, u.gap_end, u.embedding, u.term_ids, u.term_weights "
        "  FROM units u JOIN m ON u.passage = m.old) "
        "INSERT INTO postings (term, passage, tf) SELECT o.term, m.new, o.tf "
        "FROM postings o JOIN m ON o.passage = m.old",
        {"v": version, "old": old})


def _set_current(conn: Connection, number: int) -> None:
    conn.execute("INSERT INTO current_version (version) VALUES (%s) ON CONFLICT (one) "
                 "DO UPDATE SET version = excluded.version, since = now()", (number,))


def _lexical_of(doc: NewDocument) -> tuple[Jsonb | None, list[str] | None]:
    """A document's word counts (the decompounder's) and names (abstention's): None without
    postings (the reader derives both from the texts)."""
    if doc.postings is None:
        return None, None
    counts: Counter[str] = Counter()
    names: set[str] = set()
    for p in doc.passages:
        counts.update(words(p.text))
        names |= identifiers(p.text)
    return Jsonb(dict(counts)), sorted(names)


def _terms_of(doc: NewDocument, unit: int) -> tuple[bytes | None, bytes | None]:
    """A unit's latent terms as stored: little-endian int32 ids, float32 weights."""
    if doc.unit_term_ids is None or doc.unit_term_weights is None:
        return None, None
    return (np.asarray(doc.unit_term_ids[unit], dtype="<i4").tobytes(),
            np.asarray(doc.unit_term_weights[unit], dtype="<f4").tobytes())
