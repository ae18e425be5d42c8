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
version's retired documents' words are taken off), so a version opened this way ranks as
the same version opened afresh. A cohort keeps the words of its documents it has seen
retired: once a build prunes them, their words are taken off the cohort's counts for good
without reading the cohort again (a prune follows every build, so an edit of a document
the first build loaded would otherwise mean reading the whole corpus again a few builds
later). Only a document pruned before the server saw it retired (a server that skipped
versions) makes it read its cohort again.

Builds add a cohort each, so a server would hold one per build ever made, and BM25 and
the open pay per cohort. Adjacent small cohorts are merged in memory as they accumulate,
tiered as the files store merges segments (:data:`MERGE_FACTOR`), and a cohort mostly
of pruned rows is compacted: a server holds about ``MERGE_FACTOR * log(corpus)``.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
_WORDS = "SELECT d.id, d.words FROM documents d WHERE d.id = ANY(%s)"
_POSTINGS = (
    "SELECT o.term, o.passage, o.tf FROM postings o JOIN passages p ON p.id = o.passage "
    "JOIN documents d ON d.id = p.document WHERE d.added_in = %(k)s")
_UNITS = (
    "SELECT p.document, count(*), count(u.term_ids) FROM units u JOIN passages p ON "
    "p.id = u.passage JOIN documents d ON d.id = p.document WHERE d.added_in = %(k)s "
    "GROUP BY p.document")


#: adjacent cohorts under a tenth of a version's rows are merged once this many of one
#: size tier (log base MERGE_FACTOR of their rows) stand together: the files store's
#: policy (:data:`natoqa.index.builder.MERGE_FACTOR`)
MERGE_FACTOR = 4
#: a cohort of which this share of rows belongs to pruned documents is compacted
MERGE_DEAD = 0.5


