"""German compounds and the index terms of a text.

German glues words together ("Verteidigungsausgaben"), so a question that says
"Ausgaben für die Verteidigung" shares no whole word with the passage. The
analyzer therefore adds the parts of a compound as extra terms, found with a
vocabulary of the indexed text itself (no dictionary to ship): a word is split
where both sides are words that occur on their own in the corpus, allowing the
linking elements German puts between them ("-s-", "-es-", "-n-", "-en-", "-e-").
Words, stop words and stems are the shared analyzer's (:mod:`natoqa.text.analyzer`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from natoqa.text.analyzer import stem, words

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
