"""What opening a PostgreSQL version reads, by cohort: the documents one version added.

Rows never change once written (a changed document is a new row; only its ``retired_in``
is set later, and pruning deletes), so the passages' columns, BM25's postings, the word
counts and the names of the documents one version added are the same whichever later
version is opened. A server keeps them (:class:`Cohorts`): opening the next version reads
the list of its live documents and only the cohorts not held yet, a one-document build's.
A switch costs the change, not the corpus, and the two versions share what they have in
common instead of holding two copies (docs/SCALE-OUT.md §2b).

A cohort holds all its documents, retired ones too: which rows are live is the version's.
BM25's document frequencies and lengths count live rows only (:mod:`natoqa.retrieve.lexical`);
the decompounder's word counts and the known names are the live documents' too (a
version's retired documents' words are read and taken off), so a version opened this way
ranks as the same version opened afresh.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.index.lexicon import Lexicon
from natoqa.index.postgres_schema import Connection

_PASSAGES = (
    "SELECT p.id, p.document, p.passage_id, d.doc_id, p.kind, p.ordinal, "
    "length(p.passage->>'text'), p.length FROM passages p JOIN documents d ON d.id = p.document "
    "WHERE d.added_in = %(k)s ORDER BY p.id")
_DOCUMENTS = "SELECT d.id, d.words, d.names FROM documents d WHERE d.added_in = %(k)s"
_COUNTS = ("SELECT d.added_in, count(*) FROM documents d WHERE d.added_in = ANY(%s) "
           "GROUP BY d.added_in")
_WORDS = "SELECT d.words FROM documents d WHERE d.id = ANY(%s)"
_POSTINGS = (
    "SELECT o.term, o.passage, o.tf FROM postings o JOIN passages p ON p.id = o.passage "
    "JOIN documents d ON d.id = p.document WHERE d.added_in = %(k)s")
_UNITS = (
    "SELECT p.document, count(*), count(u.term_ids) FROM units u JOIN passages p ON "
    "p.id = u.passage JOIN documents d ON d.id = p.document WHERE d.added_in = %(k)s "
    "GROUP BY p.document")


@dataclass(frozen=True)
class Cohort:
    """The passages of the documents version ``number`` added, ascending by id."""

    number: int
    ids: npt.NDArray[np.int64]  # passages.id
    document: npt.NDArray[np.int64]  # documents.id of each passage
    passage_ids: list[str]
    doc_ids: list[str]
    kinds: list[str]
    ordinals: list[int]
    chars: list[int]  # text length
    #: BM25's postings over these passages, the word counts of all its documents;
    #: None for rows of store schema 1 (none stored)
    lexicon: Lexicon | None
    #: documents.id → the identifiers it contains (None as ``lexicon``)
    names: dict[int, list[str]] | None
    #: documents.id → (its units, those with latent terms)
    units: dict[int, tuple[int, int]]
    documents: frozenset[int]  # documents.id of all its documents

    def live(self, documents: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """This cohort's rows whose documents are among ``documents`` (sorted ids)."""
        return np.flatnonzero(np.isin(self.document, documents))

    def lexicon_of(self, conn: Connection, live: set[int]) -> Lexicon | None:
        """The lexicon for a version whose live documents are ``live``: the word counts
        without its retired documents' words (read in ``conn``'s snapshot)."""
        retired = sorted(self.documents - live)
        if self.lexicon is None or not retired:
            return self.lexicon
        counts = Counter(self.lexicon.word_counts)
        for (words,) in conn.execute(_WORDS, (retired,)).fetchall():
            counts.subtract(_counts(words))
        return replace(self.lexicon, word_counts=+counts)  # (+: what is left above 0)


def read_cohort(conn: Connection, number: int) -> Cohort:
    """The cohort of version ``number``, in the snapshot ``conn`` is in."""
    k = {"k": number}
    rows = conn.execute(_PASSAGES, k).fetchall()
    documents = conn.execute(_DOCUMENTS, k).fetchall()
    postings = conn.execute(_POSTINGS, k).fetchall()
    units = {int(r[0]): (int(r[1]), int(r[2])) for r in conn.execute(_UNITS, k).fetchall()}
    ids = np.fromiter((int(r[0]) for r in rows), np.int64, len(rows))
    lengths = [r[7] for r in rows]
    stored = all(x is not None for x in lengths) and all(r[1] is not None for r in documents)
    return Cohort(
        number=number, ids=ids,
        document=np.fromiter((int(r[1]) for r in rows), np.int64, len(rows)),
        passage_ids=[str(r[2]) for r in rows], doc_ids=[str(r[3]) for r in rows],
        kinds=[str(r[4]) for r in rows], ordinals=[int(r[5]) for r in rows],
        chars=[int(r[6]) for r in rows],
        lexicon=_lexicon(postings, ids, np.asarray(lengths, np.float32),
                         [r[1] for r in documents]) if stored else None,
        names={int(r[0]): list(r[2] or ()) for r in documents} if stored else None,
        units=units, documents=frozenset(int(r[0]) for r in documents))


def _counts(words: Any) -> dict[str, int]:
    return words if isinstance(words, dict) else dict(json.loads(words))


def _lexicon(postings: Sequence[tuple[Any, ...]], ids: npt.NDArray[np.int64],
             lengths: npt.NDArray[np.float32], words: Sequence[Any]) -> Lexicon:
    vocabulary: dict[str, int] = {}
    term_of = np.fromiter((vocabulary.setdefault(str(r[0]), len(vocabulary))
                           for r in postings), np.int64, len(postings))
    passage = np.fromiter((int(r[1]) for r in postings), np.int64, len(postings))
    tf = np.fromiter((float(r[2]) for r in postings), np.float32, len(postings))
    counts: Counter[str] = Counter()
    for document in words:
        counts.update(_counts(document))
    return Lexicon.from_postings(list(vocabulary), term_of, np.searchsorted(ids, passage),
                                 tf, lengths, counts)


class Cohorts:
    """The cohorts a server read, for the next version it opens: after each open it holds
    exactly that version's (what the versions it serves share, not a growing cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: object = None  # the store's identity: its schema's creation time
        self._held: dict[int, Cohort] = {}

    def read(self, conn: Connection, store: object, numbers: Sequence[int]) -> list[Cohort]:
        """The cohorts ``numbers``, those not held read from ``conn`` (in its snapshot).
        ``store`` names the store's incarnation: a schema dropped and made again numbers
        its versions from 1 again, and nothing held from before may be taken for them."""
        with self._lock:
            held = self._held if store == self._store else {}
            # a held cohort that lost documents to a prune since is read again (their
            # words could not be taken off): its documents' count tells
            counts: dict[int, int] = {int(k): int(n) for k, n in conn.execute(
                _COUNTS, ([n for n in numbers if n in held],)).fetchall()} if held else {}
            out = [c if (c := held.get(n)) is not None and counts.get(n) == len(c.documents)
                   else read_cohort(conn, n) for n in numbers]
            self._store, self._held = store, {c.number: c for c in out}
        return out

