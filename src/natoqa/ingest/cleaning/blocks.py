"""Blocks: the paragraphs and lines of a raw document, before any interpretation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from natoqa.models import RawDocument
from natoqa.text.characters import CLOSERS, SENTENCE_END, SUPERSCRIPT_DIGITS

_BLANK = re.compile(r"\n[ \t\f\v\u00a0]*\n\s*")
_TERMINAL = re.compile(f"[{SENTENCE_END}:;][{CLOSERS}{SUPERSCRIPT_DIGITS}]*$")
# A line opening with a (superscript) number: a possible footnote, kept apart in PDFs.
NOTE_START = re.compile(
    r"^\s*(?:(?P<sup>[" + SUPERSCRIPT_DIGITS + r"]+)|(?P<num>\d{1,3}))[ \t]+(?=\S)"
)


@dataclass(frozen=True)
class Block:
    """A paragraph (possibly of several lines) with where it was found.

    ``page`` is the printed page for paged sources and is inferred later for
    text; ``new_page`` marks the first block after a page break; ``heading``
    is a heading's level (0 for body text).
    """

    text: str
    page: int | None = None
    new_page: bool = False
    heading: int = 0


def ends_sentence(text: str) -> bool:
    return bool(_TERMINAL.search(text.rstrip()))


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")


def text_blocks(text: str, page: int | None = None) -> list[Block]:
    """Paragraphs separated by blank lines."""
    parts = (p.strip("\n") for p in _BLANK.split(normalise_newlines(text)))
    return [Block(p, page) for p in parts if p.strip()]


def _split_notes(block: str) -> list[str]:
    """Split a block before each line that opens with a number.

    The PDF loader separates paragraphs by layout, but consecutive footnotes sit
    in one block; a body line that merely starts with a number is rejoined later.
    """
    parts: list[list[str]] = [[]]
    for line in block.split("\n"):
        if parts[-1] and NOTE_START.match(line):
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(p) for p in parts]


def raw_blocks(raw: RawDocument) -> list[Block]:
    """Split every page into blocks; for paged sources record page and page starts."""
    if not raw.paged:
        return [b for page in raw.pages for b in text_blocks(page)]
    numbers = raw.page_numbers or tuple(range(1, len(raw.pages) + 1))
    blocks: list[Block] = []
    for number, page in zip(numbers, raw.pages, strict=False):
        paras = [p for b in text_blocks(page) for p in _split_notes(b.text)]
        blocks.extend(Block(p, number, new_page=i == 0) for i, p in enumerate(paras))
    return blocks
