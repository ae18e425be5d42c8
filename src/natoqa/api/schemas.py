"""Request and response bodies of the HTTP API, named by role.

The request bodies' bounds on questions, history and ``k`` are the server's
settings (``NATOQA_MAX_QUESTION_CHARS``, ``NATOQA_MAX_HISTORY``, ``NATOQA_MAX_K``):
:func:`request_models` builds each app its own subclasses of the classes here,
so validation and the OpenAPI schema show the same, real limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
)

from natoqa.models import Answer, Citation, DocumentMeta, Passage

if TYPE_CHECKING:  # only read; clients import this module without the settings' packages
    from natoqa.config import Settings

# Fixed limits; the configurable ones are the settings (see the module docstring).
#: an assistant message is sent back only as context; bounded all the same
MAX_ASSISTANT_CHARS = 20_000
#: OpenAI-compatible requests carry whole conversations; only the last turns are used
MAX_OPENAI_MESSAGES = 256
MAX_OPENAI_CONTENT_CHARS = 100_000


def _integral(value: object) -> object:
    # JSON Schema's "integer" includes 15.0; strict validation would refuse it
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _count(ge: int, le: int) -> Any:
    """A whole number from ``ge`` to ``le``, written 15 or 15.0."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_integral)]


#: how many passages to cite (at most the server's NATOQA_MAX_K: see request_models)
K = Annotated[int, Field(ge=1), BeforeValidator(_integral)]


def _question(max_chars: int) -> Any:
    """A question: not blank (pattern: at least one non-space character, JSON-schema semantics)."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_chars, pattern=r"\S")]


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

    question: str = Field(..., description="The question to answer (not blank).")
    history: list[str] = Field(
        default_factory=list,
        description="Earlier user questions of the conversation, oldest first.",
    )
    k: K | None = Field(
        None, description="How many passages to cite at most (default: the server's)."
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
    content: str = Field(..., min_length=1)


class UserMessage(ChatMessage):
    """A user's message: a question (its bound is the server's question limit)."""

    role: Literal["user"]


class AssistantMessage(ChatMessage):
    """An answer sent back as the conversation shows it; not used."""

    role: Literal["assistant"]
    content: str = Field(..., min_length=1, max_length=MAX_ASSISTANT_CHARS)


class ChatRequest(BaseModel):
    """A conversation; the last message (the user's) is answered.

    Earlier user messages are the context retrieval gets (at most
    ``NATOQA_MAX_HISTORY``); assistant messages are accepted so that a client can send
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

    max_history: ClassVar[int] = 0  # the server's, set by request_models

    messages: list[ChatMessage] = Field(..., min_length=1)
    k: K | None = Field(
        None, description="How many passages to cite at most (default: the server's)."
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
        users = sum(m.role == "user" for m in messages)
        if users - 1 > cls.max_history:
            raise ValueError(f"at most {cls.max_history} earlier user messages")
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
    n: _count(ge=1, le=1) | None = Field(  # type: ignore[valid-type]
        1, description="Only one choice is ever produced."
    )
    k: K | None = Field(
        None, description="natoqa: passages to cite at most (default: the server's)."
    )

    max_question_chars: ClassVar[int] = 0  # the server's, set by request_models
    max_history: ClassVar[int] = 0

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[OpenAIMessage]) -> list[OpenAIMessage]:
        turns = [m for m in messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise ValueError("the last user or assistant message must be from the user")
        question = turns[-1].text
        if not question.strip():
            raise ValueError("the last user message has no text")
        if len(question) > cls.max_question_chars:
            raise ValueError(f"the question has at most {cls.max_question_chars} characters")
        return messages

    @property
    def question(self) -> str:
        return [m for m in self.messages if m.role == "user"][-1].text

    @property
    def history(self) -> list[str]:
        """The last ``max_history`` earlier user messages (each cut to the question limit)."""
        users = [m.text[: self.max_question_chars] for m in self.messages if m.role == "user"]
        earlier = [u for u in users[:-1] if u.strip()]
        return earlier[max(0, len(earlier) - self.max_history) :]


@dataclass(frozen=True)
class RequestModels:
    """One server's request bodies: the classes above bounded by its settings."""

    ask: type[AskRequest]
    chat: type[ChatRequest]
    openai: type[ChatCompletionRequest]


def request_models(settings: Settings) -> RequestModels:
    """The request bodies with ``settings``' limits on questions, history and ``k``."""
    chars, turns = settings.max_question_chars, settings.max_history
    question = _question(chars)
    k = (_count(ge=1, le=settings.max_k) | None, AskRequest.model_fields["k"])
    user = create_model(
        "UserMessage", __base__=UserMessage, __module__=__name__, __doc__=UserMessage.__doc__,
        content=(Annotated[str, Field(max_length=chars)], UserMessage.model_fields["content"]),
    )
    # (a class made at run time: mypy cannot check it as a type)
    message = Annotated[user | AssistantMessage, Field(discriminator="role")]  # type: ignore[valid-type]
    ask = create_model(
        "AskRequest", __base__=AskRequest, __module__=__name__, k=k,
        question=(question, AskRequest.model_fields["question"]),
        history=(
            Annotated[list[Annotated[str, Field(max_length=chars)]], Field(max_length=turns)],
            AskRequest.model_fields["history"],
        ),
    )
    chat = create_model(
        "ChatRequest", __base__=ChatRequest, __module__=__name__, k=k,
        # the question and `turns` exchanges before it
        messages=(
            Annotated[list[message], Field(max_length=2 * turns + 1)],
            ChatRequest.model_fields["messages"],
        ),
    )
    chat.max_history = turns
    openai = create_model(
        "ChatCompletionRequest", __base__=ChatCompletionRequest, __module__=__name__,
        k=(k[0], ChatCompletionRequest.model_fields["k"]),
    )
    openai.max_question_chars, openai.max_history = chars, turns
    return RequestModels(ask, chat, openai)


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

