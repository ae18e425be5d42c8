"""Footnotes printed at the foot of each page: lifting them out of the running text.

A block is a footnote when it opens with the next footnote number (plain
``13 …`` or superscript ``¹³ …``) and that number's marker already occurred in
the body. The sequence check keeps body paragraphs that happen to start with a
number ("2012 ernannte …") in the text. Each run of footnotes ends a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from natoqa.ingest.cleaning.blocks import NOTE_START, Block
from natoqa.text.characters import from_superscript, superscript


@dataclass(frozen=True)
class RawNote:
    """A lifted footnote; ``after`` indexes the body block printed before it (-1: none)."""

    number: int
    text: str
    page: int | None
    after: int


def _glued(number: int) -> re.Pattern[str]:
    # A plain-digit marker glued to the word or punctuation it annotates: "hirntot.2 In".
    return re.compile(r"(?<=[a-zäöüß.,;:!?«»\"“”)\]])" + str(number) + r"(?=[\s]|$)")


def _marker_seen(number: int, body: list[Block]) -> bool:
    sup = superscript(number)
    pattern = _glued(number)
    return any(sup in b.text or pattern.search(b.text) for b in body)


def _note_number(block: Block) -> int | None:
    match = NOTE_START.match(block.text)
    if match is None:
        return None
    if match.group("sup"):
        return from_superscript(match.group("sup"))
    return int(match.group("num"))


def lift_footnotes(blocks: list[Block]) -> tuple[list[Block], list[RawNote]]:
    """Split body blocks from footnotes; the block after a run of notes gets ``new_page``."""
    body: list[Block] = []
    notes: list[RawNote] = []
    last = 0
    in_run = False
    for block in blocks:
        number = None if block.heading else _note_number(block)
        if number is not None and number == last + 1 and _marker_seen(number, body):
            text = NOTE_START.sub("", block.text, count=1).strip()
            notes.append(RawNote(number, text, block.page, len(body) - 1))
            last = number
            in_run = True
            continue
        if in_run:
            block = replace(block, new_page=True)
            in_run = False
        body.append(block)
    return body, notes


def attach_markers(text: str, numbers: list[int]) -> str:
    """Turn glued plain-digit markers of known footnotes into superscripts, in order."""
    pos = 0
    for number in numbers:
        sup = superscript(number)
        found = text.find(sup, pos)
        if found >= 0:
            pos = found + len(sup)
            continue
        match = _glued(number).search(text, pos)
        if match:
            text = text[: match.start()] + sup + text[match.end() :]
            pos = match.start() + len(sup)
    return text
