"""Request and response bodies of the HTTP API, named by role."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from natoqa.models import Answer, Citation, DocumentMeta, Passage

# Documented limits (docs/API.md). Settings may lower the configurable ones per server.
MAX_QUESTION_CHARS = 2000
MAX_HISTORY = 20
MAX_K = 20
#: messages of one /api/v1/chat request: the question plus 20 earlier exchanges
MAX_MESSAGES = 2 * MAX_HISTORY + 1
#: an assistant message is sent back only as context; bounded all the same
MAX_ASSISTANT_CHARS = 20_000
#: OpenAI-compatible requests carry whole conversations; only the last turns are used
MAX_OPENAI_MESSAGES = 256
MAX_OPENAI_CONTENT_CHARS = 100_000

#: a question: not blank (pattern: at least one non-space character, JSON-schema semantics)
Question = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")
]


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"question": "Wie hoch sollen die Verteidigungsausgaben sein?", "k": 5},
                {
                    "question": "And what does Rutte say about it?",
                    "history": ["What is the NATO spending target?"],
                },
                {"question": "Was ist das New Force Model?", "stream": True},
            ]
        },
    )

    question: Question = Field(..., description="The question to answer (not blank).")
    history: list[Annotated[str, StringConstraints(max_length=MAX_QUESTION_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Earlier user questions of the conversation, oldest first.",
    )
    k: int | None = Field(
        None, ge=1, le=MAX_K,
        description="How many passages to cite at most (default: the server's, 5).",
    )
    stream: bool = Field(
        False, description="Answer as Server-Sent Events (citations, deltas, done)."
    )


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


_PASSAGE_EXAMPLE: dict[str, Any] = {
    "passage_id": "002_7ab4b17f7a80dd35.txt#3f2a9c01",
    "doc_id": "002_7ab4b17f7a80dd35.txt",
    "title": "Mark Rutte übernimmt das Amt des NATO-Generalsekretärs",
    "text": "Der frühere niederländische Regierungschef Mark Rutte übernimmt am Dienstag "
    "das Amt des NATO-Generalsekretärs.",
    "section": None,
    "page": None,
    "start": 0,
    "end": 104,
    "kind": "body",
    "footnote": None,
    "footnote_refs": [],
}


class PassageContextPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"passage": _PASSAGE_EXAMPLE, "before": [], "after": [], "footnotes": []}
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "20250601T120000000000Z-a1b2c3",
                    "documents": [
                        {
                            "doc_id": "002_7ab4b17f7a80dd35.txt",
                            "meta": {
                                "title": "Mark Rutte übernimmt das Amt des NATO-Generalsekretärs",
                                "authors": ["AFP"],
                                "date": "2024-10",
                                "publisher": "AFP (afp/red)",
                                "url": None,
                                "language": "de",
                            },
                            "passages": 9,
                            "content_hash": "9f86d081884c7d65",
                        }
                    ],
                }
            ]
        }
    )

    version: str
    documents: list[DocumentPublic]


class HealthPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, object]] | None = None


# --- conversation ------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str = Field(
        ...,
        min_length=1,
        max_length=MAX_ASSISTANT_CHARS,
        description=f"User messages: at most {MAX_QUESTION_CHARS} characters.",
    )


class ChatRequest(BaseModel):
    """A conversation; the last message (the user's) is answered.

    Earlier user messages are the context retrieval gets (the last
    ``MAX_HISTORY``); assistant messages are accepted so that a client can send
    the conversation as it shows it, and are not used. No state is kept.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {"role": "user", "content": "Wer ist der neue NATO-Generalsekretär?"},
                        {
                            "role": "assistant",
                            "content": "Der frühere niederländische Regierungschef Mark Rutte "
                            "übernimmt am Dienstag das Amt des NATO-Generalsekretärs. [1]",
                        },
                        {"role": "user", "content": "Welche Aufgaben erbt er?"},
                    ],
                    "k": 5,
                },
                {
                    "messages": [{"role": "user", "content": "What is the New Force Model?"}],
                    "stream": True,
                },
            ]
        },
    )

    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    k: int | None = Field(
        None, ge=1, le=MAX_K,
        description="How many passages to cite at most (default: the server's, 5).",
    )
    stream: bool = Field(
        False, description="Answer as Server-Sent Events (citations, deltas, done)."
    )

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages[-1].role != "user":
            raise ValueError("the last message must be from the user")
        if not messages[-1].content.strip():
            raise ValueError("the last message must not be blank")
        users = [m for m in messages if m.role == "user"]
        if len(users) - 1 > MAX_HISTORY:
            raise ValueError(f"at most {MAX_HISTORY} earlier user messages")
        for m in users:
            if len(m.content) > MAX_QUESTION_CHARS:
                raise ValueError(f"user messages have at most {MAX_QUESTION_CHARS} characters")
        return messages

    @property
    def question(self) -> str:
        return self.messages[-1].content

    @property
    def history(self) -> list[str]:
        """Earlier user messages, oldest first."""
        return [m.content for m in self.messages[:-1] if m.role == "user"]


