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
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from natoqa.index.lexicon import Lexicon

Scores = npt.NDArray[np.float32]


class LexicalIndex:
    """BM25 over a fixed list of texts; row ``i`` scores ``texts[i]``."""

    def __init__(
        self,
        texts: Sequence[str] = (),
        *,
        decompound: bool = True,
        k1: float = 1.2,
        b: float = 0.75,
        lexicon: Lexicon | None = None,
    ) -> None:
        self.lexicon = lexicon or Lexicon.build(texts, decompound=decompound)
        self.analyzer = self.lexicon.analyzer()
        self.k1, self.b = k1, b
        self.size = self.lexicon.size
        self._ids = {term: i for i, term in enumerate(self.lexicon.terms)}
        df = np.diff(self.lexicon.indptr).astype(np.float64)
        n = max(self.size, 1)
        self._idf_array = np.log(1 + (n - df + 0.5) / (df + 0.5))
        self._idf = dict(zip(self.lexicon.terms, self._idf_array.tolist(), strict=True))
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        lengths = self.lexicon.lengths
        self._norm = (k1 * (1 - b + b * lengths / float(lengths.mean()))).astype(np.float32) \
            if self.size else np.zeros(0, dtype=np.float32)

    @classmethod
    def from_lexicon(cls, lexicon: Lexicon) -> LexicalIndex:
        return cls(lexicon=lexicon)

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
        lex = self.lexicon
        for term in self.query_terms(text):
            t = self._ids.get(term)
            if t is None:
                continue
            a, z = int(lex.indptr[t]), int(lex.indptr[t + 1])
            rows, tf = lex.rows[a:z], lex.tf[a:z]
            out[rows] += np.float32(self._idf_array[t]) * tf / (self._norm[rows] + tf)
        return out

    def coverage(self, text: str) -> float:
        """Share of the query's weight (idf) carried by terms the index contains, 0..1.

        Low for an English question over German text (its words are mostly
        unknown) and for a question about something the corpus never names;
        fusion and abstention both use it.
        """
        terms = self.query_terms(text)
        if not terms:
            return 0.0
        known = sum(self._idf.get(t, 0.0) for t in terms)
        total = sum(self._idf.get(t, self._unknown_idf) for t in terms)
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
