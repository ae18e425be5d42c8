"""Extractive answers: sentences taken from the retrieved passages, each with its marker."""

from __future__ import annotations

import re
from collections.abc import Sequence

from natoqa.retrieval import RetrievalResult
from natoqa.store import IndexVersion
from natoqa.types import Answer, Citation, DocumentMeta

NOTHING_FOUND = {
    "de": "Dazu finde ich in den Quellen nichts.",
    "en": "I found nothing on this in the sources.",
}

_SENTENCE_END = re.compile(r"(?<=[.!?…«])\s+(?=[A-ZÄÖÜ»„\"(\d])")
_WORD = re.compile(r"\w{3,}", re.UNICODE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def best_quote(text: str, query: str) -> tuple[int, int]:
    """Span of the sentence of ``text`` sharing most words with ``query`` (first on a tie)."""
    terms = {w.lower() for w in _WORD.findall(query)}
    spans = sentence_spans(text) or [(0, len(text))]

    def overlap(span: tuple[int, int]) -> int:
        return len(terms & {w.lower() for w in _WORD.findall(text[span[0] : span[1]])})

    return max(spans, key=overlap)


def compose(
    question: str,
    result: RetrievalResult,
    index: IndexVersion,
    language: str,
    history: Sequence[str] = (),
    max_sentences: int = 3,
) -> Answer:
    """Build the answer text and its citations from a retrieval result."""
    citations: list[Citation] = []
    for n, hit in enumerate(result.hits, start=1):
        p = hit.passage
        record = index.documents.get(p.doc_id)
        meta = record.meta if record else DocumentMeta(title=p.doc_id)
        a, b = best_quote(p.text, " ".join([*history, question]))
        citations.append(
            Citation(
                n=n,
                hit=hit,
                meta=meta,
                quote=p.text[a:b],
                quote_start=p.start + a,
                quote_end=p.start + b,
                used=not result.no_answer and n <= max_sentences,
            )
        )
    if result.no_answer or not citations:
        text = NOTHING_FOUND.get(language, NOTHING_FOUND["en"])
    else:
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations if c.used)
    return Answer(
        text=text,
        no_answer=result.no_answer or not citations,
        citations=tuple(citations),
        language=language,
        confidence=result.confidence,
        timings=dict(result.timings),
    )
