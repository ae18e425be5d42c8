"""The inverted index of an index version: for every term, the passages that hold it.

Built once with the version and stored beside it, so a server opens it (memory-mapped)
instead of re-analysing every passage at start-up. It keeps raw statistics — term
frequencies, passage lengths, the corpus's word counts for splitting compounds —
not precomputed BM25 scores, so scoring (:mod:`natoqa.retrieve.lexical`) reads the
collection's statistics at query time and a question costs what its terms' postings
cost, not what the corpus costs.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.text.analyzer import words
from natoqa.text.compounds import Analyzer, Decompounder

#: the version's files (``*.npy`` memory-mapped; the JSON holds the vocabulary)
TERMS_FILE = "lexicon.json"
INDPTR_FILE = "lexicon_indptr.npy"
ROWS_FILE = "lexicon_rows.npy"
TF_FILE = "lexicon_tf.npy"
LENGTHS_FILE = "lexicon_lengths.npy"
ARRAY_FILES = (INDPTR_FILE, ROWS_FILE, TF_FILE, LENGTHS_FILE)


@dataclass(frozen=True)
class Lexicon:
    """Postings in CSC form: term ``t``'s passages are ``rows[indptr[t]:indptr[t+1]]``."""

    terms: Sequence[str]
    indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    tf: npt.NDArray[np.float32]
    #: each passage's number of index terms (its BM25 length)
    lengths: npt.NDArray[np.float32]
    #: how often each word stands in the corpus: what the decompounder splits by
    word_counts: Counter[str]
    decompound: bool = True

    @property
    def size(self) -> int:
        return len(self.lengths)

    def analyzer(self) -> Analyzer:
        return Analyzer(Decompounder(self.word_counts) if self.decompound else None)

    @classmethod
    def build(cls, texts: Sequence[str], *, decompound: bool = True,
              word_counts: Counter[str] | None = None) -> Lexicon:
        """Analyse ``texts`` (row ``i`` is ``texts[i]``) into postings; compounds are split by
        the words of ``texts`` and ``word_counts`` (the other segments' words)."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text))
        analyzer = Analyzer(Decompounder(counts + (word_counts or Counter()))
                            if decompound else None)
        vocab: dict[str, int] = {}
        # one (term, row) pair per occurrence, 15 million at 100,000 passages: packed as C
        # integers (as Python lists they were 250 MB of a merge's peak)
        term_ids = array("q")
        doc_rows = array("q")
        lengths = np.zeros(len(texts), dtype=np.float32)
        for row, text in enumerate(texts):
            terms = analyzer.terms(text)
            lengths[row] = len(terms)
            term_ids.extend([vocab.setdefault(term, len(vocab)) for term in terms])
            doc_rows.extend([row] * len(terms))
        return cls.from_pairs(list(vocab), np.frombuffer(term_ids, dtype=np.int64),
                              np.frombuffer(doc_rows, dtype=np.int64), lengths, counts,
                              decompound)

    @classmethod
    def from_pairs(
        cls,
        terms: list[str],
        term_ids: npt.NDArray[np.int64],
        doc_rows: npt.NDArray[np.integer[Any]],
        lengths: npt.NDArray[np.float32],
        counts: Counter[str],
        decompound: bool,
    ) -> Lexicon:
        """From one (term, row) pair per occurrence: sorted by term, then row, and counted
        (one sorted array of ``term * rows + row`` keys, not a lexsort's three)."""
        width = max(len(lengths), 1)
        keys = term_ids.astype(np.int64) * width + doc_rows
        keys.sort()
        if len(keys):
            new = np.ones(len(keys), dtype=bool)
            np.not_equal(keys[1:], keys[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            del new
            tf = np.diff(np.append(starts, len(keys))).astype(np.float32)
            keys = keys[starts]
        else:
            tf = np.zeros(0, dtype=np.float32)
        term_of, rows = np.divmod(keys, width)
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of, minlength=len(terms)), out=indptr[1:])
        return cls(terms, indptr, rows.astype(np.int32), tf, lengths, counts, decompound)

    def per_row(self) -> list[dict[str, float]]:
        """Each row's postings (term -> frequency): how the PostgreSQL store keeps them."""
        out: list[dict[str, float]] = [{} for _ in range(self.size)]
        tf = self.tf.tolist()
        rows = self.rows.tolist()
        for t, term in enumerate(self.terms):
            for i in range(int(self.indptr[t]), int(self.indptr[t + 1])):
                out[rows[i]][term] = tf[i]
        return out

    @classmethod
    def from_postings(cls, terms: Sequence[str], term_of: npt.NDArray[np.int64],
                      rows: npt.NDArray[np.int64], tf: npt.NDArray[np.float32],
                      lengths: npt.NDArray[np.float32], counts: Counter[str]) -> Lexicon:
        """From one (term, row, frequency) triple per posting, in any order."""
        order = np.lexsort((rows, term_of))
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of, minlength=len(terms)), out=indptr[1:])
        return cls(list(terms), indptr, rows[order].astype(np.int32),
                   tf[order].astype(np.float32), lengths.astype(np.float32), counts)

    # -- storage ---------------------------------------------------------------

    def files(self) -> dict[str, npt.NDArray[Any] | bytes]:
        meta = {"terms": list(self.terms), "words": dict(self.word_counts),
                "decompound": self.decompound}
        return {
            TERMS_FILE: json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode(),
            INDPTR_FILE: self.indptr,
            ROWS_FILE: self.rows,
            TF_FILE: self.tf,
            LENGTHS_FILE: self.lengths,
        }

    @classmethod
    def from_files(cls, files: Mapping[str, Any], passages: int) -> Lexicon:
        """The stored lexicon; ValueError when a file is missing or does not fit."""
        try:
            meta = json.loads(files[TERMS_FILE])
            terms, counts = meta["terms"], Counter(meta["words"])
            indptr, rows, tf, lengths = (files[name] for name in ARRAY_FILES)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"lexicon incomplete: {exc}") from None
        if (len(indptr) != len(terms) + 1 or len(rows) != len(tf) or int(indptr[-1]) != len(rows)
                or len(lengths) != passages):
            raise ValueError("lexicon arrays do not fit together")
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= passages):
            raise ValueError("lexicon rows point outside the passages")
        return cls(terms, indptr, rows, tf, lengths, counts, bool(meta.get("decompound", True)))
