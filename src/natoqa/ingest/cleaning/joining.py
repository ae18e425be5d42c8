"""Rejoining text split across lines, columns and pages, including hyphenated words.

Lexicon-free: a fragment ending in ``<lower-case letters>-`` followed by one
starting with a lower-case letter is a word split by the layout ("Pers-" +
"pektive"), unless the continuation is a conjunction that follows a suspended
hyphen ("Kommunikations-" + "und Verhandlungsmaschine") or the document spells
the pair with a hyphen elsewhere ("long-term"). After a capital or digit, or
before a capital, the hyphen belongs to a compound ("NATO-" + "Staaten").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from natoqa.ingest.cleaning.blocks import ends_sentence

_SPLIT_WORD = re.compile(r"(\w*[a-zäöüß])-$")
_FIRST_WORD = re.compile(r"^([a-zäöüß][\w]*)")
_HYPHENATED = re.compile(r"\b(\w+)-(\w+)\b")

#: Words that follow a suspended hyphen ("Außen- und Sicherheitspolitik").
CONTINUATIONS = frozenset(
    """
    und oder bzw sowie als wie noch bis beziehungsweise and or to
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def hyphenated_pairs(texts: Iterable[str]) -> frozenset[tuple[str, str]]:
    """Lower-cased ``(left, right)`` of every in-line hyphenated compound, as evidence."""
    pairs: set[tuple[str, str]] = set()
    for text in texts:
        pairs.update((a.lower(), b.lower()) for a, b in _HYPHENATED.findall(text))
    return frozenset(pairs)


def join_point(a: str, b: str, pairs: frozenset[tuple[str, str]] = frozenset()) -> tuple[str, str]:
    """``(a as kept, separator)`` for appending fragment ``b`` to ``a``, repairing a split word."""
    a, b = a.rstrip(), b.lstrip()
    if not (a.endswith("-") and a[-2:-1].isalnum()):
        return a, " "
    first = _FIRST_WORD.match(b)
    if first and first.group(1).lower() in CONTINUATIONS:
        return a, " "  # a suspended hyphen: "Kommunikations-" + "und Verhandlungs…"
    split = _SPLIT_WORD.search(a)
    if split and first:
        left = split.group(1).rsplit(maxsplit=1)[-1]
        if (left.lower(), first.group(1).lower()) not in pairs:
            return a[:-1], ""  # a word hyphenated by the layout: "Pers-" + "pektive"
    return a, ""  # a compound: "NATO-" + "Staaten", "long-" + "term" (spelled so elsewhere)


def merge(a: str, b: str, pairs: frozenset[tuple[str, str]] = frozenset()) -> str:
    """Fragment ``b`` joined onto ``a``."""
    kept, sep = join_point(a, b, pairs)
    return kept + sep + b.lstrip()


def join_lines(text: str, pairs: frozenset[tuple[str, str]] = frozenset()) -> str:
    """A block's lines as one line."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return ""
    out = lines[0]
    for line in lines[1:]:
        out = merge(out, line, pairs)
    return out


def continues(a: str, b: str, *, across_page: bool) -> bool:
    """Does paragraph text ``b`` continue the sentence that ``a`` left open?

    Within a page only a lower-case (or digit) start is evidence (a column
    break); across a page break, or footnotes, an open sentence always continues.
    """
    if not a or not b or ends_sentence(a):
        return False
    if across_page:
        return True
    return b[0].islower() or b[0].isdigit()
