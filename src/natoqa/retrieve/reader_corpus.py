"""A :class:`~natoqa.retrieve.candidates.Corpus` over a version a reader serves (a database).

The files store's :class:`~natoqa.retrieve.candidates.Corpus` finds candidates in its
segments' graphs and reads their rows from its segments' files. This one asks a
:class:`natoqa.index.reader.VersionReader` for both (PostgreSQL's HNSW and one query
for the rows) and scores them with the same code: the same signals, sample and
statistics, so both stores rank alike (docs/SCALE-OUT.md §2b).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from natoqa.index.reader import VersionReader
from natoqa.retrieve.candidates import Block, Corpus, Rows, Scores


class ReaderCorpus(Corpus):
    """A reader's version, as retrieval reads it: candidates by the reader's nearest
    neighbours and BM25, rescored from the rows the reader fetches."""

    def __init__(self, reader: VersionReader, penalties: Mapping[str, float], *,
                 with_terms: bool = True, exact: bool = False,
                 background: npt.NDArray[np.bool_] | None = None) -> None:
        self.reader = reader
        self.size = n = len(reader)
        self.parts = []
        self.offsets = np.zeros(1, dtype=np.int64)
        self.penalty = np.array([penalties.get(kind, 0.0)
                                 for kind in reader.passages.kinds.tolist()], dtype=np.float32)
        self.unit_count = reader.unit_count
        self.stored_terms = reader.stored_terms
        self.terms = self.stored_terms and with_terms
        #: scored on candidates unless told to score everything
        self.approximate = not exact
        self._pool = None
        self._statistics(n, background)

    def gather(self, rows: Rows) -> Block:
        """The version's passages ``rows`` (sorted, distinct) with their units."""
        rows = np.asarray(rows, dtype=np.int64)
        got = self.reader.fetch(rows)
        terms = self.terms and got.term_ids is not None
        return Block(rows=rows, passage=got.passage, penalty=self.penalty[rows],
                     units=got.units, unit_of=got.unit_of, spans=got.spans,
                     term_ids=got.term_ids if terms else None,
                     term_weights=got.term_weights if terms else None)

    def candidates(self, queries: Scores, lexical: Sequence[Scores], width: int,
                   ef: int, unit_ef: int) -> Rows:
        """Sorted distinct rows: per query vector the reader's ``width`` nearest passages
        and passages of the ``width`` nearest units, and each lexical score's ``width``
        best passages (as :meth:`Corpus.candidates`)."""
        found = [self.reader.nearest(queries, width, ef, unit_ef=unit_ef)]
        for lexical_scores in lexical:
            k = min(width, len(lexical_scores))
            if k:
                best = np.argpartition(-lexical_scores, k - 1)[:k]
                found.append(best[lexical_scores[best] > 0])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
