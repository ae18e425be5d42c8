"""Sentence boundaries in German (and English) prose, as character spans.

A rule-based splitter with an abbreviation list rather than pysbd: on the study
text pysbd moved footnote markers (``nötig.⁵``) into the next sentence, split
inside »…« quotes and missed boundaries after ``u.a.``-style abbreviations; it
is also unmaintained since 2021. The rules here are small enough to test:

* a boundary follows ``.``, ``!``, ``?`` or ``…`` plus any closing quotes or
  brackets and footnote markers, then whitespace, then an upper-case letter,
  a digit or an opening quote or bracket;
* not after a known abbreviation (``z.B.``, ``Nr.``, ``Dr.``, ``vgl.`` …), an
  initial (``S.``, ``J.R.``) or an ordinal number (``5. November``,
  ``am 20. Jahrhundert``);
* a blank line (paragraph break) is always a boundary.
"""

from __future__ import annotations

import re

from natoqa.text.characters import CLOSERS, OPENERS, SENTENCE_END, SUPERSCRIPT_DIGITS

# Lower-cased, without the final period.
ABBREVIATIONS = frozenset(
    """
    abb abs abt allg anm art aufl bd bsp bspw bzgl bzw ca chr co corp dr ebd etc evtl f
    ff gem ggf hg hrsg inc inkl jh jhd jr kap lt ltd max min mio mr mrd mrs ms nr o.ä od
    pkt prof rd s sog sr st std str tel u.a u.ä usw v.a vgl vs z.b z.t zb zit ziff d.h
    u.s.w u.u u.v.m i.d.r i.e e.g etc al no p pp vol ed eds dt engl frz
    """.split()  # noqa: SIM905 - a word list reads better as text
)

MONTHS = frozenset(
    """
    januar februar märz april mai juni juli august september oktober november dezember
    jänner jan feb mär apr jun jul aug sep sept okt nov dez
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Words after which a number with a period is an ordinal ("am 5.", "im 20.").
_ORDINAL_LEADS = frozenset(
    """
    am im vom zum zur der die das den dem des ab bis seit zu ihr ihre ihrem ihren sein
    seine
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Words after which a number with a period ends the sentence ("Paragraph 28.").
_REFERENCE_LEADS = frozenset(
    """
    paragraph paragraf artikel art seite s kapitel abs nr ziffer jahr jahres
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_CANDIDATE = re.compile(
    f"[{SENTENCE_END}]+[{CLOSERS}]*[{SUPERSCRIPT_DIGITS}]*"
    f"(?=\\s+[{OPENERS}A-ZÄÖÜ0-9{SUPERSCRIPT_DIGITS}])"
)
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_WORD_BEFORE = re.compile(r"(\S+)\s*$")
_WORD_AFTER = re.compile(r"\s*(\S+)")


def _is_boundary(text: str, dot: int, end: int) -> bool:
    """Is the punctuation run ``text[dot:end]`` a sentence end?"""
    if text[dot] != ".":
        return True  # ! ? … are unambiguous enough
    if end - dot > 1 and text[dot + 1] == ".":
        return True  # "..." ellipsis at the end of a sentence
    before = _WORD_BEFORE.search(text, max(0, dot - 80), dot)
    if before is None:
        return False
    token = before.group(1).lstrip("(»„\"'[")
    low = token.lower()
    if low in ABBREVIATIONS:
        return False
    if re.fullmatch(r"(?:[A-Za-zÄÖÜäöü]\.)*[A-Za-zÄÖÜäöü]", token):
        return False  # an initial or dotted abbreviation: "S.", "J.R.", "e.V."
    if token.isdecimal() and len(token) <= 2:
        return not _is_ordinal(text, before.start(), end)
    return True


def _is_ordinal(text: str, number_start: int, end: int) -> bool:
    after = _WORD_AFTER.match(text, end)
    if after and after.group(1).lower().strip(".,;:") in MONTHS:
        return True
    lead = _WORD_BEFORE.search(text, max(0, number_start - 80), number_start)
    word = lead.group(1).lower().strip("(»„\"',;:") if lead else ""
    if word in _REFERENCE_LEADS:
        return False
    return word in _ORDINAL_LEADS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``[(start, end), …]`` of the sentences in ``text``, whitespace excluded."""
    cuts: set[int] = set()
    for para in _PARAGRAPH.finditer(text):
        cuts.add(para.start())
    for match in _CANDIDATE.finditer(text):
        dot = match.start()
        if _is_boundary(text, dot, match.end()):
            cuts.add(match.end())
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*sorted(cuts), len(text)]:
        piece = text[start:cut]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
        start = cut
    return spans


#: a paragraph that opens with one of these and a space is a list (cleaning's bullets)
_BULLET = re.compile("[ \t]*([-*•\u2013]) ")


def entry_spans(text: str) -> list[tuple[int, int]]:
    """Like :func:`sentence_spans`, but the items of a list are kept whole.

    An entry of a reference list has full stops that end no sentence ("Deni, J.R.
    (2024) The New NATO Force Model: Ready for Launch? Rom: NATO Defense College."),
    and cleaning joins a list's items into one line ("- Deni, J.R. (2024) … - Grgić,
    G. …"). A paragraph that opens with a bullet is read as such a list; other
    paragraphs are split into sentences.
    """
    spans: list[tuple[int, int]] = []
    bounds = [(m.start(), m.end()) for m in _PARAGRAPH.finditer(text)]
    start = 0
    for end, following in [*bounds, (len(text), len(text))]:
        para = text[start:end]
        bullet = _BULLET.match(para)
        pieces = sentence_spans(para) if bullet is None else _items(para, bullet.group(1))
        spans += [(start + a, start + b) for a, b in pieces]
        start = following
    return spans


def _items(para: str, bullet: str) -> list[tuple[int, int]]:
    """A list's items, without their bullets: each line, and in a line the pieces
    between the bullet and the end of an entry (a full stop, a closing quote or
    bracket) before the next bullet."""
    opening = re.compile(f"[ \\t]*{re.escape(bullet)} ")
    between = re.compile(f"(?<=[{SENTENCE_END}{CLOSERS}]) {re.escape(bullet)} (?=\\S)")
    cuts: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", para):
        a = line.start()
        if (opened := opening.match(para, a)) is not None:
            a = opened.end()
        for after in between.finditer(para, a, line.end()):
            cuts.append((a, after.start()))
            a = after.end()
        cuts.append((a, line.end()))
    out = []
    for a, b in cuts:
        piece = para[a:b]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append((a + lead, a + len(piece.rstrip())))
    return out
