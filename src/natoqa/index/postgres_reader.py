"""A version of the PostgreSQL store opened for questions: the reader half (issue 20).

:class:`PostgresVersion` implements :class:`natoqa.index.reader.VersionReader`
(docs/SCALE-OUT.md §2b). Opening a version reads, in one ``REPEATABLE READ READ ONLY``
snapshot, what is per version and asked for by every question: the live documents, and
by cohort (:mod:`natoqa.index.postgres_cohorts`; only those the last version opened did
not have) the passages' columns (ids, documents, kinds, lengths), BM25's postings and
lengths, the decompounder's word counts and the names. A question then costs one HNSW query per
query vector and graph (:meth:`PostgresVersion.nearest`) and one query for its
candidates' rows (:meth:`PostgresVersion.fetch`); a passage's text is fetched when a hit
needs it. Every query names the version's number, never "current": a version opened
keeps answering from its own rows while others are committed (rows are immutable; only
pruning deletes them).

Works on a primary and on a hot standby. Each question running at once has a connection of
its own (up to four kept idle for the next ones); a lost one is dropped and a new one
opened at the next call, and errors are natoqa's
(:class:`~natoqa.errors.StoreUnreachable` when the server cannot be reached).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexStoreError, StoreUnreachable
from natoqa.index.lexicon import Lexicon
from natoqa.index.postgres import PostgresStore, _passage
from natoqa.index.postgres_cohorts import Cohorts
from natoqa.index.postgres_schema import _LIVE, SCHEMA_VERSION, Connection
from natoqa.index.reader import Rows, StoredRows, Vectors
from natoqa.index.reading_order import ReadingOrder
from natoqa.index.segments import PassageTable
from natoqa.index.store import DocumentRecord, _meta_from_json, check_compatible
from natoqa.models import Passage
from natoqa.text.analyzer import identifiers

log = logging.getLogger(__name__)
T = TypeVar("T")

#: pgvector's largest ``hnsw.ef_search``
MAX_EF_SEARCH = 1000
#: passages whose texts are kept once fetched (hits are asked for several times)
_CACHED_PASSAGES = 4096
#: connections an opened version keeps for the next questions
_IDLE_CONNECTIONS = 4
#: a query vector's nearest passages, and the passages of its nearest units (live in %(v)s)
_NEAREST_PASSAGES = ("SELECT p.id FROM passages p JOIN documents d ON d.id = p.document "
                     f"WHERE {_LIVE} ORDER BY p.embedding <=> %(q)s LIMIT %(w)s")
_NEAREST_UNITS = ("SELECT u.passage FROM units u JOIN passages p ON p.id = u.passage "
                  f"JOIN documents d ON d.id = p.document WHERE {_LIVE} "
                  "ORDER BY u.embedding <=> %(q)s LIMIT %(w)s")
#: candidates' rows: their vectors; their units in order, each unit's vector (loaded as
#: raw bytes: pgvector's binary form, a 4-byte header and float4 big-endian) and its
#: latent terms as written (little-endian int32 ids, float32 weights)
_FETCH_PASSAGES = "SELECT p.embedding FROM passages p WHERE p.id = ANY(%s) ORDER BY p.id"
_FETCH_UNITS = (
    "SELECT u.passage, u.start_at, u.end_at, u.embedding, "
    "u.term_ids, u.term_weights FROM units u WHERE u.passage = ANY(%s) "
    "ORDER BY u.passage, u.ordinal")

class _RawLoader(Loader):
    """A binary value as its bytes (the units' vectors, converted all at once)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


class PostgresVersion(ReadingOrder):
    """One version of a :class:`PostgresStore` (default: the current one), opened for
    questions. IndexNotFound without it; IndexIncompatible for a store of an older schema
    (a build with this natoqa upgrades it)."""

    passages: PassageTable

    def __init__(self, store: PostgresStore, version: str | None = None,
                 cohorts: Cohorts | None = None) -> None:
        """``cohorts``: what the server read for the versions it opened before (the next
        open reads only the rest)."""
        self.store = store
        self._lock = threading.Lock()
        self._idle: list[Connection] = []
        self._closed = False
        with self._session("opening a version") as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            schema = store._require_schema(conn)
            if schema.version < SCHEMA_VERSION:
                raise IndexIncompatible(
                    f"the index in {store.where} (schema {store.schema!r}) has store schema "
                    f"{schema.version}: build once with this natoqa to upgrade it")
            self.number, self.version, self.manifest = store._version(conn, version)
            self.dim = schema.dim
            docs = conn.execute(
                "SELECT d.id, d.doc_id, d.meta, d.content_hash, d.passages, d.fmt, d.added_in "
                f"FROM documents d WHERE {_LIVE} ORDER BY d.doc_id", {"v": self.number}
            ).fetchall()
            alive = {int(r[0]) for r in docs}
            parts = (cohorts or Cohorts()).read(conn, (schema.version, schema.created),
                                                sorted({int(r[6]) for r in docs}), alive)
        lexicons = [c.lexicon_of(alive) for c in parts]
        self.documents = {str(r[1]): DocumentRecord(str(r[1]), _meta_from_json(r[2]),
                                                    str(r[3]), int(r[4]), str(r[5]))
                          for r in docs}
        live_docs = np.asarray(sorted(alive), dtype=np.int64)
        #: each cohort with its rows live in this version: the version's rows, in order
        self._parts = [(c, c.live(live_docs)) for c in parts]
        self._lexicons = lexicons
        self._alive = alive
        #: passages.id of each row, ascending (ids grow with the version that wrote them)
        self.ids = np.concatenate([c.ids[live] for c, live in self._parts]) if parts \
            else np.zeros(0, dtype=np.int64)
        if len(self.ids) > 1 and not bool(np.all(np.diff(self.ids) > 0)):
            raise IndexCorrupt(f"index version {self.version}: passage ids do not grow with "
                               "the versions that wrote them")

        def column(name: str) -> list[Any]:
            return [x for c, live in self._parts for x in (getattr(c, name)[i] for i in live)]

        self.passages = PassageTable(column("passage_ids"), column("doc_ids"), column("kinds"),
                                     column("ordinals"), column("chars"),
                                     functools.lru_cache(_CACHED_PASSAGES)(self._passage))
        self._order(self.passages.ids, self.passages.doc_ids, self.passages.ordinals,
                    self.passages.kinds)
        counts = [n for c in parts for d, n in c.units.items() if d in alive]
        self.unit_count = sum(n for n, _ in counts)
        self.stored_terms = self.unit_count > 0 and sum(t for _, t in counts) == self.unit_count

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"PostgresVersion({self.store.where}, {self.version})"

    # -- connection -----------------------------------------------------------------------

    def _run(self, what: str, query: Callable[[Connection], T]) -> T:
        """``query`` on a connection of the version's own; once more on a new connection
        when it fails as unreachable: an idle connection is found dead only when used,
        after the server restarted or failed over since."""
        try:
            with self._session(what) as conn:
                return query(conn)
        except StoreUnreachable:
            with self._session(what, fresh=True) as conn:
                return query(conn)

    @contextmanager
    def _session(self, what: str, *, fresh: bool = False) -> Iterator[Connection]:
        """A connection of the version's own (an idle one unless ``fresh``, or a new one:
        one per question running at once), with psycopg's errors as natoqa's; a lost one
        is dropped."""
        with self.store._errors(what):
            with self._lock:
                conn = self._idle.pop() if self._idle and not fresh else None
            if conn is None or conn.closed or conn.broken:
                conn = self.store.connect()
            try:
                yield conn
            finally:
                if conn.closed or conn.broken or \
                        conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    with self._lock:
                        keep = not self._closed and len(self._idle) < _IDLE_CONNECTIONS
                        if keep:
                            self._idle.append(conn)
                    if not keep:
                        conn.close()

    def close(self) -> None:
        """Close the version's connections (it cannot be asked again)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- per-version tables ---------------------------------------------------------------

    def lexicons(self) -> list[tuple[Lexicon, Rows]]:
        if all(lexicon is not None for lexicon in self._lexicons):
            return [(lexicon, live) for lexicon, (_, live) in zip(self._lexicons, self._parts,
                                                                  strict=True)
                    if lexicon is not None]
        # rows written by schema 1: derived (slow, as files of format 1)
        log.warning("index %s has no stored postings (written by an older natoqa): "
                    "analysing its passages; rebuild it to open faster", self.version)
        lexicon = Lexicon.build([p.text for p in self.passages])
        return [(lexicon, np.arange(len(self), dtype=np.int64))]

    def names(self) -> set[str]:
        if all(c.names is not None for c, _ in self._parts):
            return set().union(*(names for c, _ in self._parts if c.names is not None
                                 for d, names in c.names.items() if d in self._alive))
        return set().union(*(identifiers(p.text) for p in self.passages))

    def _passage(self, row: int) -> Passage:
        found = self._run("reading a passage", lambda conn: conn.execute(
            "SELECT passage FROM passages WHERE id = %s", (int(self.ids[row]),)).fetchone())
        assert found is not None, "a live passage row is gone (pruned under a reader?)"
        return _passage(found[0])

    # -- questions ------------------------------------------------------------------------

    def nearest(self, queries: Vectors, width: int, ef: int, *,
                units: bool | None = None, unit_ef: int | None = None) -> Rows:
        """HNSW's ``width`` nearest passages and passages of the ``width`` nearest units
        (``units``: only these, or only passages) of each query vector among the
        version's live rows, in one round trip (a pipeline). pgvector returns at most
        ``hnsw.ef_search`` rows of a scan, so it is set to at least ``width``;
        ``iterative_scan`` keeps scanning where the version's filter drops rows."""
        searches = [(_NEAREST_PASSAGES, ef), (_NEAREST_UNITS, ef if unit_ef is None else unit_ef)]
        graphs = searches[1:] if units else searches[:1] if units is False else searches

        def search(conn: Connection) -> list[int]:
            found: list[int] = []
            cursors = []
            with conn.transaction():
                with conn.pipeline():
                    for sql, wide in graphs:
                        conn.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                                     "set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                                     (str(min(MAX_EF_SEARCH, max(width, wide))),))
                        cursors += [conn.execute(sql, {"v": self.number, "q": query, "w": width})
                                    for query in np.asarray(queries, dtype=np.float32)]
                for cursor in cursors:
                    found.extend(int(r[0]) for r in cursor.fetchall())
            return found

        found = self._run("searching nearest neighbours", search)
        return self._rows_of(np.asarray(found, dtype=np.int64))

    @staticmethod
    def _vector_oid(conn: Connection) -> int:
        info = conn.adapters.types.get("vector")
        if info is None:
            raise IndexStoreError("the database has no pgvector")
        return int(info.oid)

    def _rows_of(self, ids: npt.NDArray[np.int64]) -> Rows:
        """The rows of passages ``ids`` (ids not in the version dropped)."""
        if not len(ids) or not len(self.ids):
            return np.zeros(0, dtype=np.int64)
        rows: Rows = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.asarray(rows[self.ids[rows] == ids], dtype=np.int64)

    def fetch(self, rows: Rows) -> StoredRows:
        """The passages' vectors, and their units' vectors, spans and terms: two queries in
        one round trip (units' vectors as raw bytes, joined once: loading a vector object
        per unit, or aggregating them in the server, cost more than the queries)."""
        ids = self.ids[rows].tolist()

        def read(conn: Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            cursor, units_cursor = conn.cursor(binary=True), conn.cursor(binary=True)
            units_cursor.adapters.register_loader(self._vector_oid(conn), _RawLoader)
            with conn.pipeline():
                cursor.execute(_FETCH_PASSAGES, (ids,))
                units_cursor.execute(_FETCH_UNITS, (ids,))
            return cursor.fetchall(), units_cursor.fetchall()

        found, units = self._run("reading candidates", read)
        if len(found) != len(rows):
            raise IndexStoreError(f"index {self.version}: {len(found)} of {len(rows)} "
                                  f"candidate passages found (pruned under a reader?)")
        n = len(units)
        owner = np.fromiter((int(u[0]) for u in units), np.int64, n)
        with_terms = self.stored_terms and n > 0 and all(u[4] is not None for u in units)
        return StoredRows(
            passage=np.stack([r[0] for r in found]).astype(np.float32, copy=False) if found
            else np.zeros((0, self.dim), np.float32),
            units=np.frombuffer(b"".join(u[3] for u in units), dtype=">f4")
            .reshape(n, self.dim + 1)[:, 1:].astype(np.float32),
            unit_of=np.searchsorted(self.ids[rows], owner).astype(np.int64),
            spans=np.asarray([(u[1], u[2]) for u in units], dtype=np.int32).reshape(n, 2),
            term_ids=np.frombuffer(b"".join(u[4] for u in units), dtype="<i4")
            .reshape(n, -1).astype(np.int32) if with_terms else None,
            term_weights=np.frombuffer(b"".join(u[5] for u in units), dtype="<f4")
            .reshape(n, -1).astype(np.float32) if with_terms else None)


class PostgresVersions:
    """Where a server takes its versions from in PostgreSQL, as :class:`IndexStore` is for
    files: the current version's name (polled by the reloader) and a version opened for
    questions. Works on a primary and on a hot standby."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.where = f"{store.where} (schema {store.schema})"
        self._cohorts = Cohorts()

    def current(self) -> str | None:
        return self.store.current()

    def check(self, *, expect_model: str | None = None) -> None:
        # the manifest alone: opening a version reads every passage's row and posting
        check_compatible(self.store.manifest(), expect_model=expect_model)

    def load(self, version: str | None = None, *, expect_dim: int | None = None,
             expect_model: str | None = None) -> PostgresVersion:
        """The version opened; IndexIncompatible when its vectors are not the model's."""
        opened = PostgresVersion(self.store, version, self._cohorts)
        try:
            check_compatible(opened.manifest, expect_dim, expect_model)
        except IndexStoreError:
            opened.close()
            raise
        return opened
