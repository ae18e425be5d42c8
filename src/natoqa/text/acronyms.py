"""Acronyms that name one thing under different letters, by language or by habit.

`foreign` treats an acronym the corpus never writes as a sign that a question is
out of scope, and the lexical search cannot match it. That holds for "CSTO",
but an English question about "the UN" or "GDP" asks about what a German corpus
writes "VN" and "BIP". Each group here lists the forms of one name; a question's
acronym that the corpus lacks is read as a form the corpus has.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["GROUPS", "equivalents", "to_known"]

#: forms of one name (English, German, other usual ones), policy and economics
GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(g.split()) for g in (
    "UN UNO VN",            # United Nations, Vereinte Nationen
    "UNSC VNSR",            # Security Council
    "GDP BIP",              # gross domestic product
    "GNI BNE",              # gross national income
    "OSCE OSZE",
    "CSTO OVKS",            # Collective Security Treaty Organization
    "SCO SOZ",              # Shanghai Cooperation Organisation
    "CFSP GASP",            # common foreign and security policy
    "CSDP GSVP",            # common security and defence policy
    "ESDP ESVP",
    "PESCO SSZ",            # permanent structured cooperation
    "WMD MVW",              # weapons of mass destruction
    "NPT NVV",              # non-proliferation treaty
    "NGO NRO",
    "AI KI",                # artificial intelligence
    "EEZ AWZ",              # exclusive economic zone
    "ECB EZB",
    "IMF IWF",
    "ICJ IGH",
    "FRG BRD",
    "GDR DDR",
    "UK GB",
    "US USA",
))
_BY_FORM = {form: group for group in GROUPS for form in group}


def equivalents(acronym: str) -> frozenset[str]:
    """The forms of ``acronym``'s name, itself included ("UN" → UN, UNO, VN)."""
    return _BY_FORM.get(acronym, frozenset((acronym,)))


def to_known(text: str, known: Callable[[str], bool]) -> str:
    """``text`` with each acronym that is not ``known`` replaced by a form that is.

    An acronym with no known form is left as it is ("CSTO" stays "CSTO").
    """
    def swap(match: re.Match[str]) -> str:
        acronym = match[0]
        if known(acronym):
            return acronym
        forms = sorted(f for f in equivalents(acronym) if f != acronym and known(f))
        return forms[0] if forms else acronym

    return _ACRONYM.sub(swap, text)


# as `natoqa.text.analyzer.identifiers` reads them: "UN's" and "UNs" name the UN
_ACRONYM = re.compile(r"\b[A-ZÄÖÜ]{2,}(?![A-ZÄÖÜ\d])")
