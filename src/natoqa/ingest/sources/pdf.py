"""PDF loader: text page by page with pypdfium2 (PDFium; Apache-2.0/BSD-3-Clause).

pymupdf extracts equally well but is AGPL, which would bind the whole service;
pypdf is permissive too but slower and weaker at word spacing. See docs/ingestion.md.
"""

from __future__ import annotations

import ctypes
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from natoqa.errors import SourceError
from natoqa.text.characters import superscript


@dataclass(frozen=True)
class PdfContent:
    pages: tuple[str, ...]
    page_numbers: tuple[int, ...]
    meta: dict[str, object]


@dataclass(frozen=True)
class _Line:
    text: str
    baseline: float  # y of the first glyph's origin; PDF y grows upwards
    size: float  # font size of the line's body text


def _lines(textpage: pdfium.PdfTextPage) -> list[_Line]:
    """The page's lines with baseline and font size; raised small digits become superscripts.

    Footnote markers are typeset as small raised digits; PDFium returns them as
    plain digits, which would read as part of the sentence ("hirntot.2 In").
    """
    raw = textpage.raw
    text = textpage.get_text_range()
    x, y = ctypes.c_double(), ctypes.c_double()
    lines: list[_Line] = []
    index = 0
    for chunk in text.split("\n"):
        line = chunk.rstrip("\r")
        chars = [
            (i, float(pdfium_c.FPDFText_GetFontSize(raw, i)))
            for i in range(index, index + len(line))
            if not line[i - index].isspace()
        ]
        index += len(chunk) + 1
        if not chars:
            continue
        size = max(sorted(s for _i, s in chars)[len(chars) // 2], 0.1)
        first = next((i for i, s in chars if s >= 0.9 * size), chars[0][0])
        pdfium_c.FPDFText_GetCharOrigin(raw, first, ctypes.byref(x), ctypes.byref(y))
        baseline = y.value
        out = list(line)
        for i, s in chars:
            ch = out[i - (index - len(chunk) - 1)]
            if ch.isdigit() and s < 0.85 * size:
                pdfium_c.FPDFText_GetCharOrigin(raw, i, ctypes.byref(x), ctypes.byref(y))
                if y.value > baseline + 0.15 * size:
                    out[i - (index - len(chunk) - 1)] = superscript(ch)
        lines.append(_Line("".join(out).strip(), baseline, size))
    return lines


def _layout(lines: list[_Line]) -> str:
    """Lines joined by newlines, with a blank line where a paragraph visibly ends.

    A paragraph ends where the gap to the next line is clearly wider than the
    page's usual line spacing, or the font size changes (body → footnotes).
    A jump upwards is a new column: it ends a paragraph only after a full stop.
    """
    steps = [
        a.baseline - b.baseline
        for a, b in itertools.pairwise(lines)
        if a.baseline > b.baseline and abs(a.size - b.size) < 0.1 * a.size
    ]
    usual = statistics.median(steps) if steps else 0.0
    parts = [lines[0].text] if lines else []
    for prev, line in itertools.pairwise(lines):
        step = prev.baseline - line.baseline
        resized = abs(prev.size - line.size) > 0.1 * max(prev.size, line.size)
        if step < 0:
            wide = prev.text.rstrip().endswith((".", "!", "?", "«", "“"))
        else:
            wide = step > 1.4 * usual
        parts.append("\n\n" if wide or resized else "\n")
        parts.append(line.text)
    return "".join(parts)


def _page_number(pdf: pdfium.PdfDocument, index: int) -> int:
    """The printed page label when it is a number (what a reader cites), else index + 1."""
    try:
        label = pdf.get_page_label(index).strip()
    except pdfium.PdfiumError:
        label = ""
    return int(label) if label.isdecimal() else index + 1


def _meta(pdf: pdfium.PdfDocument) -> dict[str, object]:
    info = pdf.get_metadata_dict(skip_empty=True)
    meta: dict[str, object] = {}
    if title := info.get("Title", "").strip():
        meta["title"] = title
    if author := info.get("Author", "").strip():
        meta["authors"] = tuple(a.strip() for a in author.replace(";", ",").split(",") if a.strip())
    created = info.get("CreationDate", "")
    if created.startswith("D:") and created[2:8].isdecimal():  # D:YYYYMM...
        meta["date"] = f"{created[2:6]}-{created[6:8]}"
    return meta


def _is_encrypted(pdf: pdfium.PdfDocument) -> bool:
    # -1 means "no security handler"; anything else is an encrypted file.
    return int(pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw)) != -1


def load_pdf(path: Path, data: bytes) -> PdfContent:
    """Extract every page's text; SourceError for encrypted, broken or textless PDFs."""
    if not data.lstrip().startswith(b"%PDF"):
        raise SourceError(str(path), "not a PDF file (no %PDF header)")
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise SourceError(str(path), "encrypted PDF (password required)") from None
        raise SourceError(str(path), f"unreadable PDF: {exc}") from None
    try:
        # Refuse encrypted files even when they open without a password: their
        # owner restricts copying, and quoting them is what natoqa does.
        if _is_encrypted(pdf):
            raise SourceError(str(path), "encrypted PDF")
        pages: list[str] = []
        numbers: list[int] = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            pages.append(_layout(_lines(textpage)))
            textpage.close()
            page.close()
            numbers.append(_page_number(pdf, index))
        meta = _meta(pdf)
    finally:
        pdf.close()
    if not any(p.strip() for p in pages):
        raise SourceError(str(path), "PDF has no extractable text (scanned images?)")
    return PdfContent(tuple(pages), tuple(numbers), meta)
