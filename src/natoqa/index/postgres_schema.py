"""The PostgreSQL store's schema and the SQL every part of it shares (issue 20).

Its tables (docs/SCALE-OUT.md §2a; :mod:`natoqa.index.postgres` has the layout), pgvector's
binary vectors without the ``pgvector`` package, psycopg's errors as natoqa's, and the
checks of a version's rows against its manifest that a build runs before its commit and
``natoqa index list --verify`` runs after. psycopg is imported only by the PostgreSQL
modules (the ``postgres`` extra).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.errors import IndexStoreError, StoreUnreachable
from natoqa.index.store import Manifest

try:
    import psycopg
    from psycopg.abc import Buffer
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo
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


# -- the schema and a version's rows ----------------------------------------------------------

@dataclass(frozen=True)
class VersionCheck:
    """What :meth:`PostgresStore.verify` counted of one version's live rows."""

    name: str
    documents: int
    passages: int
    units: int
    problems: tuple[str, ...] = ()


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
