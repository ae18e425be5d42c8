"""Passages: the citable units a document is split into.

Sentence-aware (:mod:`natoqa.text.sentences`), never across a section boundary,
about ``min_words`` to ``max_words`` words, preferring paragraph ends as cuts.
Body passages come first, then one passage per footnote, then the back matter
(bibliography, author notes: kind "backmatter"), which a reader may ask about
("Where do the authors work?"); retrieval weighs it down
(``RetrievalSettings.backmatter_penalty``) so its reference lists do not crowd out
the prose.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from natoqa.ingest.cleaning.structure import looks_like_heading
from natoqa.models import Document, Passage, PassageKind
from natoqa.text.characters import FOOTNOTE_MARKER, from_superscript
from natoqa.text.sentences import entry_spans, sentence_spans

#: Bumped whenever the same document would split differently (the builder re-embeds).
PIPELINE_VERSION = 2



def passage_id(doc_id: str, text: str) -> str:
    """Stable id: the first 16 hex digits of sha1(doc_id, newline, text)."""
    return hashlib.sha1(f"{doc_id}\n{text}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    words: int
    para_end: bool  # the last sentence of its paragraph


@dataclass(frozen=True)
class Chunk:
    """Sentences ``[first, last]`` (indices) of one section form a passage."""

    first: int
    last: int


def _sentences(text: str, start: int, end: int,
               spans_of: Callable[[str], list[tuple[int, int]]] = sentence_spans,
               ) -> list[Sentence]:
    spans = [(a + start, b + start) for a, b in spans_of(text[start:end])]
    out: list[Sentence] = []
    for i, (a, b) in enumerate(spans):
        following = text[b : spans[i + 1][0]] if i + 1 < len(spans) else "\n\n"
        out.append(Sentence(a, b, len(text[a:b].split()), "\n\n" in following))
    return out


def _words(sents: list[Sentence], first: int, last: int) -> int:
    return sum(s.words for s in sents[first : last + 1])


def _next_paragraph_words(sents: list[Sentence], after: int) -> int:
    total = 0
    for s in sents[after + 1 :]:
        total += s.words
        if s.para_end:
            break
    return total


def pack(sents: list[Sentence], min_words: int, max_words: int) -> list[Chunk]:
    """Group sentences greedily up to ``max_words``; cut at a paragraph end when the
    next paragraph would not fit whole; then even out a too-short last chunk."""
    chunks: list[Chunk] = []
    first, count = 0, 0
    for i, sent in enumerate(sents):
        if i > first and count + sent.words > max_words:
            chunks.append(Chunk(first, i - 1))
            first, count = i, 0
        count += sent.words
        if (
            sent.para_end
            and count >= min_words
            and count + _next_paragraph_words(sents, i) > max_words
        ):
            chunks.append(Chunk(first, i))
            first, count = i + 1, 0
    if first < len(sents):
        chunks.append(Chunk(first, len(sents) - 1))
    return _balance_tail(chunks, sents, min_words, max_words)


def _balance_tail(
    chunks: list[Chunk], sents: list[Sentence], min_words: int, max_words: int
) -> list[Chunk]:
    if len(chunks) < 2:
        return chunks
    prev, last = chunks[-2], chunks[-1]
    if _words(sents, last.first, last.last) >= min_words:
        return chunks
    if _words(sents, prev.first, last.last) <= max_words:
        return [*chunks[:-2], Chunk(prev.first, last.last)]
    cut = last.first
    # Move sentences back while the earlier chunk keeps its minimum.
    while (
        cut - 1 > prev.first
        and _words(sents, cut, last.last) < min_words
        and _words(sents, prev.first, cut - 2) >= min_words
        and _words(sents, cut - 1, last.last) <= max_words
    ):
        cut -= 1
    return [*chunks[:-2], Chunk(prev.first, cut - 1), Chunk(cut, last.last)]


def _with_overlap(chunks: list[Chunk], sents: list[Sentence], overlap: int) -> list[Chunk]:
    """Start each chunk earlier by whole sentences of the previous one: as many as fit in
    ``overlap`` words, but at least one (a long last sentence would otherwise mean none)."""
    if overlap <= 0:
        return chunks
    out = [chunks[0]] if chunks else []
    for prev, chunk in itertools.pairwise(chunks):
        first = chunk.first
        while first - 1 > prev.first and (
            first == chunk.first or _words(sents, first - 1, chunk.first - 1) <= overlap
        ):
            first -= 1
        out.append(Chunk(first, chunk.last))
    return out


def _page_at(doc: Document, offset: int) -> int | None:
    for span in doc.pages:
        if span.start <= offset < span.end:
            return span.page
    return doc.pages[-1].page if doc.pages and offset >= doc.pages[-1].end else None


def _refs(text: str, known: frozenset[int]) -> tuple[int, ...]:
    numbers = (from_superscript(m) for m in FOOTNOTE_MARKER.findall(text))
    return tuple(dict.fromkeys(n for n in numbers if n in known))


@dataclass(frozen=True)
class _Draft:
    text: str
    section: str | None
    page: int | None
    start: int
    end: int
    kind: PassageKind = "body"
    footnote: int | None = None
    refs: tuple[int, ...] = ()


def _body(doc: Document, min_words: int, max_words: int, overlap: int) -> Iterator[_Draft]:
    known = frozenset(f.number for f in doc.footnotes)
    for section in doc.sections:
        sents = _sentences(doc.text, section.start, section.end)
        chunks = _with_overlap(pack(sents, min_words, max_words), sents, overlap)
        for chunk in chunks:
            start, end = sents[chunk.first].start, sents[chunk.last].end
            text = doc.text[start:end]
            yield _Draft(
                text, section.title, _page_at(doc, start), start, end, refs=_refs(text, known)
            )


def _footnotes(doc: Document, body: list[_Draft]) -> Iterator[_Draft]:
    first_section = doc.sections[0].title if doc.sections else doc.title
    for note in doc.footnotes:
        citing = next((d for d in body if note.number in d.refs), None)
        section = citing.section if citing else first_section
        yield _Draft(note.text, section, note.page, 0, len(note.text), "footnote", note.number)


def _backmatter(doc: Document, min_words: int, max_words: int) -> Iterator[_Draft]:
    """Back matter as passages (offsets into ``doc.backmatter``), one section per heading.

    A section's first passage begins at its heading: the author notes never say
    "Autor" ("Dr. Matthias Dembinski ist Politikwissenschaftler am PRIF …"), so
    without "Über die Autoren" in the embedded and indexed text a question about
    "the authors" does not find them. A short heading joins the unit of the first
    sentence (``index.units.MIN_WORDS``), and the passage stays a slice of the back
    matter. A reference list is packed by its entries, so no passage ends inside
    one (:func:`natoqa.text.sentences.entry_spans`).
    """
    text = doc.backmatter
    for title, head, start, end in _sections(text):
        units = _sentences(text, start, end, entry_spans)
        for chunk in pack(units, min_words, max_words):
            # a passage begins where the one before it ended (whitespace skipped): the
            # first at the heading, the next ones with the bullet of their first entry
            a = head
            if chunk.first > 0:
                gap = text[units[chunk.first - 1].end : units[chunk.first].start]
                a = units[chunk.first].start - len(gap.lstrip())
            b = units[chunk.last].end
            yield _Draft(text[a:b], title, None, a, b, "backmatter")


_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")


def _sections(text: str) -> list[tuple[str, int, int, int]]:
    """``(title, heading start, content start, content end)`` of each back-matter section.

    Cleaning joins the back matter's blocks with blank lines and keeps no heading
    marks there, so a heading is told as cleaning tells one without a table of
    contents: a paragraph of one short line that does not end like a sentence
    ("Literatur", "Über die Autoren", the publisher's "Die Zukunft der NATO - NATO
    intern", whose blurb is then not filed under the authors). Text before the
    first heading is "Anhang"; a heading without text under it is dropped.
    """
    out: list[tuple[str, int, int, int]] = []
    title, head, start, end = "Anhang", 0, -1, -1
    for para in _PARAGRAPH.finditer(text):
        line = para.group()
        if "\n" not in line and looks_like_heading(line.strip()):
            if start >= 0:
                out.append((title, head, start, end))
            title, head, start = line.strip(), para.start(), -1
            continue
        start = para.start() if start < 0 else start
        end = para.end()
    if start >= 0:
        out.append((title, head, start, end))
    return out


def split(
    doc: Document,
    *,
    min_words: int = 60,
    max_words: int = 200,
    overlap: int = 0,
    include_backmatter: bool = True,
) -> list[Passage]:
    """The document's passages: body first (in text order), then footnotes, then (unless
    ``include_backmatter`` is false) the back matter.

    ``overlap`` repeats up to that many words of whole trailing sentences of a
    passage at the start of the next one (0: none).
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError("need 1 <= min_words <= max_words")
    body = list(_body(doc, min_words, max_words, overlap))
    drafts = body + list(_footnotes(doc, body))
    if include_backmatter:
        drafts += list(_backmatter(doc, min_words, max_words))
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for ordinal, d in enumerate(drafts):
        pid = passage_id(doc.doc_id, d.text)
        if pid in seen:  # the same text twice in one document: number the repeats
            seen[pid] += 1
            pid = passage_id(doc.doc_id, f"{d.text}\n#{seen[pid]}")
        else:
            seen[pid] = 0
        passages.append(
            Passage(
                passage_id=pid,
                doc_id=doc.doc_id,
                ordinal=ordinal,
                text=d.text,
                section=d.section,
                page=d.page,
                start=d.start,
                end=d.end,
                kind=d.kind,
                footnote=d.footnote,
                footnote_refs=d.refs,
            )
        )
    return passages
