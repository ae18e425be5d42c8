"""How answers look in the terminal: ``natoqa ask`` and the interactive ``natoqa chat``.

Styles are click's, which drops them when the output is not a terminal, so
piped output stays plain text. ``--json`` output is produced here too: one JSON
object per answer, or one JSON line per event when streaming.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import click

from natoqa.answer.phrases import phrase, reference_line
from natoqa.api.schemas import (
    AnswerPublic,
    CitationPublic,
    CitationsEvent,
    DeltaEvent,
    DoneEvent,
    StreamEvent,
)


def quiet_http_logs() -> None:
    """httpx logs every request at INFO; in the terminal that is noise around the answer."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("httpx").setLevel(logging.WARNING)


def print_sources(citations: Sequence[CitationPublic], language: str) -> None:
    """The numbered sources with the quoted sentences, after the answer."""
    if not citations:
        return
    click.echo("")
    click.secho(f"{phrase('sources', language)}:", bold=True)
    for c in citations:
        click.echo(reference_line(c, language))
        if c.used:  # further reading stays one line
            click.secho(f"    »{c.quote}«", dim=True)


def print_answer(answer: AnswerPublic) -> None:
    click.echo(answer.answer)
    print_sources(answer.citations, answer.language)


@dataclass
class Streamed:
    """What a stream delivered, for the conversation's next turn."""

    text: str = ""
    citations: list[CitationPublic] = field(default_factory=list)
    language: str = "de"
    no_answer: bool = False


def print_stream(events: Iterable[StreamEvent]) -> Streamed:
    """Print the answer as its pieces arrive, then its sources."""
    out = Streamed()
    for event in events:
        if isinstance(event, CitationsEvent):
            out.citations, out.language = event.citations, event.language
        elif isinstance(event, DeltaEvent):
            click.echo(event.text, nl=False)
            out.text += event.text
        elif isinstance(event, DoneEvent):
            out.no_answer = event.no_answer
            click.echo("")
            print_sources(out.citations, out.language)
    return out


def print_stream_json(events: Iterable[StreamEvent]) -> Streamed:
    """One JSON line per event: ``{"event": "delta", "data": {...}}``."""
    out = Streamed()
    names = {CitationsEvent: "citations", DeltaEvent: "delta", DoneEvent: "done"}
    for event in events:
        if isinstance(event, DeltaEvent):
            out.text += event.text
        line = {"event": names[type(event)], "data": event.model_dump(mode="json")}
        click.echo(json.dumps(line, ensure_ascii=False))
    return out


def read_questions(prompt: str) -> Iterator[str]:
    """Lines typed (or piped) in, stripped, blank ones skipped; ends at end of input.

    The prompt is shown only when a person is typing, so piped input gives
    clean output.
    """
    interactive = sys.stdin.isatty()
    if interactive:
        with contextlib.suppress(ImportError):  # not on every platform
            import readline  # noqa: F401 - line editing and history for input()
    while True:
        try:
            line = input(prompt if interactive else "")
        except EOFError:
            if interactive:
                click.echo("")
            return
        if line.strip():
            yield line.strip()
