"""Cleaning: a RawDocument becomes a Document whose text is what gets searched.

The steps, each in its own module: split into blocks, drop a leading date
line, find the table of contents and the headings, cut off title pages and
back matter, lift footnotes out of the running text, infer pages, rejoin
paragraphs and words split by the layout, tidy inline markup, and assemble the
text with its section and page spans. ``clean`` never raises on content.
"""

from __future__ import annotations

from natoqa.ingest.cleaning.assemble import Heading, Paragraph, Piece, Unit, assemble
from natoqa.ingest.cleaning.blocks import Block, raw_blocks
from natoqa.ingest.cleaning.footnotes import RawNote, attach_markers, lift_footnotes
from natoqa.ingest.cleaning.inline import tidy
from natoqa.ingest.cleaning.joining import continues, hyphenated_pairs, join_lines, join_point
from natoqa.ingest.cleaning.meta import fallback_title, resolve_meta
from natoqa.ingest.cleaning.pages import infer_pages
from natoqa.ingest.cleaning.structure import (
    layout,
    mark_headings,
    mark_markdown_headings,
    take_date_line,
)
from natoqa.ingest.cleaning.toc import find_toc
from natoqa.models import Document, Footnote, RawDocument

__all__ = ["clean"]

Pairs = frozenset[tuple[str, str]]


def _units(body: list[Block], pages: list[int | None], pairs: Pairs) -> list[Unit]:
    """Headings and paragraphs, rejoining paragraphs that a page or column break split."""
    units: list[Unit] = []
    for block, page in zip(body, pages, strict=True):
        text = tidy(join_lines(block.text, pairs))
        if not text:
            continue
        if block.heading:
            units.append(Heading(text))
            continue
        prev = units[-1] if units else None
        if isinstance(prev, Paragraph) and continues(
            prev.pieces[-1].text, text, across_page=block.new_page
        ):
            last = prev.pieces[-1]
            kept, sep = join_point(last.text, text, pairs)
            if page == last.page:
                pieces = (*prev.pieces[:-1], Piece(kept + sep + text, page))
            else:
                pieces = (*prev.pieces[:-1], Piece(kept + sep, last.page), Piece(text, page))
            units[-1] = Paragraph(pieces)
        else:
            units.append(Paragraph((Piece(text, page),)))
    return units


def _title(raw: RawDocument, blocks: list[Block]) -> str:
    """Declared title, else a level-1 heading, else the opening line (shortened)."""
    declared = raw.meta.get("title")
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    heading = next((b.text for b in blocks if b.heading == 1), None)
    first_line = blocks[0].text.strip().split("\n")[0] if blocks else None
    return fallback_title(raw.doc_id, heading, first_line)


def _footnotes(
    notes: list[RawNote], pages: list[int | None], paged: bool, pairs: Pairs
) -> tuple[Footnote, ...]:
    out: list[Footnote] = []
    for note in notes:
        page = note.page if paged else (pages[note.after] if note.after >= 0 else None)
        out.append(Footnote(note.number, tidy(join_lines(note.text, pairs)), page))
    return tuple(out)


def clean(raw: RawDocument) -> Document:
    """The searchable text of ``raw`` with its structure; never raises on content."""
    pairs = hyphenated_pairs(raw.pages)
    blocks, date = take_date_line(raw_blocks(raw))
    blocks = mark_markdown_headings(blocks)
    toc = find_toc(blocks)
    blocks = mark_headings(blocks, toc)
    title = _title(raw, blocks)
    bounds = layout(blocks, toc, title)
    body, notes = lift_footnotes(blocks[bounds.body_start : bounds.back_start])
    pages = infer_pages(body, toc)
    first_section = toc.entries[0].title if toc is not None else title
    assembled = assemble(_units(body, pages, pairs), first_section)
    text = attach_markers(assembled.text, [n.number for n in notes])  # keeps every offset
    backmatter = "\n\n".join(
        t for t in (tidy(join_lines(b.text, pairs)) for b in blocks[bounds.back_start :]) if t
    )
    return Document(
        doc_id=raw.doc_id,
        meta=resolve_meta(raw.meta, title=title, date=date, text=text),
        text=text,
        content_hash=raw.content_hash,
        sections=assembled.sections,
        pages=assembled.pages,
        footnotes=_footnotes(notes, pages, raw.paged, pairs),
        backmatter=backmatter,
    )
