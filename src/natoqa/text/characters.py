"""Characters several stages read alike: footnote markers, closing and opening marks.

Defined once so that ingestion (which writes footnote markers as superscripts),
sentence splitting and answer composition agree on what they are.
"""

from __future__ import annotations

import re

SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
#: a footnote marker: superscript digits ("nötig.⁵", "Ende«.¹²")
FOOTNOTE_MARKER = re.compile(f"[{SUPERSCRIPT_DIGITS}]+")
#: characters that may close a sentence after its punctuation: quotes and brackets
CLOSERS = "»«\"\u201c\u201d\u2019')\\]"
#: characters that may open a sentence: quotes and brackets
OPENERS = "\"\u201e\u201c»«(\\[\u201a'"
#: punctuation that ends a sentence
SENTENCE_END = ".!?…"

_TO_SUPERSCRIPT = str.maketrans("0123456789", SUPERSCRIPT_DIGITS)
_FROM_SUPERSCRIPT = str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")


def superscript(digits: int | str) -> str:
    """``12`` → ``"¹²"`` (other characters are kept)."""
    return str(digits).translate(_TO_SUPERSCRIPT)


def from_superscript(digits: str) -> int:
    """``"¹²"`` → ``12``."""
    return int(digits.translate(_FROM_SUPERSCRIPT))
