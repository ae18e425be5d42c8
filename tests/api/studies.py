"""A small study as a PDF, made with fpdf2, for the document upload tests and bench/upload.py.

Its facts are invented (so no question about them can be answered from the bundled
corpus before the upload), in German, like the corpus.
"""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF

#: fixed, so the same study is the same bytes (an upload twice is the same content)
CREATED = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

#: a question only the study answers, and a word its answer contains
QUESTION = "Wie viele Seedrohnen soll die Baltische Drohnenflotte bis 2031 umfassen?"
ANSWER_WORD = "340"

PARAGRAPHS = (
    "Die Studie untersucht, wie die NATO ihre Nordflanke in der Ostsee mit unbemannten "
    "Systemen schützen kann. Sie beruht auf Gesprächen mit Planern aus sieben "
    "Mitgliedstaaten und auf der Auswertung der Übungen der vergangenen drei Jahre.",
    "Die Baltische Drohnenflotte soll bis 2031 insgesamt 340 Seedrohnen umfassen, die "
    "von einem gemeinsamen Lagezentrum in Rostock geführt werden. Die Anrainerstaaten "
    "teilen sich die Kosten nach ihrer Wirtschaftskraft; Finnland und Schweden stellen "
    "zusammen ein Drittel der Boote.",
    "Die Autoren empfehlen, die Seedrohnen mit den Seefernaufklärern der Allianz zu "
    "vernetzen und die Unterwasserkabel zwischen den Küsten lückenlos zu überwachen. "
    "Ohne diese Verbindung bleibe die Flotte ein Flickwerk nationaler Einzelprojekte.",
)


def study_pdf(title: str = "Drohnen in der Ostsee", paragraphs: tuple[str, ...] = PARAGRAPHS
              ) -> bytes:
    """A one-page PDF: a heading and the paragraphs (Helvetica covers German umlauts)."""
    pdf = FPDF()
    pdf.set_creation_date(CREATED)
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, title)
    pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    for text in paragraphs:
        pdf.multi_cell(0, 6, text)
        pdf.ln(4)
    return bytes(pdf.output())


def blank_pdf() -> bytes:
    """A PDF with a page and no text (a scan without OCR, as far as a build can tell)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60)
    return bytes(pdf.output())
