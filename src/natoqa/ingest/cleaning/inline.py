"""Inline clean-up of one paragraph: whitespace, emphasis markers, links, footnote markers."""

from __future__ import annotations

import re
import unicodedata

from natoqa.text.characters import SUPERSCRIPT_DIGITS

_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f\u2009\u200a]+")
_ZERO_WIDTH = re.compile("[\u00ad\u200b\u200c\u200d\ufeff]")  # soft hyphen, zero-width
_EMPHASIS = re.compile(r"(?<![\w*])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.DOTALL)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((?:https?://|mailto:|/)[^)\s]*\)")
_AUTOLINK = re.compile(r"<((?:https?://|www\.)[^>\s]+)>")
# A superscript marker set off by a space: "Ende«. ⁹ Weiter" → "Ende«.⁹ Weiter".
_LOOSE_MARKER = re.compile(
    r"(?<=[^\s" + SUPERSCRIPT_DIGITS + r"])[ ]+([" + SUPERSCRIPT_DIGITS + r"]+)(?=[\s.,;:]|$)"
)


def normalise_chars(text: str) -> str:
    """NFC, no soft hyphens or zero-width characters."""
    return _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", text))


def strip_markup(text: str) -> str:
    """Drop ``*emphasis*`` markers and Markdown link targets, keep the words."""
    text = _EMPHASIS.sub(r"\2", text)
    text = _MD_LINK.sub(r"\1", text)
    return _AUTOLINK.sub(r"\1", text)


def tidy(text: str) -> str:
    """One paragraph's final form: single spaces, markers attached, markup stripped."""
    text = strip_markup(normalise_chars(text))
    text = _SPACES.sub(" ", text.replace("\n", " ")).strip()
    return _LOOSE_MARKER.sub(r"\1", text)
