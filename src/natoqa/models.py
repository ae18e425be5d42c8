"""The data that flows through natoqa: sources → passages → index → retrieval → answer.

Plain frozen dataclasses, no behaviour beyond small derived properties, so every
layer can depend on them without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PassageKind = Literal["body", "footnote", "backmatter"]


@dataclass(frozen=True)
class DocumentMeta:
    """Bibliographic metadata of one source document."""

    title: str
    authors: tuple[str, ...] = ()
    date: str | None = None
    publisher: str | None = None
    url: str | None = None
    language: str | None = None
    kind: str | None = None
    series: str | None = None


@dataclass(frozen=True)
class PageSpan:
    """Characters ``[start, end)`` of a document's clean text lie on page ``page``."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class SectionSpan:
    """Characters ``[start, end)`` of a document's clean text belong to section ``title``."""

    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Footnote:
    """A footnote lifted out of the running text, with the page it was printed on."""

    number: int
    text: str
    page: int | None = None


@dataclass(frozen=True)
class RawDocument:
    """What a loader read from one file, before cleaning.

    ``pages`` holds the text page by page when the format has pages (PDF);
    otherwise it is a single element. ``meta`` holds what the file or its
    sidecar declared; missing fields are filled in by cleaning.
    """

    doc_id: str
    pages: tuple[str, ...]
    meta: dict[str, object]
    content_hash: str
    fmt: str
    paged: bool = False
    #: printed number of each page in ``pages`` (PDF page labels); empty when unpaged
    page_numbers: tuple[int, ...] = ()


@dataclass(frozen=True)
class Document:
    """A cleaned document: the text that is searched, and where its parts are.

    ``text`` is the clean body text; every offset elsewhere (sections, pages,
    passages) indexes into it. Footnotes are kept apart from the body.
    """

    doc_id: str
    meta: DocumentMeta
    text: str
    content_hash: str
    sections: tuple[SectionSpan, ...] = ()
    pages: tuple[PageSpan, ...] = ()
    footnotes: tuple[Footnote, ...] = ()
    backmatter: str = ""

    @property
    def title(self) -> str:
        return self.meta.title


@dataclass(frozen=True)
class Passage:
    """A citable unit of text.

    ``passage_id`` is derived from the document id and the passage text, so an
    unchanged passage keeps its id across rebuilds. ``start``/``end`` are
    character offsets into the document's clean text for body passages; for a
    footnote they are offsets into that footnote's text (0..len).
    """

    passage_id: str
    doc_id: str
    ordinal: int
    text: str
    section: str | None = None
    page: int | None = None
    start: int = 0
    end: int = 0
    kind: PassageKind = "body"
    footnote: int | None = None
    footnote_refs: tuple[int, ...] = ()

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Hit:
    """A passage found by retrieval, with the evidence behind its rank."""

    passage: Passage
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    low_confidence: bool = False


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the passage and the sentences quoted from it."""

    n: int
    hit: Hit
    meta: DocumentMeta
    quote: str
    quote_start: int = 0
    quote_end: int = 0
    used: bool = True


@dataclass(frozen=True)
class Answer:
    """An extractive answer whose every sentence carries a citation marker ``[n]``."""

    text: str
    no_answer: bool
    citations: tuple[Citation, ...]
    language: str
    took_ms: float = 0.0
    confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
