"""Request and response bodies of the HTTP API, named by role."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from natoqa.types import Answer, Citation, DocumentMeta, Passage

# Documented limits (also enforced by Settings at start-up for the configurable ones).
MAX_QUESTION_CHARS = 2000
MAX_HISTORY = 20
MAX_K = 20


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Wie hoch sollen die Verteidigungsausgaben sein?", "k": 5},
                {
                    "question": "And what does Rutte say about it?",
                    "history": ["What is the NATO spending target?"],
                },
            ]
        },
    )

    question: str = Field(
        ..., min_length=1, max_length=MAX_QUESTION_CHARS, description="The question to answer."
    )
    history: list[str] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Earlier user questions of the conversation, oldest first.",
    )
    k: int = Field(5, ge=1, le=MAX_K, description="How many passages to cite at most.")


class DocumentMetaPublic(BaseModel):
    title: str
    authors: list[str] = []
    date: str | None = None
    publisher: str | None = None
    url: str | None = None
    language: str | None = None

    @classmethod
    def of(cls, meta: DocumentMeta) -> DocumentMetaPublic:
        return cls(
            title=meta.title,
            authors=list(meta.authors),
            date=meta.date,
            publisher=meta.publisher,
            url=meta.url,
            language=meta.language,
        )


class CitationPublic(BaseModel):
    n: int = Field(..., description="The marker [n] in the answer text.")
    passage_id: str
    doc_id: str
    title: str
    text: str = Field(..., description="The whole passage.")
    score: float
    section: str | None = None
    page: int | None = None
    start: int = Field(..., description="Offset of the passage in the document's clean text.")
    end: int
    quote: str = Field(..., description="The sentence(s) of the passage that best answer.")
    quote_start: int
    quote_end: int
    kind: str = "body"
    used: bool = Field(True, description="False: listed as further reading, not quoted.")
    low_confidence: bool = False
    authors: list[str] = []
    date: str | None = None
    url: str | None = None
    publisher: str | None = None

    @classmethod
    def of(cls, c: Citation) -> CitationPublic:
        p = c.hit.passage
        return cls(
            n=c.n,
            passage_id=p.passage_id,
            doc_id=p.doc_id,
            title=c.meta.title,
            text=p.text,
            score=round(c.hit.score, 4),
            section=p.section,
            page=p.page,
            start=p.start,
            end=p.end,
            quote=c.quote,
            quote_start=c.quote_start,
            quote_end=c.quote_end,
            kind=p.kind,
            used=c.used,
            low_confidence=c.hit.low_confidence,
            authors=list(c.meta.authors),
            date=c.meta.date,
            url=c.meta.url,
            publisher=c.meta.publisher,
        )


class AnswerPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Rutte hält höhere Ausgaben für nötig.⁵ [1]",
                    "no_answer": False,
                    "language": "de",
                    "citations": [],
                    "took_ms": 21.4,
                }
            ]
        }
    )

    answer: str
    no_answer: bool
    language: str
    citations: list[CitationPublic]
    took_ms: float
    confidence: float = 0.0

    @classmethod
    def of(cls, a: Answer) -> AnswerPublic:
        return cls(
            answer=a.text,
            no_answer=a.no_answer,
            language=a.language,
            citations=[CitationPublic.of(c) for c in a.citations],
            took_ms=round(a.took_ms, 2),
            confidence=round(a.confidence, 4),
        )


class PassagePublic(BaseModel):
    passage_id: str
    doc_id: str
    title: str
    text: str
    section: str | None
    page: int | None
    start: int
    end: int
    kind: str
    footnote: int | None = None
    footnote_refs: list[int] = []

    @classmethod
    def of(cls, p: Passage, title: str) -> PassagePublic:
        return cls(
            passage_id=p.passage_id,
            doc_id=p.doc_id,
            title=title,
            text=p.text,
            section=p.section,
            page=p.page,
            start=p.start,
            end=p.end,
            kind=p.kind,
            footnote=p.footnote,
            footnote_refs=list(p.footnote_refs),
        )


class PassageContextPublic(BaseModel):
    passage: PassagePublic
    before: list[PassagePublic]
    after: list[PassagePublic]
    footnotes: list[PassagePublic] = Field(
        default_factory=list, description="Footnotes the passage refers to."
    )


class DocumentPublic(BaseModel):
    doc_id: str
    meta: DocumentMetaPublic
    passages: int
    content_hash: str


class DocumentListPublic(BaseModel):
    version: str
    documents: list[DocumentPublic]


class HealthPublic(BaseModel):
    status: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, object]] | None = None
