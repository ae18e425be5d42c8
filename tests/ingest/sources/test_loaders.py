"""Each loader on a small real file of its format."""

from __future__ import annotations

from pathlib import Path

from natoqa.ingest.cleaning import clean
from natoqa.ingest.sources import SUPPORTED_SUFFIXES, load_file
from natoqa.ingest.sources._io import content_hash
from tests.ingest.sources.conftest import THREE_PAGES, PdfMaker

NEWS = (
    "date 2024-10 Rutte übernimmt am Dienstag das Amt des Generalsekretärs.\n\n"
    "Aufgaben des Bündnisses\n\n"
    "Die Allianz muss ihre Verteidigung stärken. Die Mitglieder streiten über Geld.\n"
)

HTML = """<!doctype html><html lang="de"><head>
<title>NATO vor neuen Aufgaben | Beispielzeitung</title>
<meta name="author" content="Erika Muster"></head><body>
<nav><ul><li><a href="/">Startseite</a></li><li><a href="/politik">Politik</a></li>
<li><a href="/sport">Sport und Freizeit</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">Wir verwenden Cookies, um unsere Website zu
verbessern. <button>Alle akzeptieren</button></div>
<main><article><h1>NATO vor neuen Aufgaben</h1>
<p>Die Allianz steht vor großen Herausforderungen. Der neue Generalsekretär Mark Rutte will die
Verteidigungsausgaben erhöhen und die Zusammenarbeit mit der Europäischen Union stärken.</p>
<h2>Hilfe für die Ukraine</h2>
<p>Die Unterstützung der Ukraine bleibt eine zentrale Aufgabe des Bündnisses. Viele Mitgliedstaaten
liefern Waffen, Munition und Ausrüstung, und ein neues Kommando in Wiesbaden koordiniert sie.</p>
<p>Ein zweiter Absatz mit <em>Hervorhebung</em> zeigt, dass die Debatte über die Zukunft anhält.</p>
</article></main>
<footer><p>© 2024 Beispielzeitung GmbH · Impressum · Datenschutz · Kontakt</p></footer>
</body></html>"""


def test_supported_suffixes() -> None:
    assert frozenset({".txt", ".md", ".pdf", ".html", ".htm"}) == SUPPORTED_SUFFIXES


def test_txt_with_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "news.txt"
    path.parent.mkdir()
    path.write_text(NEWS, encoding="utf-8")
    side = tmp_path / "sub" / "news.meta.toml"
    side.write_text('title = "Rutte im Amt"\nauthors = "AFP"\n', encoding="utf-8")
    raw = load_file(path, tmp_path)
    assert raw.doc_id == "sub/news.txt"
    assert raw.meta == {"title": "Rutte im Amt", "authors": ("AFP",)}
    assert raw.content_hash == content_hash(path.read_bytes(), side.read_bytes())
    doc = clean(raw)
    assert doc.meta.date == "2024-10"  # from the leading date line ...
    assert "date" not in doc.text  # ... which is not text
    assert doc.text.startswith("Rutte übernimmt")
    assert [s.title for s in doc.sections] == ["Rutte im Amt", "Aufgaben des Bündnisses"]


def test_sidecar_change_changes_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(NEWS, encoding="utf-8")
    before = load_file(path, tmp_path).content_hash
    (tmp_path / "a.meta.toml").write_text('title = "X"\n', encoding="utf-8")
    assert load_file(path, tmp_path).content_hash != before


def test_markdown_yaml_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\ntitle: Notiz zur NATO\nauthors: [A. Autor, B. Autorin]\ndate: 2024-05-01\n---\n"
        "# Notiz zur NATO\n\nEin Satz mit *Betonung* und [Link](https://example.org).\n\n"
        "## Zweiter Teil\n\nNoch ein Absatz über Abschreckung.\n",
        encoding="utf-8",
    )
    raw = load_file(path, tmp_path)
    assert raw.meta["title"] == "Notiz zur NATO"
    assert raw.meta["authors"] == ("A. Autor", "B. Autorin")
    assert raw.meta["date"] == "2024-05-01"
    doc = clean(raw)
    assert "---" not in doc.text and "#" not in doc.text and "*" not in doc.text
    assert "Ein Satz mit Betonung und Link." in doc.text
    assert [s.title for s in doc.sections] == ["Notiz zur NATO", "Zweiter Teil"]


def test_markdown_toml_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        '+++\ntitle = "TOML-Notiz"\nlanguage = "de"\n+++\nText über die NATO.\n', encoding="utf-8"
    )
    raw = load_file(path, tmp_path)
    assert raw.meta == {"title": "TOML-Notiz", "language": "de"}
    assert clean(raw).text == "Text über die NATO."


def test_html_main_text_only(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = clean(load_file(path, tmp_path))
    assert "Die Allianz steht vor großen Herausforderungen." in doc.text
    assert "Ein zweiter Absatz mit Hervorhebung zeigt" in doc.text
    for chrome in ("Startseite", "Cookies", "akzeptieren", "Datenschutz", "Beispielzeitung GmbH"):
        assert chrome not in doc.text
    assert doc.meta.title.startswith("NATO vor neuen Aufgaben")
    assert doc.meta.language == "de"
    assert "Hilfe für die Ukraine" in [s.title for s in doc.sections]
    ukraine = next(s for s in doc.sections if s.title == "Hilfe für die Ukraine")
    assert doc.text[ukraine.start :].startswith("Die Unterstützung der Ukraine")


def test_pdf_pages(tmp_path: Path, make_pdf: PdfMaker) -> None:
    path = make_pdf(tmp_path / "bericht.pdf", THREE_PAGES)
    raw = load_file(path, tmp_path)
    assert raw.paged and raw.fmt == "pdf"
    assert raw.page_numbers == (1, 2, 3)
    assert raw.meta["title"] == "Testbericht zur NATO"
    doc = clean(raw)

    def page_of(needle: str) -> int:
        at = doc.text.index(needle)
        return next(p.page for p in doc.pages if p.start <= at < p.end)

    assert page_of("Das Bündnis wurde 1949") == 1
    assert page_of("über höhere Verteidigungsausgaben") == 1  # word rejoined across pages
    assert page_of("Danach wurde viel gestritten") == 2
    assert page_of("Die Zukunft der Allianz") == 3
    assert "hirntot.¹ Danach" in doc.text  # glued plain marker made a superscript
    assert "für nötig.² Die Debatte" in doc.text  # raised small digit read as superscript
    assert [(f.number, f.page) for f in doc.footnotes] == [(1, 2), (2, 2)]
    assert doc.footnotes[1].text.endswith("onto a second line of the footnote.")
    assert "Economist" not in doc.text and "Concert Noble" not in doc.text
    assert [s.title for s in doc.sections] == ["Einleitung", "Fazit"]


def test_pdf_page_labels_are_the_page_numbers(tmp_path: Path, make_pdf: PdfMaker) -> None:
    path = make_pdf(tmp_path / "bericht.pdf", THREE_PAGES, first_label=5)
    raw = load_file(path, tmp_path)
    assert raw.page_numbers == (5, 6, 7)
    doc = clean(raw)
    assert [p.page for p in doc.pages] == [5, 6, 7]
    assert [f.page for f in doc.footnotes] == [6, 6]
