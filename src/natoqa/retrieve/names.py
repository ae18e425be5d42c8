"""Whether the passages retrieval found name what a question names: abstention's
``missing_hits`` and ``foreign_hits``.

The names are looked up in the best passages (and their documents' titles, authors,
publishers and series), not in the whole index: in an archive of 100,000 passages
some unrelated passage names almost anything ("Warschauer" in a text about Warsaw's
stock exchange), so a whole-index vocabulary says less the larger the corpus is,
while the best passages mean the same at every size (docs/RETRIEVAL.md, "Abstention
at scale").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from natoqa.text.acronyms import equivalents
from natoqa.text.analyzer import STOPWORDS, identifiers, numbered, place_names

#: words that name something: acronyms, numbers (years), capitalised words inside a sentence
_KEY_TERM = re.compile(r"\b(?:[A-ZÄÖÜ]{2,}\w*|\d{3,}|(?<=\w )[A-ZÄÖÜ][\w-]+)")
#: a German noun's inflection endings ("des Pakts", "des Paktes")
_ENDING = re.compile(r"(?:es|en|er|e|n|s)$")


class Names:
    """The terms and names of some passages, to look a question's names up in.

    ``analyse`` turns a text into its index terms (stemmed, compounds split: the
    lexical index's analysis); ``series`` are the acronyms the corpus numbers ("AP"
    in "AP 1", "AP 2"), for which "AP 4" is a name of its own.
    """

    def __init__(self, text: str, analyse: Callable[[str], list[str]],
                 series: Collection[str] = ()) -> None:
        self.text = text
        self._analyse = analyse
        self._terms = frozenset(analyse(text))
        self._names = identifiers(text)
        self._series = series

    def knows(self, word: str) -> bool:
        """Whether the passages contain ``word`` (or another form of an acronym)."""
        return any(term in self._terms
                   for form in equivalents(word) for term in self._analyse(form))

    def missing_share(self, question: str) -> float:
        """Share of the question's key terms (names, acronyms, numbers) the passages lack."""
        terms = [t for t in _KEY_TERM.findall(question) if t.lower() not in STOPWORDS]
        if not terms:
            return 0.0
        return sum(not self.knows(t) for t in terms) / len(terms)

    def foreign(self, question: str, language: str) -> float:
        """1 when the question names what the passages never contain: an acronym or
        number, or in German a name made from a place ("der Warschauer Pakt").

        Unlike other capitalised words these are names whatever the language's
        spelling of nouns, so an English question about "the CSTO" or "1999" is
        caught as surely as a German one.
        """
        if any(self._unknown(name) for name in identifiers(question)):
            return 1.0
        if language != "de":
            return 0.0
        return float(not all(self._has_phrase(name) for name in place_names(question)))

    def _unknown(self, name: str) -> bool:
        if not self._names.isdisjoint(equivalents(name)):  # "UN" where the corpus has "VN"
            return False
        # "AP 4" is a name when the corpus numbers AP ("AP 1", "AP 2"); in "the NATO 32"
        # the number counts NATO's members, so only "NATO" has to be known.
        parts = numbered(name)
        return parts is None or parts[0] not in self._names or parts[0] in self._series

    def _has_phrase(self, name: str) -> bool:
        # the place with its noun: "Warschauer" before "Börse" does not name the Warsaw
        # Pact (the noun may be inflected: "des Warschauer Pakts"). A first word the
        # passages also write on its own is a noun, not a place ("Minister Pistorius",
        # "der Minister sagte"): then, as for other words, knowing it is enough.
        first, noun = name.split(maxsplit=1)
        stem = _ENDING.sub("", noun) if len(noun) > 4 else noun
        if re.search(rf"\b{re.escape(first)}\s+{re.escape(stem)}", self.text):
            return True
        return re.search(rf"\b{re.escape(first)}\b(?!\s+[A-ZÄÖÜ])", self.text) is not None
