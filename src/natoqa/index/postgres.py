"""The index in PostgreSQL with pgvector: versions, the current one, builds (issue 20).

The scale-out store beside the files + FAISS default (docs/SCALE-OUT.md). This module is
its **versions half**: the schema, a build's single transaction, activate (rollback),
prune, the list of versions and their verification. Questions are answered from a
version by :mod:`natoqa.index.postgres_reader`.

Layout (all tables in one PostgreSQL schema, ``natoqa`` by default, so a database can
hold several stores and other applications' tables)::

    store_schema      one row: the schema's version, the vectors' dimension, when it was made
    versions          number (commit order), name, manifest, counts
    current_version   one row: the current version's number
    documents         one row per document *state*: live in version v when
                      added_in <= v < coalesce(retired_in, infinity)
    passages          immutable rows of a document row, with vector(dim) + HNSW
    units             immutable sentence units of a passage, with vector(dim) + HNSW
                      and their latent terms (schema 2)
    postings          BM25's inverted index: term, passage, frequency (schema 2)

Rows are written once and deleted only by pruning: an edit of one document retires
its row (one small ``UPDATE``) and adds a new one with its passages and units, so
versions share every unchanged row and the HNSW graphs only grow by the new rows.

A build (:meth:`PostgresStore.build_lock`, then :meth:`LockedStore.writer`) holds a
session advisory lock and writes everything in **one transaction** that also switches
``current_version``: a build that dies, is killed or loses its connection leaves no
trace but a used version number, and its lock goes with its session.

psycopg is imported only here (the ``postgres`` extra); vectors travel in pgvector's
binary format, without the ``pgvector`` package.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, NamedTuple

import numpy as np
import psycopg
from psycopg import sql

from natoqa.config import UnitVectors
from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexLocked, IndexNotFound
from natoqa.index import units as sentence_units
from natoqa.index.postgres_schema import (
    _LIVE,
    _SCHEMA_NAME,
    _SCHEMA_SQL,
    _SCHEMA_V2_SQL,
    DEFAULT_SCHEMA,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    SCHEMA_VERSION,
    Connection,
    Vectors,
    VersionCheck,
    _check_rows,
    _database_errors,
    _key,
    _register_vector,
    check_url,
    describe_url,
)
from natoqa.index.postgres_writer import LockedStore, NewDocument, VersionWriter
from natoqa.index.store import (
    DocumentRecord,
    Manifest,
    VersionInfo,
    _meta_from_json,
    check_version_name,
)
from natoqa.index.units import Unit, UnitSpan
from natoqa.models import Passage

__all__ = ["DEFAULT_SCHEMA", "SCHEMA_VERSION", "Connection", "LockedStore", "NewDocument",
           "PostgresStore", "StoredVersion", "VersionCheck", "VersionRows", "VersionWriter",
           "check_url", "describe_url"]


# -- what the store holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoredVersion:
    """One version as the ``versions`` table records it (counts taken at its commit)."""

    number: int
    name: str
    current: bool
    created: str
    model_id: str
    dim: int
    documents: int
    passages: int
    units: int
    build_seconds: float

    def info(self) -> VersionInfo:
        """As the files store describes a version (``natoqa index list``)."""
        return VersionInfo(version=self.name, current=self.current, created=self.created,
                           model_id=self.model_id, documents=self.documents,
                           passages=self.passages, build_seconds=self.build_seconds)


@dataclass(frozen=True)
class VersionRows:
    """A version's live passages (by document, then ordinal) with their vectors and
    their units' counts: what a test or a reader compares with what was written."""

    passages: list[Passage]
    vectors: Vectors
    units: list[int] = field(default_factory=list)


class _SchemaRow(NamedTuple):
    version: int  # the store schema's (SCHEMA_VERSION when this natoqa wrote it)
    dim: int  # of the store's vectors
    created: object  # when the schema was made: with version, the store's identity


class _Snapshot(NamedTuple):
    conn: Connection
    dim: int  # of the store's vectors
    number: int  # the version's
    name: str
    manifest: Manifest


# -- the store --------------------------------------------------------------------------------


