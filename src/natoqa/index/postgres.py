"""The index in PostgreSQL with pgvector: versions, the current one, builds (issue 20).

The scale-out store beside the files + FAISS default (docs/SCALE-OUT.md). This module is
its **versions half**: the schema, a build's single transaction, activate (rollback),
prune, the list of versions and their verification. Questions are answered from a
version by :mod:`natoqa.index.postgres_reader`.

Layout (all tables in one PostgreSQL schema, ``natoqa`` by default, so a database can
hold several stores and other applications' tables)::

    store_schema      one row: the schema's version and the vectors' dimension
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
import hashlib
import json
import re
import struct
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.errors import (
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexStoreError,
    StoreUnreachable,
)
from natoqa.index.store import (
    DocumentRecord,
    Manifest,
    VersionInfo,
    _meta_from_json,
    check_version_name,
)
from natoqa.index.units import UnitSpan
from natoqa.models import Passage
from natoqa.text.analyzer import identifiers, words

try:
    import psycopg
    from psycopg import sql
    from psycopg.abc import Buffer
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo
    from psycopg.types.json import Jsonb
except ImportError as _missing:  # pragma: no cover - without the postgres extra
    raise ImportError(
        "the PostgreSQL store needs psycopg: python -m pip install -e '.[postgres]'"
    ) from _missing

#: the schema this code writes; a store with a higher one was made by a newer natoqa
SCHEMA_VERSION = 2
DEFAULT_SCHEMA = "natoqa"
#: HNSW's build parameters (pgvector's defaults; docs/SCALE-OUT.md §1)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: the manifest's fields that describe files, not a version in the database
_FILE_FIELDS = ("checksums", "edges", "segments")

Vectors = npt.NDArray[np.float32]
Connection = psycopg.Connection[tuple[Any, ...]]


# -- vectors in pgvector's binary format ------------------------------------------------------


class _VectorDumper(Dumper):
    """A 1-d float array as pgvector's binary ``vector``: uint16 dim, uint16 unused, float4 BE."""

    format = Format.BINARY

    def dump(self, obj: Any) -> Buffer:
        values = np.asarray(obj, dtype=">f4").reshape(-1)
        return struct.pack(">HH", len(values), 0) + values.tobytes()


class _VectorLoader(Loader):
    """pgvector's binary ``vector`` as a float32 array."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Vectors:
        dim = struct.unpack_from(">H", data)[0]
        return np.frombuffer(bytes(data), dtype=">f4", count=dim, offset=4).astype(np.float32)


class _VectorTextLoader(Loader):
    """pgvector's text ``[x,y,…]`` as a float32 array."""

    def load(self, data: Buffer) -> Vectors:
        text = bytes(data).decode()
        return np.array([float(x) for x in text.strip("[]").split(",") if x], dtype=np.float32)


def _register_vector(conn: Connection) -> None:
    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise IndexStoreError("the database has no pgvector: CREATE EXTENSION vector first")
    info.register(conn)
    dumper = type("VectorDumper", (_VectorDumper,), {"oid": info.oid})
    conn.adapters.register_dumper(None, dumper)  # COPY with set_types
    conn.adapters.register_dumper(np.ndarray, dumper)  # a query's vector parameter
    conn.adapters.register_loader(info.oid, _VectorLoader)
    conn.adapters.register_loader(info.oid, _VectorTextLoader)


# -- errors -----------------------------------------------------------------------------------

#: SQLSTATE classes that mean the server cannot serve now (connection lost or refused,
#: shutting down or starting, out of connections): StoreUnreachable, worth retrying
_UNREACHABLE_STATES = ("08", "57P", "53")


@contextlib.contextmanager
def _database_errors(where: str, what: str) -> Iterator[None]:
    """psycopg's errors as natoqa's: StoreUnreachable or IndexStoreError, naming ``where``
    (the server, without credentials) and ``what`` was being done."""
    try:
        yield
    except psycopg.Error as err:
        state = err.sqlstate or ""
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(err, psycopg.OperationalError) and (
            not state or state.startswith(_UNREACHABLE_STATES)
        ):
            raise StoreUnreachable(f"{what}: PostgreSQL at {where} cannot be reached: "
                                   f"{detail}") from err
        raise IndexStoreError(f"{what}: PostgreSQL at {where}: {detail}") from err


def describe_url(url: str) -> str:
    """``host:port/database`` of a connection URL, without user or password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unparsable URL)"
    host, port = params.get("host", "localhost"), params.get("port", 5432)
    return f"{host}:{port}/{params.get('dbname', '')}"


def check_url(url: str) -> str:
    """``url`` when it is a ``postgresql://`` (or ``postgres://``) URL libpq can parse;
    ValueError with the reason otherwise."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("a PostgreSQL store is a postgresql:// URL")
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as err:
        raise ValueError(f"not a valid PostgreSQL URL: {str(err).strip()}") from None
    return url