@dataclass(frozen=True)
class Cohort:
    """The passages of the documents versions ``numbers`` added (adjacent among the
    versions it was merged for: one, unless merged), ascending by id."""

    numbers: tuple[int, ...]  # ascending
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
    #: documents.id of its documents not pruned yet (their words are in ``lexicon``)
    documents: frozenset[int]
    #: documents.id → word counts, of its documents seen not live: a cache of facts that
    #: never change, filled as versions are opened (under :class:`Cohorts`' lock)
    retired: dict[int, dict[str, int]] = field(default_factory=dict, compare=False, repr=False)

    def dead(self) -> npt.NDArray[np.bool_]:
        """Which rows belong to pruned documents (no version has them any more)."""
        return ~np.isin(self.document, np.fromiter(self.documents, np.int64, len(self.documents)))

    def live(self, documents: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """This cohort's rows whose documents are among ``documents`` (sorted ids)."""
        return np.flatnonzero(np.isin(self.document, documents))

    def lexicon_of(self, live: set[int]) -> Lexicon | None:
        """The lexicon for a version whose live documents are ``live`` (the cohort as
        :meth:`for_version` gave it): the word counts without its other documents'."""
        gone = self.documents - live
        if self.lexicon is None or not gone:
            return self.lexicon
        counts = Counter(self.lexicon.word_counts)
        for document in gone:
            counts.subtract(self.retired[document])
        return replace(self.lexicon, word_counts=+counts)  # (+: what is left above 0)

    def for_version(self, live: set[int], words: dict[int, dict[str, int]]) -> Cohort | None:
        """This cohort for a version whose live documents are ``live``, given the words of
        its documents not live that are still stored (``words``, read in the version's
        snapshot): itself, or without the documents pruned since (their words taken off
        for good); None when one was pruned before its words were seen."""
        gone = self.documents - live
        if self.lexicon is None or not gone:
            return self
        self.retired.update((d, words[d]) for d in gone if d in words)
        pruned = gone - words.keys()
        if not pruned:
            return self
        if not pruned <= self.retired.keys():
            return None
        counts = Counter(self.lexicon.word_counts)
        for document in pruned:
            counts.subtract(self.retired[document])
        return replace(self, lexicon=replace(self.lexicon, word_counts=+counts),
                       documents=self.documents - pruned,
                       retired={d: w for d, w in self.retired.items() if d not in pruned})


def read_cohort(conn: Connection, number: int, live: set[int] | None = None) -> Cohort:
    """The cohort of version ``number``, in the snapshot ``conn`` is in, with the words of
    its documents not among ``live`` (default: all are) kept."""
    k = {"k": number}  # (one version: merged cohorts are made in memory)
    rows = conn.execute(_PASSAGES, k).fetchall()
    documents = conn.execute(_DOCUMENTS, k).fetchall()
    postings = conn.execute(_POSTINGS, k).fetchall()
    units = {int(r[0]): (int(r[1]), int(r[2])) for r in conn.execute(_UNITS, k).fetchall()}
    ids = np.fromiter((int(r[0]) for r in rows), np.int64, len(rows))
    lengths = [r[7] for r in rows]
    stored = all(x is not None for x in lengths) and all(r[1] is not None for r in documents)
    return Cohort(
        numbers=(number,), ids=ids,
        document=np.fromiter((int(r[1]) for r in rows), np.int64, len(rows)),
        passage_ids=[str(r[2]) for r in rows], doc_ids=[str(r[3]) for r in rows],
        kinds=[str(r[4]) for r in rows], ordinals=[int(r[5]) for r in rows],
        chars=[int(r[6]) for r in rows],
        lexicon=_lexicon(postings, ids, np.asarray(lengths, np.float32),
                         [r[1] for r in documents]) if stored else None,
        names={int(r[0]): list(r[2] or ()) for r in documents} if stored else None,
        units=units, documents=frozenset(int(r[0]) for r in documents),
        retired={int(r[0]): _counts(r[1]) for r in documents
                 if live is not None and int(r[0]) not in live} if stored else {})


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


def merge(cohorts: Sequence[Cohort]) -> Cohort:
    """One cohort of ``cohorts`` (adjacent, in order), without their pruned documents' rows
    (of one cohort: that one compacted)."""
    keep = [np.flatnonzero(~c.dead()) for c in cohorts]

    def column(name: str) -> list[Any]:
        return [x for c, rows in zip(cohorts, keep, strict=True)
                for x in (getattr(c, name)[i] for i in rows)]

    lexicons = [(c.lexicon, rows) for c, rows in zip(cohorts, keep, strict=True)
                if c.lexicon is not None]
    return Cohort(
        numbers=tuple(sorted(itertools.chain.from_iterable(c.numbers for c in cohorts))),
        ids=np.concatenate([c.ids[rows] for c, rows in zip(cohorts, keep, strict=True)]),
        document=np.concatenate([c.document[rows] for c, rows in zip(cohorts, keep,
                                                                     strict=True)]),
        passage_ids=column("passage_ids"), doc_ids=column("doc_ids"), kinds=column("kinds"),
        ordinals=column("ordinals"), chars=column("chars"),
        lexicon=_merged_lexicon(lexicons) if len(lexicons) == len(cohorts) else None,
        names=None if any(c.names is None for c in cohorts) else
        {d: n for c in cohorts for d, n in (c.names or {}).items() if d in c.documents},
        units={d: u for c in cohorts for d, u in c.units.items() if d in c.documents},
        documents=frozenset().union(*(c.documents for c in cohorts)),
        retired={d: w for c in cohorts for d, w in c.retired.items()})


def _merged_lexicon(parts: Sequence[tuple[Lexicon, npt.NDArray[np.int64]]]) -> Lexicon:
    """The lexicons' postings over the rows ``keep`` of each, one after the other."""
    vocabulary: dict[str, int] = {}
    term_of, rows, tf, lengths = [], [], [], []
    counts: Counter[str] = Counter()
    offset = 0
    for lexicon, keep in parts:
        renumbered = np.full(lexicon.size, -1, dtype=np.int64)
        renumbered[keep] = offset + np.arange(len(keep))
        offset += len(keep)
        terms = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in lexicon.terms),
                            np.int64, len(lexicon.terms))
        posting_rows = renumbered[lexicon.rows]
        kept = posting_rows >= 0
        term_of.append(np.repeat(terms, np.diff(lexicon.indptr))[kept])
        rows.append(posting_rows[kept])
        tf.append(lexicon.tf[kept])
        lengths.append(lexicon.lengths[keep])
        counts.update(lexicon.word_counts)
    # a term of dropped rows alone is dropped: every term of a lexicon has postings
    used, renumbered_terms = np.unique(np.concatenate(term_of), return_inverse=True)
    names = list(vocabulary)
    return replace(Lexicon.from_postings([names[t] for t in used], renumbered_terms,
                                         np.concatenate(rows), np.concatenate(tf),
                                         np.concatenate(lengths), counts),
                   decompound=all(lexicon.decompound for lexicon, _ in parts))


