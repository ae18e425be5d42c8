"""German-aware lexical search: BM25 over stemmed words, with compounds split.

The terms are the analyzer's (:mod:`natoqa.text.compounds`: words, stop words
dropped, Snowball stems that fold umlauts, the parts of German compounds beside
the whole word). The postings are the version's stored
:class:`~natoqa.index.lexicon.Lexicon`; scoring is BM25 in Lucene's variant
(the formula of ``bm25s``'s ``method="lucene"``, which natoqa used before it stored
its postings), computed over the postings of the question's terms only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from natoqa.index.lexicon import Lexicon
from natoqa.text.compounds import Analyzer, Decompounder

Scores = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]


class LexicalIndex:
    """BM25 over a fixed list of texts; row ``i`` scores ``texts[i]``."""

    def __init__(
        self,
        texts: Sequence[str] = (),
        *,
        decompound: bool = True,
        k1: float = 1.2,
        b: float = 0.75,
        parts: Sequence[tuple[Lexicon, Rows]] | None = None,
        background: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """BM25 over ``texts``, or over stored ``parts``: each a segment's lexicon with the
        segment's live rows (its rows that are the next rows of this index).

        ``background`` marks rows that are searched but do not shape the statistics (the
        back matter): document frequencies and the mean length are the other rows', so
        adding them does not change how those score, and :meth:`coverage` does not count
        their words as known (the back matter's English titles would make an English
        question's words look known to the German prose). A term only they contain
        weighs as a term no row contains.
        """
        if parts is None:
            lexicon = Lexicon.build(texts, decompound=decompound)
            parts = [(lexicon, np.arange(lexicon.size))]
        if background is not None and background.all():
            background = None  # nothing else: the background is the corpus
        self.k1, self.b = k1, b
        counts: Counter[str] = Counter()
        self._postings: dict[str, list[tuple[int, int]]] = {}
        df: Counter[str] = Counter()
        foreground_df: Counter[str] = Counter()  # rows outside ``background``
        self._parts: list[tuple[Lexicon, npt.NDArray[np.int64]]] = []
        offset = 0
        for p, (lexicon, live) in enumerate(parts):
            to_index = np.full(lexicon.size, -1, dtype=np.int64)
            to_index[live] = offset + np.arange(len(live))
            offset += len(live)
            self._parts.append((lexicon, to_index))
            counts.update(lexicon.word_counts)
            part_df = np.diff(lexicon.indptr)
            if len(live) < lexicon.size and len(lexicon.rows):  # count live rows only
                alive = (to_index[lexicon.rows] >= 0).astype(np.int64)
                part_df = np.add.reduceat(alive, lexicon.indptr[:-1]) * (part_df > 0)
            part_foreground = part_df
            if background is not None and len(lexicon.rows):
                rows = to_index[lexicon.rows]
                counted = ((rows >= 0) & ~background[np.maximum(rows, 0)]).astype(np.int64)
                part_foreground = np.add.reduceat(counted, lexicon.indptr[:-1]) * (part_df > 0)
            for t, term in enumerate(lexicon.terms):
                self._postings.setdefault(term, []).append((p, t))
                df[term] += int(part_df[t])
                foreground_df[term] += int(part_foreground[t])
        self.size = offset
        self.analyzer = Analyzer(Decompounder(counts) if all(
            lex.decompound for lex, _ in parts) else None)
        inside = np.ones(self.size, dtype=bool) if background is None else ~background
        n = max(int(inside.sum()), 1)
        self._idf = {t: math.log(1 + (n - foreground_df[t] + 0.5) / (foreground_df[t] + 0.5))
                     for t, c in df.items() if c}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        #: what coverage counts as known: the terms of rows outside ``background``
        self._coverage_idf = {t: i for t, i in self._idf.items() if foreground_df[t]}
        lengths = [lex.lengths[(to >= 0) & inside[np.maximum(to, 0)]] for lex, to in self._parts]
        mean = float(np.concatenate(lengths).mean()) if self.size else 1.0
        self._norms = [(k1 * (1 - b + b * lex.lengths / mean)).astype(np.float32)
                       for lex, _ in self._parts]

    @classmethod
    def from_parts(cls, parts: Sequence[tuple[Lexicon, Rows]],
                   background: npt.NDArray[np.bool_] | None = None) -> LexicalIndex:
        return cls(parts=parts, background=background)

    def __len__(self) -> int:
        return self.size

    @property
    def known_terms(self) -> Mapping[str, float]:
        """Every term of the index, with its idf."""
        return self._idf

    def query_terms(self, text: str) -> list[str]:
        return self.analyzer.terms(text)

    def scores(self, text: str) -> Scores:
        """BM25 score of every indexed text for the query ``text`` (zeros if nothing matches).

        A term the query repeats counts as often as it stands (as in bm25s). The cost is
        the postings of the query's terms plus one array of the corpus's size.
        """
        out = np.zeros(self.size, dtype=np.float32)
        for term in self.query_terms(text):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for p, t in self._postings[term]:
                lexicon, to_index = self._parts[p]
                a, z = int(lexicon.indptr[t]), int(lexicon.indptr[t + 1])
                local, tf = lexicon.rows[a:z], lexicon.tf[a:z]
                rows = to_index[local]
                live = rows >= 0
                out[rows[live]] += (np.float32(idf) * tf / (self._norms[p][local] + tf))[live]
        return out

    def coverage(self, text: str) -> float:
        """Share of the query's weight (idf) carried by terms the index contains, 0..1
        (outside the ``background`` rows: a term only they contain weighs as unknown).

        Low for an English question over German text (its words are mostly
        unknown) and for a question about something the corpus never names;
        fusion and abstention both use it.
        """
        terms = self.query_terms(text)
        if not terms:
            return 0.0
        idf = self._coverage_idf
        known = sum(idf.get(t, 0.0) for t in terms)
        total = sum(idf.get(t, self._unknown_idf) for t in terms)
        return known / total if total else 0.0

    def row_coverage(self, text: str, row_text: str) -> float:
        """Share of the query's weight (idf) carried by terms that ``row_text`` (an indexed
        text) contains.

        Abstention asks this of the top passage: a question whose words the
        corpus knows, but scattered over other passages, is often about
        something the corpus does not say.
        """
        terms = self.query_terms(text)
        have = set(self.query_terms(row_text))
        total = sum(self._idf.get(t, self._unknown_idf) for t in terms)
        return sum(self._idf[t] for t in terms if t in have) / total if total else 0.0