def _key(schema: str, purpose: str) -> int:
    """A stable signed 64-bit advisory lock key for a store's schema and a purpose."""
    digest = hashlib.sha256(f"natoqa.{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# -- what the store holds ---------------------------------------------------------------------


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
class VersionCheck:
    """What :meth:`PostgresStore.verify` counted of one version's live rows."""

    name: str
    documents: int
    passages: int
    units: int
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionRows:
    """A version's live passages (by document, then ordinal) with their vectors and
    their units' counts: what a test or a reader compares with what was written."""

    passages: list[Passage]
    vectors: Vectors
    units: list[int] = field(default_factory=list)


# -- the schema -------------------------------------------------------------------------------

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS store_schema (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  integer NOT NULL,
    dim      integer NOT NULL,
    created  timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE IF NOT EXISTS version_numbers;
CREATE SEQUENCE IF NOT EXISTS document_ids;
CREATE SEQUENCE IF NOT EXISTS passage_ids;
CREATE TABLE IF NOT EXISTS versions (
    number        bigint PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    manifest      jsonb NOT NULL,
    documents     integer NOT NULL,
    passages      integer NOT NULL,
    units         integer NOT NULL,
    build_seconds real NOT NULL DEFAULT 0,
    created       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS current_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL REFERENCES versions,
    since    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS documents (
    id           bigint PRIMARY KEY DEFAULT nextval('document_ids'),
    doc_id       text NOT NULL,
    content_hash text NOT NULL,
    fmt          text NOT NULL,
    meta         jsonb NOT NULL,
    passages     integer NOT NULL,
    added_in     bigint NOT NULL,
    retired_in   bigint CHECK (retired_in > added_in)
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_open ON documents (doc_id) WHERE retired_in IS NULL;
CREATE INDEX IF NOT EXISTS documents_interval ON documents (added_in, retired_in);
CREATE TABLE IF NOT EXISTS passages (
    id         bigint PRIMARY KEY DEFAULT nextval('passage_ids'),
    document   bigint NOT NULL REFERENCES documents ON DELETE CASCADE,
    passage_id text NOT NULL,
    ordinal    integer NOT NULL,
    kind       text NOT NULL,
    passage    jsonb NOT NULL,
    embedding  vector({dim}) NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_document ON passages (document, kind, ordinal);
CREATE INDEX IF NOT EXISTS passages_embedding ON passages
    USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef});
CREATE TABLE IF NOT EXISTS units (
    passage   bigint NOT NULL REFERENCES passages ON DELETE CASCADE,
    ordinal   integer NOT NULL,
    start_at  integer NOT NULL,
    end_at    integer NOT NULL,
    gap_start integer NOT NULL,
    gap_end   integer NOT NULL,
    embedding vector({dim}) NOT NULL,
    PRIMARY KEY (passage, ordinal)
);
CREATE INDEX IF NOT EXISTS units_embedding ON units
    USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef});
"""

#: schema 2: what the reader needs beyond vectors (BM25's postings and lengths, the
#: decompounder's word counts, abstention's names, the units' latent terms); NULL in rows
#: written by schema 1
_SCHEMA_V2_SQL = """
ALTER TABLE documents ADD COLUMN IF NOT EXISTS words jsonb;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS names text[];
ALTER TABLE passages ADD COLUMN IF NOT EXISTS length real;
ALTER TABLE units ADD COLUMN IF NOT EXISTS term_ids bytea;
ALTER TABLE units ADD COLUMN IF NOT EXISTS term_weights bytea;
CREATE TABLE IF NOT EXISTS postings (
    term    text NOT NULL,
    passage bigint NOT NULL REFERENCES passages ON DELETE CASCADE,
    tf      real NOT NULL,
    PRIMARY KEY (term, passage)
);
CREATE INDEX IF NOT EXISTS postings_passage ON postings (passage);
"""

#: live(d, v): document row d belongs to version v
_LIVE = "d.added_in <= %(v)s AND (d.retired_in IS NULL OR d.retired_in > %(v)s)"


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

    @staticmethod
    def _has_vector(conn: Connection) -> bool:
        return conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone() is not None

    def _schema_row(self, conn: Connection) -> tuple[int, int] | None:
        """(schema version, dim) of the store, or None when it has no schema yet."""
        exists = conn.execute("SELECT to_regclass('store_schema') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT version, dim FROM store_schema").fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _require_schema(self, conn: Connection) -> int:
        """The store's dimension; IndexNotFound without a schema, IndexIncompatible when a
        newer natoqa made it."""
        row = self._schema_row(conn)
        if row is None:
            raise IndexNotFound(f"no natoqa index in schema {self.schema!r} of {self.where}: "
                                f"build one first")
        if row[0] > SCHEMA_VERSION:
            raise IndexIncompatible(
                f"the index in {self.where} (schema {self.schema!r}) has store schema "
                f"{row[0]}; this natoqa knows up to {SCHEMA_VERSION}: upgrade natoqa")
        return row[1]

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
                if row[1] != dim:
                    raise IndexIncompatible(
                        f"the index in {self.where} (schema {self.schema!r}) holds {row[1]}-"
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
        with (self._errors("verifying a version"), self.connect() as conn,
              conn.transaction()):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            dim = self._require_schema(conn)
            number, name, manifest = self._version(conn, version)
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
        with (self._errors("reading passages"), self.connect() as conn,
              conn.transaction()):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            dim = self._require_schema(conn)
            number, _, _ = self._version(conn, version)
            cursor = conn.cursor(binary=True)
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
        with self._errors("reading documents"), self.connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._require_schema(conn)
            number, _, _ = self._version(conn, version)
            rows = conn.execute(
                "SELECT d.doc_id, d.meta, d.content_hash, d.passages, d.fmt FROM documents d "
                f"WHERE {_LIVE} ORDER BY d.doc_id", {"v": number}).fetchall()
        return {str(r[0]): DocumentRecord(str(r[0]), _meta_from_json(r[1]), str(r[2]),
                                          int(r[3]), str(r[4])) for r in rows}

    def word_counts(self, version: str | None = None, *,
                    exclude: Iterable[str] = ()) -> Counter[str]:
        """The decompounder's word counts of a version's live documents, but ``exclude``:
        what a build splits its new documents' compounds by, as the files build does."""
        with self._errors("reading word counts"), self.connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._require_schema(conn)
            number, _, _ = self._version(conn, version)
            rows = conn.execute(
                "SELECT w.key, sum(w.value::bigint) FROM documents d, jsonb_each_text(d.words) w "
                f"WHERE {_LIVE} AND d.doc_id <> ALL(%(x)s) GROUP BY w.key",
                {"v": number, "x": sorted(exclude)}).fetchall()
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
            dim = self.store._require_schema(conn)
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


def _count_rows(conn: Connection, number: int) -> tuple[int, int, int]:
    """Live documents, passages and units of version ``number``."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM documents d WHERE " + _LIVE + "), "
        "(SELECT count(*) FROM passages p JOIN documents d ON d.id = p.document WHERE "
        + _LIVE + "), "
        "(SELECT count(*) FROM units u JOIN passages p ON p.id = u.passage "
        "JOIN documents d ON d.id = p.document WHERE " + _LIVE + ")",
        {"v": number}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _check_rows(conn: Connection, number: int, name: str, manifest: Manifest, dim: int,
                recorded: tuple[int, int, int]) -> VersionCheck:
    """Version ``number``'s live rows against its manifest and the counts recorded."""
    problems: list[str] = []
    if manifest.version != name:
        problems.append(f"its manifest names version {manifest.version}")
    if manifest.dim != dim:
        problems.append(f"its manifest says {manifest.dim} dimensions, the store {dim}")
    documents, passages, units = _count_rows(conn, number)
    if (documents, passages, units) != recorded:
        problems.append(f"{documents} documents, {passages} passages, {units} units; "
                        f"recorded at its commit: {recorded[0]}, {recorded[1]}, {recorded[2]}")
    if passages != manifest.passage_count:
        problems.append(f"{passages} passages, the manifest says {manifest.passage_count}")
    hashes = {str(r[0]): str(r[1]) for r in conn.execute(
        f"SELECT d.doc_id, d.content_hash FROM documents d WHERE {_LIVE}",
        {"v": number}).fetchall()}
    if hashes != manifest.documents:
        extra = sorted(set(hashes) - set(manifest.documents))
        missing = sorted(set(manifest.documents) - set(hashes))
        changed = sorted(d for d in set(hashes) & set(manifest.documents)
                         if hashes[d] != manifest.documents[d])
        problems.append(f"documents differ from the manifest: extra {extra[:5]}, missing "
                        f"{missing[:5]}, other content {changed[:5]}")
    short = conn.execute(
        "SELECT d.doc_id FROM documents d LEFT JOIN passages p ON p.document = d.id "
        f"WHERE {_LIVE} GROUP BY d.id, d.doc_id, d.passages "
        "HAVING count(p.id) <> d.passages LIMIT 5", {"v": number}).fetchall()
    if short:
        problems.append(f"documents whose passages are not all there: "
                        f"{[str(r[0]) for r in short]}")
    bad = conn.execute(
        "SELECT (SELECT count(*) FROM passages p JOIN documents d ON d.id = p.document "
        f"WHERE {_LIVE} AND vector_dims(p.embedding) <> %(dim)s), "
        "(SELECT count(*) FROM units u JOIN passages p ON p.id = u.passage "
        f"JOIN documents d ON d.id = p.document WHERE {_LIVE} "
        "AND vector_dims(u.embedding) <> %(dim)s)", {"v": number, "dim": dim}).fetchone()
    if bad is not None and (bad[0] or bad[1]):
        problems.append(f"vectors of another dimension than {dim}: {bad[0]} passages, "
                        f"{bad[1]} units")
    return VersionCheck(name, documents, passages, units, tuple(problems))


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


def _passage(data: dict[str, Any]) -> Passage:
    data = dict(data)
    data["footnote_refs"] = tuple(data.get("footnote_refs", ()))
    return Passage(**data)
