"""Cleaning the real study text (PDF extracted page by page) and the news article."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from natoqa.ingest.cleaning import clean
from natoqa.ingest.cleaning.joining import merge
from natoqa.ingest.sources import load_file
from natoqa.models import Document, RawDocument

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
STUDY = "000_1806e3d119a3e492.txt"
NEWS = "002_7ab4b17f7a80dd35.txt"

TOC = {
    "Einleitung": 3,
    "Das Internationale Sekretariat und der Umgang mit Donald Trump: "
    "Lastenteilung und Aufgabenteilung": 4,
    "Der russische Angriffskrieg und die Rückkehr der kollektiven Verteidigung": 5,
    "Das Verhältnis zur Ukraine: Solidarität mit Grenzen": 7,
    "Das Verhältnis zu China: der Herausforderung trotzen": 8,
    "Global agieren, China entgegentreten: die Partnerschaften der NATO": 9,
    "Die südliche Nachbarschaft bleibt aktuell": 10,
    "Hybride Bedrohungen: akut": 12,
    "Nukleare Abschreckung und das Vertrauensdilemma": 12,
    "Jenseits von Abschreckung und Verteidigung: die NATO als Wertegemeinschaft": 13,
}


@cache
def study() -> Document:
    return clean(load_file(CORPUS / STUDY, CORPUS))


@cache
def news() -> Document:
    return clean(load_file(CORPUS / NEWS, CORPUS))


def page_at(doc: Document, offset: int) -> int:
    return next(p.page for p in doc.pages if p.start <= offset < p.end)


@pytest.mark.parametrize(
    "whole",
    [
        "Aus der ersteren Perspektive betrachtet",
        "unterstützt die Kompromisssuche. Er verfügt",
        "nicht erkennen lassen, einer solchen Variante zustimmen",
        "militärischen Kräfteverhältnisse nicht mehr",
        "lukrative Rüstungsgeschäfte in Europa",
        "höheren Verteidigungsausgaben der europäischen",
        "auf einen schnellen Beitritt gedrängt",
        "Partnerschaften. Seit dem Ende des Ost-West-Konflikts",
    ],
)
def test_split_words_and_sentences_read_whole(whole: str) -> None:
    assert whole in study().text


@pytest.mark.parametrize(
    "kept",
    [
        "Kommunikations- und Verhandlungsmaschine",
        "NATO-Staaten",
        "Staats- und Regierungschefs",
        "Rekonstitutionsfähigkeit und -geschwindigkeit",
    ],
)
def test_real_hyphens_stay(kept: str) -> None:
    assert kept in study().text


def test_merge_rules() -> None:
    assert (
        merge("der ersteren Pers-", "pektive betrachtet") == "der ersteren Perspektive betrachtet"
    )
    assert merge("eine Kommunikations-", "und Verhandlungsmaschine") == (
        "eine Kommunikations- und Verhandlungsmaschine"
    )
    assert merge("die NATO-", "Staaten") == "die NATO-Staaten"
    assert merge("die NATO-", "interne Debatte") == "die NATO-interne Debatte"
    assert merge("die Ost-", "West-Beziehungen") == "die Ost-West-Beziehungen"
    assert merge("Abschreckung -", "und mehr") == "Abschreckung - und mehr"
    assert merge("for long-", "term", frozenset({("long", "term")})) == "for long-term"
    assert merge("Über den Konsens hinaus,", "dass es besser sei") == (
        "Über den Konsens hinaus, dass es besser sei"
    )


def test_footnotes_lifted_out_of_the_body() -> None:
    doc = study()
    assert [f.number for f in doc.footnotes] == list(range(1, 36))
    for note in doc.footnotes:
        assert note.text and note.text not in doc.text
    assert "NATO is becoming braindead" not in doc.text
    first = doc.footnotes[0]
    assert first.text.startswith("Neu an dieser Nomenklatur")
    assert not doc.footnotes[12].text[0].isdigit()  # "13 Stoltenberg …" lost its number
    assert doc.footnotes[12].text.startswith("Stoltenberg hatte 2024 ausgeführt")


def test_footnote_markers_stay_and_are_normalised() -> None:
    text = study().text
    assert "(NATO 2022).¹" in text
    assert "term confrontation«.⁹ Von Dialog" in text  # the loose " ⁹ " attached
    assert " ¹⁰ " not in text and " ⁹ " not in text


def test_footnote_pages_follow_their_page() -> None:
    pages = {f.number: f.page for f in study().footnotes}
    assert pages[1] == 3
    assert all(pages[n] == 4 for n in range(2, 7))
    assert all(pages[n] == 7 for n in range(13, 19))
    assert pages[33] == 12
    assert pages[34] == pages[35] == 13


def test_front_and_back_matter_out_of_the_text() -> None:
    doc = study()
    assert doc.text.startswith("Putins Angriffskrieg hatte die NATO geeint")
    for gone in ("Impressum", "Godesberger Allee", "Inhalt\n", "Lektorat", "\t"):
        assert gone not in doc.text
    assert "Unsichere Führung in stürmischen Zeiten" not in doc.text
    assert doc.text.rstrip().endswith("auch im Generalsekretariat umstritten.")
    assert doc.backmatter.startswith("Literatur")
    assert "Covington, S. (2023)" in doc.backmatter
    assert "Über die Autoren" in doc.backmatter
    assert "Politikwissenschaftler am PRIF" in doc.backmatter
    assert "Belfer Center" not in doc.text and "PRIF" not in doc.text


def test_sections_are_the_toc_and_cover_the_text() -> None:
    doc = study()
    assert [s.title for s in doc.sections] == list(TOC)
    assert doc.sections[0].start == 0
    assert doc.sections[-1].end == len(doc.text)
    for prev, nxt in zip(doc.sections, doc.sections[1:], strict=False):
        assert prev.end == nxt.start
    ukraine = next(s for s in doc.sections if s.title.startswith("Das Verhältnis zur Ukraine"))
    assert doc.text[ukraine.start :].startswith("Die Beziehungen zwischen der NATO und der Ukraine")


def test_pages_match_the_table_of_contents() -> None:
    doc = study()
    for section in doc.sections:
        assert page_at(doc, section.start) == TOC[section.title], section.title
    assert doc.pages[0].start == 0 and doc.pages[-1].end == len(doc.text)
    assert [p.page for p in doc.pages] == list(range(3, 15))
    # "Kompro-" is on page 3, its second half "misssuche" starts page 4
    at = doc.text.index("Kompromisssuche")
    assert page_at(doc, at) == 3 and page_at(doc, at + len("Kompro")) == 4


def test_inline_markup() -> None:
    text = study().text
    assert "*" not in text
    assert "(abandonment)" in text and "sense of purpose" in text
    assert "»Trump-Flüsterer«" in text
    assert "  " not in text


def test_study_metadata() -> None:
    meta = study().meta
    assert meta.title.startswith("Die Zukunft der NATO")
    assert meta.authors == ("Matthias Dembinski", "Hans-Joachim Spanger")
    assert meta.date == "2025-06" and meta.language == "de"


def test_news_article() -> None:
    doc = news()
    assert doc.text.startswith("Der frühere niederländische Regierungschef Mark Rutte")
    assert "date 2024-10" not in doc.text
    assert doc.meta.date == "2024-10"
    titles = [s.title for s in doc.sections]
    assert titles[1:] == [
        "Trump 2.0 oder Harris",
        "Unterstützung der Ukraine",
        "Abschreckung Russlands",
        "Mehr Investitionen in Verteidigung",
        "Härtere Haltung zu China",
    ]
    assert "Trump 2.0 oder Harris" not in doc.text
    assert doc.pages == ()  # no page breaks, no ToC: pages unknown rather than guessed


def test_fallbacks_without_metadata() -> None:
    text = (CORPUS / NEWS).read_text(encoding="utf-8")
    raw = RawDocument("news.txt", (text,), {}, "h", "txt")
    doc = clean(raw)
    assert doc.meta.date == "2024-10"
    assert doc.meta.language == "de"
    assert doc.meta.title.startswith("Der frühere niederländische Regierungschef")
    assert len(doc.meta.title) <= 125


@pytest.mark.parametrize(
    "content",
    ["", "\n\n\n", "12345", "¹ nur eine Fußnote", "Inhalt\n\nA\t1\nB\t2\nC\t3", "- \n* \n#"],
)
def test_clean_never_raises(content: str) -> None:
    doc = clean(RawDocument("x.txt", (content,), {}, "h", "txt"))
    assert isinstance(doc.text, str)
