"""Filling in document metadata the source did not declare."""

from __future__ import annotations

from pathlib import PurePosixPath

from natoqa.models import DocumentMeta

_TITLE_CHARS = 120


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text`` by py3langid (its model ships in the package)."""
    sample = text[:5000]
    if sum(ch.isalpha() for ch in sample) < 20:
        return None
    import py3langid  # loads its model on first use; keep import cost out of module import

    lang, _score = py3langid.classify(sample)
    return str(lang)


def prepare_detection() -> None:
    """Load py3langid's model now: its first use takes seconds holding the GIL, which a
    server reading uploads would otherwise spend while it answers questions."""
    import py3langid

    py3langid.classify("warm-up")


def shorten(text: str, limit: int = _TITLE_CHARS) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-\u2013") + " …"


def fallback_title(doc_id: str, first_heading: str | None, first_line: str | None) -> str:
    if first_heading:
        return shorten(first_heading)
    if first_line:
        return shorten(first_line)
    return PurePosixPath(doc_id).stem


def _text(meta: dict[str, object], key: str) -> str | None:
    value = meta.get(key)
    return str(value) if value not in (None, "") else None


def resolve_meta(
    declared: dict[str, object], *, title: str, date: str | None, text: str
) -> DocumentMeta:
    """DocumentMeta from declared fields, with title, date and language filled in."""
    authors = declared.get("authors", ())
    names = tuple(str(a) for a in authors) if isinstance(authors, list | tuple) else (str(authors),)
    return DocumentMeta(
        title=_text(declared, "title") or title,
        authors=names,
        date=_text(declared, "date") or date,
        publisher=_text(declared, "publisher"),
        url=_text(declared, "url"),
        language=_text(declared, "language") or detect_language(text),
        kind=_text(declared, "kind"),
        series=_text(declared, "series"),
    )