def merged(cohorts: Sequence[Cohort]) -> list[Cohort]:
    """``cohorts`` (in order) with each run of at least MERGE_FACTOR adjacent small cohorts
    of one size tier merged, and cohorts mostly of pruned rows compacted."""
    total = sum(len(c.ids) for c in cohorts)

    def tier(cohort: Cohort) -> int | None:
        small = len(cohort.ids) < total / 10
        return int(math.log(max(len(cohort.ids), 1), MERGE_FACTOR)) if small else None

    out: list[Cohort] = []
    for level, run in itertools.groupby(cohorts, tier):
        group = list(run)
        if level is not None and len(group) >= MERGE_FACTOR:
            out.append(merge(group))
        else:
            out.extend(merge([c]) if _dead_share(c) >= MERGE_DEAD else c for c in group)
    return out


def _dead_share(cohort: Cohort) -> float:
    dead = cohort.dead()
    return float(dead.mean()) if len(dead) else 0.0


class Cohorts:
    """The cohorts a server read, for the next version it opens: after each open it holds
    exactly that version's (what the versions it serves share, not a growing cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: object = None  # the store's identity: its schema's creation time
        self._held: list[Cohort] = []

    def read(self, conn: Connection, store: object, numbers: Sequence[int],
             live: set[int]) -> list[Cohort]:
        """The cohorts of versions ``numbers`` for a version whose live documents are
        ``live``, those not held read from ``conn`` (in its snapshot), in order. ``store``
        names the store's incarnation: a schema dropped and made again numbers its
        versions from 1 again, and nothing held from before may be taken for them."""
        with self._lock:
            wanted = set(numbers)
            # a merged cohort around a wanted version it does not hold (a rollback to a
            # version whose documents had all gone when it was merged) would break the
            # rows' order: its versions are read again
            held = [c for c in (self._held if store == self._store else [])
                    if wanted.intersection(c.numbers) and not any(
                        c.numbers[0] < n < c.numbers[-1] and n not in c.numbers
                        for n in wanted)]
            # the held cohorts' documents not live here: words of those still stored
            # (one query; few: the documents builds replaced since, back to the oldest
            # version kept)
            gone = sorted(set().union(*(c.documents - live for c in held
                                        if c.lexicon is not None)))
            words = {int(d): _counts(w) for d, w in
                     conn.execute(_WORDS, (gone,)).fetchall()} if gone else {}
            out = [c for c in (h.for_version(live, words) for h in held) if c is not None]
            covered = set(itertools.chain.from_iterable(c.numbers for c in out))
            out += [read_cohort(conn, n, live) for n in numbers if n not in covered]
            out = merged(sorted(out, key=lambda c: c.numbers[0]))
            self._store, self._held = store, out
        return out

