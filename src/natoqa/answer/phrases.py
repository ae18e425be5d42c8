"""The fixed words natoqa says around quoted sentences, in the question's language.

Also how a citation is written out as a reference line, shared by the CLI and
the OpenAI-compatible endpoint. Light on imports: clients use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CitationPublic(Protocol):
    """What a reference line needs of a citation: the API's schema and the client's both fit."""

    @property
    def n(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def authors(self) -> Sequence[str]: ...
    @property
    def date(self) -> str | None: ...
    @property
    def section(self) -> str | None: ...
    @property
    def page(self) -> int | None: ...
    @property
    def used(self) -> bool: ...
    @property
    def url(self) -> str | None: ...

PHRASES: dict[str, dict[str, str]] = {
    "nothing_found": {
        "de": "Dazu finde ich in den Quellen nichts.",
        "en": "I found nothing on this in the sources.",
    },
    "sources": {"de": "Quellen", "en": "Sources"},
    "further_reading": {"de": "weiterführend", "en": "further reading"},
    "page": {"de": "S.", "en": "p."},
    "footnote": {"de": "Fußnote", "en": "footnote"},
}


def phrase(key: str, language: str) -> str:
    """The fixed phrase ``key`` in ``language`` (English for a language without one)."""
    table = PHRASES[key]
    return table.get(language, table["en"])


def reference_line(c: CitationPublic, language: str) -> str:
    """``[1] Title (Authors, 2024-10), Section, S. 12`` (+ `` — further reading``)."""
    byline = ", ".join(x for x in (", ".join(c.authors), c.date) if x)
    parts = [f"[{c.n}] {c.title}" + (f" ({byline})" if byline else "")]
    if c.section:
        parts.append(c.section)
    if c.page is not None:
        parts.append(f"{phrase('page', language)} {c.page}")
    line = ", ".join(parts)
    if not c.used:
        line += f" — {phrase('further_reading', language)}"
    return line


def references_markdown(citations: Sequence[CitationPublic], language: str) -> str:
    """A Markdown block listing the sources, empty when there are none."""
    if not citations:
        return ""
    lines = [f"**{phrase('sources', language)}**", ""]
    for c in citations:
        line = f"- {reference_line(c, language)}"
        if c.url:
            line += f" <{c.url}>"
        lines.append(line)
    return "\n".join(lines)
