"""German-aware lexical search: BM25 over stemmed words, with compounds split.

German glues words together ("Verteidigungsausgaben"), so a question that says
"Ausgaben für die Verteidigung" shares no whole word with the passage. The
analyzer therefore adds the parts of a compound as extra terms, found with a
vocabulary of the indexed text itself (no dictionary to ship): a word is split
where both sides are words that occur on their own in the corpus, allowing the
linking elements German puts between them ("-s-", "-es-", "-n-", "-en-", "-e-").
Words, stop words and stems are the shared analyzer's
(:mod:`natoqa.text.analyzer`: lower-cased, German and English stop words
removed, Snowball German stems that also fold umlauts, so "Bündnisses" and
"Bündnis" meet).

Scoring is BM25 (Lucene variant) from ``bm25s``; the index is built in memory
when an index version is loaded (milliseconds for thousands of passages).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

from natoqa.text.analyzer import stem, words

Scores = npt.NDArray[np.float32]

# bm25s sets its own logger to DEBUG at import and logs every index it builds; every
# index version load would print a line. Its warnings still get through.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Linking elements (Fugenelemente) that may end the first part of a compound.
_LINKS = ("", "s", "es", "n", "en", "e", "er")


class Decompounder:
    """Splits German compounds into parts that the vocabulary knows as words.

    Among the possible splits it keeps the one whose parts are most frequent
    (the geometric mean of their counts, after Koehn & Knight 2003). The whole
    word is always indexed as well; the parts are added beside it.
    """

    def __init__(self, counts: Counter[str], *, min_part: int = 4, max_parts: int = 3) -> None:
        self.counts = counts
        self.min_part = min_part
        self.max_parts = max_parts
        self._cache: dict[str, tuple[str, ...]] = {}
        self._memo: dict[tuple[str, int, bool], tuple[float, tuple[str, ...]] | None] = {}

    @classmethod
    def from_texts(cls, tokenised: Iterable[Sequence[str]], **kwargs: int) -> Decompounder:
        counts: Counter[str] = Counter()
        for tokens in tokenised:
            counts.update(tokens)
        return cls(counts, **kwargs)

    def split(self, word: str) -> tuple[str, ...]:
        """The parts of ``word`` (lower-case), or ``()`` when it is not a known compound."""
        if len(word) < 2 * self.min_part or word.isdigit():
            return ()
        cached = self._cache.get(word)
        if cached is None:
            best = self._best(word, self.max_parts, whole=False)
            cached = best[1] if best else ()
            self._cache[word] = cached
        return cached

    def _known(self, part: str) -> int:
        return self.counts.get(part, 0) if len(part) >= self.min_part else 0

    def _best(self, word: str, depth: int, *, whole: bool) -> tuple[float, tuple[str, ...]] | None:
        """(score, parts) of the best analysis of ``word`` into at most ``depth`` known parts.

        With ``whole`` the word itself counts as a one-part analysis; the top
        level asks for real splits only, since the whole word is indexed anyway.
        """
        key = (word, depth, whole)
        if key in self._memo:
            return self._memo[key]
        count = self._known(word)
        best: tuple[float, tuple[str, ...]] | None = None
        if whole and count:
            best = (float(count), (word,))
        if depth >= 2:
            for cut in range(self.min_part, len(word) - self.min_part + 1):
                tail = self._best(word[cut:], depth - 1, whole=True)
                if tail is None:
                    continue
                head = self._head(word[:cut])
                if head is None:
                    continue
                parts = (head[0], *tail[1])
                # geometric mean of the parts' counts (a tail's score already is one)
                score = math.exp(
                    (math.log(head[1]) + math.log(tail[0]) * len(tail[1])) / len(parts)
                )
                if best is None or score > best[0]:
                    best = (score, parts)
        self._memo[key] = best
        return best

    def _head(self, raw: str) -> tuple[str, int] | None:
        """The first part of a compound, without its linking element, and its count."""
        for link in _LINKS:
            if link and not raw.endswith(link):
                continue
            head = raw[: len(raw) - len(link)] if link else raw
            count = self._known(head)
            if count:
                return head, count
        return None


@dataclass(frozen=True)
class Analyzer:
    """Text → index terms: words, their compound parts, stemmed."""

    decompounder: Decompounder | None = None

    def terms(self, text: str) -> list[str]:
        out: list[str] = []
        for word in words(text):
            out.append(stem(word))
            if self.decompounder is not None:
                out.extend(stem(part) for part in self.decompounder.split(word))
        return out


class LexicalIndex:
    """BM25 over a fixed list of texts; row ``i`` scores ``texts[i]``."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        decompound: bool = True,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        tokenised = [words(t) for t in texts]
        self.analyzer = Analyzer(Decompounder.from_texts(tokenised) if decompound else None)
        corpus_terms = [self.analyzer.terms(t) for t in texts]
        self.size = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        if self.size:
            self._bm25.index(corpus_terms, show_progress=False)
        self._vocab: dict[str, int] = dict(self._bm25.vocab_dict) if self.size else {}
        self._row_terms = [frozenset(terms) for terms in corpus_terms]
        df: Counter[str] = Counter()
        for terms in self._row_terms:
            df.update(terms)
        n = max(self.size, 1)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)

    def __len__(self) -> int:
        return self.size

    @property
    def known_terms(self) -> Mapping[str, float]:
        """Every term of the index, with its idf."""
        return self._idf

    def query_terms(self, text: str) -> list[str]:
        return self.analyzer.terms(text)

    def scores(self, text: str) -> Scores:
        """BM25 score of every indexed text for the query ``text`` (zeros if nothing matches)."""
        terms = [t for t in self.query_terms(text) if t in self._idf]
        if not terms or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)

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

    def row_coverage(self, text: str, row: int) -> float:
        """Share of the query's weight (idf) carried by terms that text ``row`` contains.

        Abstention asks this of the top passage: a question whose words the
        corpus knows, but scattered over other passages, is often about
        something the corpus does not say.
        """
        terms = self.query_terms(text)
        have = self._row_terms[row]
        total = sum(self._idf.get(t, self._unknown_idf) for t in terms)
        return sum(self._idf[t] for t in terms if t in have) / total if total else 0.0
