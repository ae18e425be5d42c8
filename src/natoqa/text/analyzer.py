"""Words of a text as search and answers compare them: tokens, stop words, stems.

One analyzer for lexical search (:mod:`natoqa.retrieve.lexical`) and for
choosing an answer's sentences (:mod:`natoqa.answer.compose`), so a question
word matches the same sentence words in both:

* **tokens**: lower-cased ``\\w+`` runs, digit groups written apart joined
  ("800 000", "1.352", "40,000" are one number) and "%" read as the corpus's
  word ("prozent");
* **stop words**: bm25s's German and English lists (the study quotes English
  sources);
* **stems**: the Snowball German stemmer (PyStemmer), which also folds
  umlauts, so "Bündnisses" and "Bündnis" meet.

Beside them, the names a text writes alike in every language (acronyms,
longer numbers, German place-derived names), which abstention looks up in the
corpus.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN as _EN
from bm25s.stopwords import STOPWORDS_GERMAN as _DE

STOPWORDS_DE: frozenset[str] = frozenset(_DE)
STOPWORDS_EN: frozenset[str] = frozenset(_EN)
STOPWORDS: frozenset[str] = STOPWORDS_DE | STOPWORDS_EN

#: how each language writes out a percent sign
PERCENT_WORDS = {"de": "Prozent", "en": "percent"}
#: the language of the corpus, whose word a token's "%" becomes
_CORPUS_LANGUAGE = "de"

_WORD = re.compile(r"\w+")
# "800 000", "1.352", "40,000": digit groups written apart are one number.
_DIGIT_GROUP = re.compile(r"(?<=\d)[ .,\u00a0\u202f\u2009](?=\d{3}\b)")
# a percent sign after a number ("2%", "3,5 %")
_NUMBER_PERCENT = re.compile(r"(?<=\d) ?%")
# "AP 4", "MQ-9": an acronym and the short number that belongs to it are one name.
_ACRONYM_NUMBER = re.compile(r"\b([A-ZÄÖÜ]{2,})[ \u00a0-](\d{1,2})\b")
# "AP4" as identifiers() writes it: the acronym, then its number
_NUMBERED = re.compile(r"([A-ZÄÖÜ]{2,})(\d{1,2})")
# Names written alike in every language: acronyms (without a plural or genitive ending:
# "NATOs" is "NATO"), and numbers of three or more digits (years, amounts).
_IDENTIFIER = re.compile(r"\b[A-ZÄÖÜ]{2,}\d*(?![A-ZÄÖÜ])|(?<![\w,.])\d{3,}(?!\w|[,.]\d)")
# German writes adjectives in lower case, except those made from a place name, which end
# in -er and stay capitalised before their noun: "Warschauer Pakt", "Münchner
# Sicherheitskonferenz". Mid-sentence, such a pair is a name.
_PLACE_NAME = re.compile(r"(?<=[\w,] )[A-ZÄÖÜ][a-zäöüß]+er [A-ZÄÖÜ][\w-]+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, digit groups joined, "%" read as "prozent"; stop words kept."""
    percent = f" {PERCENT_WORDS[_CORPUS_LANGUAGE].lower()} "
    return _WORD.findall(_DIGIT_GROUP.sub("", text.lower()).replace("%", percent))


def words(text: str) -> list[str]:
    """:func:`tokens` without stop words."""
    return [w for w in tokens(text) if w not in STOPWORDS]


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("german")


def stem(word: str) -> str:
    """The Snowball German stem of a lower-case word ("bündnisses" → "bundnis")."""
    return str(_stemmer().stemWord(word))


def spell_out(text: str, language: str) -> str:
    """``text`` with a percent sign after a number written as ``language``'s word.

    "2%" → "2 Prozent": the sources write the word, and the model places "Was ist
    das 2%-Ziel?" far from "Zwei-Prozent-Ziel" (it abstained, at confidence 0.13).
    """
    word = PERCENT_WORDS.get(language, PERCENT_WORDS[_CORPUS_LANGUAGE])
    return _NUMBER_PERCENT.sub(" " + word, text)


def identifiers(text: str) -> set[str]:
    """The acronyms and longer numbers of ``text``, case kept ("CSTO", "1999", "800000").

    Unlike other words they are written the same in German and English, so
    whether a corpus contains them says something for questions in either.
    """
    text = _ACRONYM_NUMBER.sub(r"\1\2", _DIGIT_GROUP.sub("", text))
    return set(_IDENTIFIER.findall(text))


def numbered(identifier: str) -> tuple[str, str] | None:
    """("AP", "4") for an acronym joined with its short number ("AP4"), else None."""
    match = _NUMBERED.fullmatch(identifier)
    return (match[1], match[2]) if match else None


def place_names(text: str) -> list[str]:
    """The German place-derived names of ``text``, the place with its noun ("Warschauer
    Pakt" in "der Warschauer Pakt").

    Only for German text: English capitalises every name, and its names of places
    ("Warsaw") differ from the German corpus's, so an English question's would be
    unknown whether or not the corpus speaks of them.
    """
    return _PLACE_NAME.findall(text)