# --- streaming events (docs/ARCHITECTURE.md, "Streaming contract") -------------


class CitationsEvent(BaseModel):
    """``event: citations`` — first, before any text."""

    citations: list[CitationPublic]
    no_answer: bool
    language: str
    request_id: str | None = None


class DeltaEvent(BaseModel):
    """``event: delta`` — the next piece of the answer text."""

    text: str


class DoneEvent(BaseModel):
    """``event: done`` — last; ``answer`` equals the deltas joined."""

    answer: str
    no_answer: bool
    took_ms: float
    timings: dict[str, float] = {}
    confidence: float = 0.0


StreamEvent = CitationsEvent | DeltaEvent | DoneEvent


# --- OpenAI-compatible chat completions ----------------------------------------

OPENAI_MODEL = "natoqa"


class OpenAIContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str = Field(..., description="Only 'text' parts are read.")
    text: str | None = Field(None, max_length=MAX_OPENAI_CONTENT_CHARS)


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: (
        Annotated[str, StringConstraints(max_length=MAX_OPENAI_CONTENT_CHARS)]
        | list[OpenAIContentPart]
        | None
    ) = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The message's text; text parts joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class OpenAIStreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request. Sampling parameters are accepted and ignored
    (answers are extractive); system messages are ignored; ``k`` is natoqa's own."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "natoqa",
                    "messages": [
                        {"role": "user", "content": "Was erbt Rutte von Stoltenberg?"}
                    ],
                },
                {
                    "model": "natoqa",
                    "messages": [{"role": "user", "content": "What is the New Force Model?"}],
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
            ]
        },
    )

    model: str = Field(..., description="Must be 'natoqa' (see GET /v1/models).")
    messages: list[OpenAIMessage] = Field(..., min_length=1, max_length=MAX_OPENAI_MESSAGES)
    stream: bool | None = False
    stream_options: OpenAIStreamOptions | None = None
    n: int | None = Field(1, ge=1, le=1, description="Only one choice is ever produced.")
    k: int | None = Field(
        None, ge=1, le=MAX_K, description="natoqa: passages to cite at most (default 5)."
    )

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[OpenAIMessage]) -> list[OpenAIMessage]:
        turns = [m for m in messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise ValueError("the last user or assistant message must be from the user")
        question = turns[-1].text
        if not question.strip():
            raise ValueError("the last user message has no text")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question has at most {MAX_QUESTION_CHARS} characters")
        return messages

    @property
    def question(self) -> str:
        return [m for m in self.messages if m.role == "user"][-1].text

    @property
    def history(self) -> list[str]:
        """The last ``MAX_HISTORY`` earlier user messages (each cut to the question limit)."""
        users = [m.text[:MAX_QUESTION_CHARS] for m in self.messages if m.role == "user"][:-1]
        return [u for u in users if u.strip()][-MAX_HISTORY:]


class ChatCompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatCompletionChoice(BaseModel):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    """Counts of whitespace-separated words: natoqa runs no generative model."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


_COMPLETION_ID = "chatcmpl-5b0e7a3c9d2f4e81a6c4b2d0f1e3a5c7"


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, plus natoqa's ``citations`` and ``no_answer``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _COMPLETION_ID,
                    "object": "chat.completion",
                    "created": 1735689600,
                    "model": "natoqa",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": "Der frühere niederländische Regierungschef Mark "
                                "Rutte übernimmt am Dienstag das Amt des "
                                "NATO-Generalsekretärs. [1]\n\n**Quellen**\n\n- [1] Mark "
                                "Rutte übernimmt das Amt des NATO-Generalsekretärs (AFP, "
                                "2024-10)",
                                "refusal": None,
                            },
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": {"prompt_tokens": 6, "completion_tokens": 24, "total_tokens": 30},
                    "system_fingerprint": "natoqa-0.1.0",
                    "citations": [],
                    "no_answer": False,
                }
            ]
        }
    )

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = OPENAI_MODEL
    choices: list[ChatCompletionChoice]
    usage: Usage
    system_fingerprint: str | None = None
    citations: list[CitationPublic] = Field(
        default_factory=list, description="natoqa: the structured sources of the answer."
    )
    no_answer: bool = Field(False, description="natoqa: the sources hold nothing on it.")


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` line of a streamed completion; the last one carries ``citations``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str = OPENAI_MODEL
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    citations: list[CitationPublic] | None = None
    no_answer: bool | None = None


class ModelCard(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "natoqa", "object": "model", "created": 1735689600, "owned_by": "natoqa"}
            ]
        }
    )

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "natoqa"


class ModelList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {"id": "natoqa", "object": "model", "created": 1735689600,
                         "owned_by": "natoqa"}
                    ],
                }
            ]
        }
    )

    object: Literal["list"] = "list"
    data: list[ModelCard]