class PostgresStore:
    """The index in a PostgreSQL database (``url``: ``postgresql://…``), in schema ``schema``.

    Reading (``current``, ``versions``, ``manifest``, ``verify``, ``rows``) works on a
    primary or a hot standby. Writing goes through :meth:`build_lock` on the primary;
    :meth:`activate` and :meth:`prune` take that lock themselves.
    """

    def __init__(self, url: str, *, schema: str = DEFAULT_SCHEMA,
                 connect_timeout: float = 10.0) -> None:
        check_url(url)
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"{schema!r} is not a plain lower-case PostgreSQL schema name")
        self.url, self.schema, self.connect_timeout = url, schema, connect_timeout
        self.where = describe_url(url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where}, schema={self.schema})"

    # -- connections --------------------------------------------------------------------------

    def connect(self, *, autocommit: bool = True) -> Connection:
        """A new connection with the store's schema first on the search path and pgvector's
        types registered (when the schema exists); close it (``with``)."""
        with self._errors("connecting"):
            conn = psycopg.connect(self.url, autocommit=True,
                                   connect_timeout=max(1, round(self.connect_timeout)))
            try:
                conn.execute(sql.SQL("SET search_path TO {}, public").format(
                    sql.Identifier(self.schema)))
                if self._has_vector(conn):
                    _register_vector(conn)
                conn.autocommit = autocommit
            except BaseException:
                conn.close()
                raise
        return conn

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _database_errors(self.where, what)

    @contextlib.contextmanager
    def _snapshot(self, what: str, version: str | None) -> Iterator[_Snapshot]:
        """A read-only snapshot of ``version`` (default: the current one), for reads that
        must see one version's rows consistently; errors say ``what`` failed."""
        with self._errors(what), self.connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            dim = self._require_schema(conn).dim
            yield _Snapshot(conn, dim, *self._version(conn, version))

    @staticmethod
    def _has_vector(conn: Connection) -> bool:
        return conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone() is not None

    def _schema_row(self, conn: Connection) -> _SchemaRow | None:
        """The store's schema row, or None when it has no schema yet."""
        exists = conn.execute("SELECT to_regclass('store_schema') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT version, dim, created FROM store_schema").fetchone()
        return None if row is None else _SchemaRow(int(row[0]), int(row[1]), row[2])

    def _require_schema(self, conn: Connection) -> _SchemaRow:
        """The store's schema row; IndexNotFound without a schema, IndexIncompatible when a
        newer natoqa made it."""
        row = self._schema_row(conn)
        if row is None:
            raise IndexNotFound(f"no natoqa index in schema {self.schema!r} of {self.where}: "
                                f"build one first")
        if row.version > SCHEMA_VERSION:
            raise IndexIncompatible(
                f"the index in {self.where} (schema {self.schema!r}) has store schema "
                f"{row.version}; this natoqa knows up to {SCHEMA_VERSION}: upgrade natoqa")
        return row

    def ensure_schema(self, dim: int) -> None:
        """Create the schema, tables and indexes for ``dim``-d vectors unless they exist
        (idempotent, safe to run concurrently); IndexIncompatible when the store holds
        vectors of another dimension or a newer schema."""
        with self._errors("creating the schema"), self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_key(self.schema, "schema"),))
            if not self._has_vector(conn):
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.schema)))
            row = self._schema_row(conn)
            if row is not None:
                self._require_schema(conn)
                if row.dim != dim:
                    raise IndexIncompatible(
                        f"the index in {self.where} (schema {self.schema!r}) holds {row.dim}-"
                        f"dimensional vectors, this build {dim}: use another schema or drop it")
                if row[0] < SCHEMA_VERSION:  # an older natoqa's store: upgraded in place
                    conn.execute(_SCHEMA_V2_SQL)
                    conn.execute("UPDATE store_schema SET version = %s", (SCHEMA_VERSION,))
                return
            conn.execute(_SCHEMA_SQL.format(dim=int(dim), m=HNSW_M, ef=HNSW_EF_CONSTRUCTION))
            conn.execute(_SCHEMA_V2_SQL)
            conn.execute("INSERT INTO store_schema (version, dim) VALUES (%s, %s)",
                         (SCHEMA_VERSION, dim))

    # -- reading ------------------------------------------------------------------------------

    def current(self) -> str | None:
        """The current version's name (None: no schema or no version yet)."""
        with self._errors("reading the current version"), self.connect() as conn:
            if self._schema_row(conn) is None:
                return None
            row = conn.execute("SELECT v.name FROM current_version c "
                               "JOIN versions v ON v.number = c.version").fetchone()
        return None if row is None else str(row[0])

    def exists(self) -> bool:
        return self.current() is not None

    def versions(self) -> list[StoredVersion]:
        """Every committed version, oldest first, with the counts of its commit."""
        with self._errors("listing versions"), self.connect() as conn:
            if self._schema_row(conn) is None:
                return []
            rows = conn.execute(
                "SELECT v.number, v.name, c.version IS NOT NULL, v.created, "
                "v.manifest->>'model_id', (v.manifest->>'dim')::int, v.documents, v.passages, "
                "v.units, v.build_seconds FROM versions v "
                "LEFT JOIN current_version c ON c.version = v.number ORDER BY v.number"
            ).fetchall()
        return [StoredVersion(int(r[0]), str(r[1]), bool(r[2]),
                              r[3].astimezone(UTC).isoformat(timespec="seconds"), str(r[4]),
                              int(r[5]), int(r[6]), int(r[7]), int(r[8]), float(r[9]))
                for r in rows]

    def info(self) -> list[VersionInfo]:
        """The versions as the files store lists them."""
        return [v.info() for v in self.versions()]

    def manifest(self, version: str | None = None) -> Manifest:
        """A version's manifest (default: the current one's)."""
        with self._errors("reading a manifest"), self.connect() as conn:
            self._require_schema(conn)
            manifest = self._version(conn, version)[2]
        return manifest

    def _version(self, conn: Connection, version: str | None) -> tuple[int, str, Manifest]:
        """(number, name, manifest) of ``version`` or of the current one."""
        if version is None:
            row = conn.execute("SELECT v.number, v.name, v.manifest FROM current_version c "
                               "JOIN versions v ON v.number = c.version").fetchone()
            if row is None:
                raise IndexNotFound(f"no current index version in {self.where} "
                                    f"(schema {self.schema!r}): build one first")
        else:
            check_version_name(version)
            row = conn.execute("SELECT number, name, manifest FROM versions WHERE name = %s",
                               (version,)).fetchone()
            if row is None:
                raise IndexNotFound(f"index version {version!r} not found in {self.where}")
        try:
            manifest = Manifest.from_json(json.dumps(row[2]))
        except ValueError as err:
            raise IndexCorrupt(f"the manifest of {row[1]} is unreadable: {err}") from None
        return int(row[0]), str(row[1]), manifest

    def verify(self, version: str | None = None) -> VersionCheck:
        """Count a version's live rows and check them against its manifest and its commit's
        counts: documents and their content hashes, passages (also per document), units,
        vector dimensions. IndexCorrupt naming every difference."""
        with self._snapshot("verifying a version", version) as snap:
            conn, dim, number, name, manifest = snap
            counts = conn.execute("SELECT documents, passages, units FROM versions "
                                  "WHERE number = %s", (number,)).fetchone()
            assert counts is not None
            check = _check_rows(conn, number, name, manifest, dim,
                                (int(counts[0]), int(counts[1]), int(counts[2])))
        if check.problems:
            raise IndexCorrupt(f"index version {name}: " + "; ".join(check.problems))
        return check

    def rows(self, version: str | None = None) -> VersionRows:
        """A version's live passages (document by document, in reading order) with their
        vectors and unit counts, in one snapshot."""
        with self._snapshot("reading passages", version) as snap:
            dim, number = snap.dim, snap.number
            cursor = snap.conn.cursor(binary=True)
            rows = cursor.execute(
                "SELECT p.passage, p.embedding, "
                "(SELECT count(*) FROM units u WHERE u.passage = p.id)::int "
                "FROM passages p JOIN documents d ON d.id = p.document "
                f"WHERE {_LIVE} ORDER BY d.doc_id, p.kind = 'footnote', p.ordinal, p.id",
                {"v": number},
            ).fetchall()
        passages = [_passage(r[0]) for r in rows]
        vectors = (np.stack([r[1] for r in rows]) if rows
                   else np.zeros((0, dim), dtype=np.float32))
        return VersionRows(passages, vectors.astype(np.float32), [int(r[2]) for r in rows])

    def documents(self, version: str | None = None) -> dict[str, DocumentRecord]:
        """A version's live documents by id."""
        with self._snapshot("reading documents", version) as snap:
            rows = snap.conn.execute(
                "SELECT d.doc_id, d.meta, d.content_hash, d.passages, d.fmt FROM documents d "
                f"WHERE {_LIVE} ORDER BY d.doc_id", {"v": snap.number}).fetchall()
        return {str(r[0]): DocumentRecord(str(r[0]), _meta_from_json(r[1]), str(r[2]),
                                          int(r[3]), str(r[4])) for r in rows}

    def reusable(self, doc_ids: Iterable[str], mode: UnitVectors, version: str | None = None,
                 ) -> tuple[dict[str, Vectors], dict[str, Unit]]:
        """What a version stored for the documents ``doc_ids``, for a build that changes them
        to reuse: passage text → vector, and unit :func:`~natoqa.index.units.key` → unit
        (vector and latent terms), as :func:`natoqa.index.units.reusable_from` gives files."""
        wanted = sorted(set(doc_ids))
        passages: dict[str, Vectors] = {}
        units: dict[str, Unit] = {}
        if not wanted:
            return passages, units
        with self._snapshot("reading vectors to reuse", version) as snap:
            cursor = snap.conn.cursor(binary=True)
            rows = cursor.execute(
                "SELECT p.id, p.passage->>'text', p.embedding FROM passages p JOIN documents d "
                f"ON d.id = p.document WHERE {_LIVE} AND d.doc_id = ANY(%(ids)s)",
                {"v": snap.number, "ids": wanted}).fetchall()
            unit_rows = cursor.execute(
                "SELECT u.passage, u.start_at, u.end_at, u.gap_start, u.gap_end, u.embedding, "
                "u.term_ids, u.term_weights FROM units u WHERE u.passage = ANY(%s)",
                ([int(r[0]) for r in rows],)).fetchall()
        text_of = {int(r[0]): str(r[1]) for r in rows}
        passages = {str(r[1]): np.asarray(r[2], dtype=np.float32) for r in rows}
        for r in unit_rows:
            span = UnitSpan(int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            with_terms = r[6] is not None and r[7] is not None
            units[sentence_units.key(mode, text_of[int(r[0])], span)] = Unit(
                np.asarray(r[5], dtype=np.float32),
                np.frombuffer(r[6], dtype="<i4").astype(np.int32) if with_terms else None,
                np.frombuffer(r[7], dtype="<f4").astype(np.float32) if with_terms else None)
        return passages, units

    def word_counts(self, version: str | None = None, *,
                    exclude: Iterable[str] = ()) -> Counter[str]:
        """The decompounder's word counts of a version's live documents, but ``exclude``:
        what a build splits its new documents' compounds by, as the files build does."""
        with self._snapshot("reading word counts", version) as snap:
            rows = snap.conn.execute(
                "SELECT w.key, sum(w.value::bigint) FROM documents d, jsonb_each_text(d.words) w "
                f"WHERE {_LIVE} AND d.doc_id <> ALL(%(x)s) GROUP BY w.key",
                {"v": snap.number, "x": sorted(exclude)}).fetchall()
        return Counter({str(r[0]): int(r[1]) for r in rows})

    def table_rows(self) -> dict[str, int]:
        """Rows of every table, whatever version they belong to (what pruning frees)."""
        with self._errors("counting rows"), self.connect() as conn:
            self._require_schema(conn)
            out: dict[str, int] = {}
            for table in ("versions", "documents", "passages", "units"):
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(table))).fetchone()
                out[table] = int(row[0]) if row else 0
        return out

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def build_lock(self, timeout: float = 0.0) -> Iterator[LockedStore]:
        """Hold the store's build lock (a session advisory lock on the primary) for the
        body; IndexLocked when another session holds it beyond ``timeout`` seconds. The
        server releases it when the session ends, also when the build is killed."""
        key = _key(self.schema, "build")
        conn = self.connect()
        try:
            deadline = time.monotonic() + timeout
            with self._errors("taking the build lock"):
                while True:
                    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                    if row is not None and row[0]:
                        break
                    if time.monotonic() >= deadline:
                        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
                        raise IndexLocked(
                            f"another build is running on {self.where} (schema "
                            f"{self.schema!r}){waited}; wait for it to finish, or use "
                            f"--wait SECONDS")
                    time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            try:
                yield LockedStore(self, conn)
            finally:
                if not conn.broken:
                    with contextlib.suppress(psycopg.Error):
                        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                            conn.rollback()
                        conn.autocommit = True
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()

    def activate(self, version: str, *, lock_timeout: float = 0.0) -> None:
        """Make an existing version current (a rollback or roll-forward), under the lock."""
        with self.build_lock(lock_timeout) as locked:
            locked.activate(version)

    def rollback(self, version: str | None = None, *, lock_timeout: float = 0.0) -> str:
        """Make an earlier version current again: ``version``, or the one committed before the
        current one; verified and of the current one's model first. Returns its name."""
        with self.build_lock(lock_timeout) as locked:
            versions = self.versions()
            current = next((v for v in versions if v.current), None)
            if current is None:
                raise IndexNotFound(f"no current index version in {self.where}: nothing to "
                                    "roll back")
            if version is None:
                older = [v for v in versions if v.number < current.number]
                if not older:
                    raise IndexNotFound(f"no version older than {current.name} in "
                                        f"{self.where} (see 'natoqa index list')")
                version = older[-1].name
            self.verify(version)  # IndexNotFound / IndexCorrupt: the current one stays
            target = self.manifest(version)
            if target.model_id != current.model_id:
                raise IndexIncompatible(
                    f"{version} was built with model {target.model_id}, the current version "
                    f"with {current.model_id}: a server would refuse it")
            locked.activate(version)
        return version

    def prune(self, keep: int, *, lock_timeout: float = 0.0) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one) and the rows
        only they use, under the lock; returns the names deleted."""
        with self.build_lock(lock_timeout) as locked:
            return locked.prune(keep)


# -- helpers ----------------------------------------------------------------------------------


def _passage(data: dict[str, Any]) -> Passage:
    data = dict(data)
    data["footnote_refs"] = tuple(data.get("footnote_refs", ()))
    return Passage(**data)
