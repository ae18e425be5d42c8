"""Builders of small source files for the loader tests (PDFs are made with fpdf2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

PdfMaker = Callable[..., Path]


def _write(pdf: FPDF, text: str) -> None:
    """Flowing text; ``^n^`` is typeset as a raised, smaller footnote marker."""
    for i, part in enumerate(text.split("^")):
        pdf.char_vpos = "SUP" if i % 2 else "LINE"
        pdf.write(6, part)
    pdf.char_vpos = "LINE"
    pdf.ln(6)


def _pdf(
    pages: list[list[tuple[str, str]]], *, password: str | None = None, first_label: int = 0
) -> bytes:
    """A PDF with one list of ``(style, text)`` paragraphs per page.

    Style "H" is a heading, "P" a paragraph, "F" a footnote at the page foot.
    ``first_label`` > 0 numbers the pages from there (PDF page labels).
    """
    pdf = FPDF()
    pdf.set_title("Testbericht zur NATO")
    if password is not None:
        pdf.set_encryption(
            owner_password="owner", user_password=password, encryption_method=EncryptionMethod.RC4
        )
    for number, paragraphs in enumerate(pages):
        pdf.add_page()
        if number == 0 and first_label:
            pdf.set_page_label(label_style="D", label_start=first_label)
        for style, text in paragraphs:
            if style == "H":
                pdf.set_font("Helvetica", "B", 14)
                pdf.multi_cell(0, 8, text)
            elif style == "F":
                if pdf.get_y() < 250:  # the first note goes to the foot of the page
                    pdf.set_y(250)
                pdf.set_font("Helvetica", size=8)
                pdf.multi_cell(0, 4, text)
            else:
                pdf.set_font("Helvetica", size=11)
                _write(pdf, text)
            pdf.ln(4)
    return bytes(pdf.output())


@pytest.fixture
def make_pdf() -> PdfMaker:
    def make(
        path: Path,
        pages: list[list[tuple[str, str]]],
        password: str | None = None,
        first_label: int = 0,
    ) -> Path:
        path.write_bytes(_pdf(pages, password=password, first_label=first_label))
        return path

    return make


THREE_PAGES: list[list[tuple[str, str]]] = [
    [
        ("H", "Einleitung"),
        ("P", "Das Bündnis wurde 1949 in Washington gegründet. " * 6),
        ("P", "Die Mitgliedstaaten streiten seit Jahren über höhere Verteidi-"),
    ],
    [
        (
            "P",
            "gungsausgaben der europäischen Staaten. Präsident Macron nannte die Allianz "
            "im Jahr 2019 hirntot.1 Danach wurde viel gestritten. Rutte hält höhere Ausgaben "
            "für nötig.^2^ " + "Die Debatte hält an. " * 6,
        ),
        ("F", "1 NATO is becoming braindead, The Economist, 7. November 2019."),
        (
            "F",
            "2 To Prevent War, NATO Must Spend More. Speech by NATO Secretary General "
            "Mark Rutte at the Concert Noble, Brüssel, 12. Dezember 2024, with a note "
            "long enough to wrap onto a second line of the footnote.",
        ),
    ],
    [
        ("H", "Fazit"),
        ("P", "Die Zukunft der Allianz bleibt offen, die Lastenteilung bleibt Streitthema. " * 4),
    ],
]
