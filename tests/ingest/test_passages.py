"""Splitting cleaned documents into passages, on the real corpus; and the sentence splitter."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from natoqa.ingest.cleaning import clean
from natoqa.ingest.passages import passage_id, split
from natoqa.ingest.sources import load_file
from natoqa.models import Document, Passage
from natoqa.text.sentences import entry_spans, sentence_spans

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
STUDY = "000_1806e3d119a3e492.txt"
NEWS = "002_7ab4b17f7a80dd35.txt"
SUPERSCRIPT = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹]+")


@cache
def doc(name: str = STUDY) -> Document:
    return clean(load_file(CORPUS / name, CORPUS))


@cache
def passages(name: str = STUDY) -> tuple[Passage, ...]:
    return tuple(split(doc(name)))


def body(name: str = STUDY) -> list[Passage]:
    return [p for p in passages(name) if p.kind == "body"]


@pytest.mark.parametrize(
    "word",
    [
        "Perspektive",
        "Kompromisssuche",
        "einer solchen Variante",
        "Kräfteverhältnisse",
        "Rüstungsgeschäfte",
    ],
)
def test_split_words_read_whole_in_a_passage(word: str) -> None:
    assert any(word in p.text for p in body())


def test_offsets_round_trip() -> None:
    for name in (STUDY, NEWS):
        d = doc(name)
        for p in body(name):
            assert d.text[p.start : p.end] == p.text
        for p in passages(name):
            if p.kind == "footnote":
                note = next(f for f in d.footnotes if f.number == p.footnote)
                assert note.text[p.start : p.end] == p.text


def test_no_body_passage_holds_footnote_text() -> None:
    notes = doc().footnotes
    for p in body():
        for note in notes:
            assert note.text[:40] not in p.text


def test_every_footnote_is_its_own_passage() -> None:
    notes = [p for p in passages() if p.kind == "footnote"]
    assert [p.footnote for p in notes] == list(range(1, 36))
    thirteen = next(p for p in notes if p.footnote == 13)
    assert thirteen.text.startswith("Stoltenberg hatte 2024 ausgeführt")
    assert thirteen.page == 7
    citing = next(p for p in body() if 13 in p.footnote_refs)
    assert thirteen.section == citing.section
    assert (citing.section or "").startswith("Der russische Angriffskrieg und die Rückkehr")


def test_footnote_refs_are_the_markers() -> None:
    for p in body():
        markers = tuple(
            int(m.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")))
            for m in SUPERSCRIPT.findall(p.text)
        )
        assert p.footnote_refs == tuple(dict.fromkeys(markers))
    refs = [n for p in body() for n in p.footnote_refs]
    assert sorted(refs) == list(range(1, 36))  # every footnote cited exactly once


def test_body_first_then_footnotes_in_order() -> None:
    ps = passages()
    assert [p.ordinal for p in ps] == list(range(len(ps)))
    kinds = [p.kind for p in ps]
    assert kinds == sorted(kinds, key=lambda k: k != "body")
    starts = [p.start for p in body()]
    assert starts == sorted(starts)


def test_no_toc_or_front_matter_passage() -> None:
    for p in passages():
        assert "\t" not in p.text
        assert not re.search(r"^.{5,120}\s\d{1,2}$", p.text, re.M)  # "Einleitung 3"
        assert "Impressum" not in p.text and "Godesberger" not in p.text


def test_every_passage_has_section_and_page() -> None:
    toc_titles = {s.title for s in doc().sections}
    for p in passages():
        if p.kind == "backmatter":  # filed under its own headings, after the last page
            continue
        assert p.section in toc_titles
        assert p.page is not None and 3 <= p.page <= 14


def test_pages_match_the_toc() -> None:
    def first_of(section: str) -> Passage:
        return next(p for p in body() if p.section == section)

    assert first_of("Das Verhältnis zur Ukraine: Solidarität mit Grenzen").page == 7
    assert first_of("Einleitung").page == 3
    assert first_of("Die südliche Nachbarschaft bleibt aktuell").page == 10
    assert first_of("Nukleare Abschreckung und das Vertrauensdilemma").page == 12
    jenseits = "Jenseits von Abschreckung und Verteidigung: die NATO als Wertegemeinschaft"
    assert first_of(jenseits).page == 13


def test_passages_stay_within_their_section() -> None:
    d = doc()
    for p in body():
        section = next(s for s in d.sections if s.start <= p.start < s.end)
        assert p.end <= section.end and p.section == section.title


def test_word_counts_within_bounds() -> None:
    for name in (STUDY, NEWS):
        by_section: dict[str | None, list[Passage]] = {}
        for p in body(name):
            by_section.setdefault(p.section, []).append(p)
        for group in by_section.values():
            for p in group:
                assert p.word_count <= 200
            for p in group[:-1]:  # only a section's last passage may be short
                assert p.word_count >= 60, p.text


def test_sentences_are_never_cut() -> None:
    for p in body():
        assert p.text[0].isupper() or p.text[0] in "»„(", p.text[:40]
        assert p.text.rstrip()[-1] in ".!?«“)" or SUPERSCRIPT.search(p.text[-3:]), p.text[-40:]


def test_ids_stable_and_content_derived() -> None:
    again = split(clean(load_file(CORPUS / STUDY, CORPUS)))
    assert [p.passage_id for p in again] == [p.passage_id for p in passages()]
    ids = [p.passage_id for p in passages()]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch("[0-9a-f]{16}", i) for i in ids)
    assert passage_id("a.txt", "Text.") == passage_id("a.txt", "Text.")
    assert passage_id("a.txt", "Text.") != passage_id("b.txt", "Text.")


def test_changed_text_changes_only_its_ids() -> None:
    d = doc()
    at = d.text.index("Putins Angriff stärkte zwar")  # in the Einleitung's second passage
    changed = replace(d, text=d.text[:at] + "Putin" + d.text[at + len("Putins") :])
    changed = replace(
        changed,
        sections=tuple(
            replace(s, start=s.start - (s.start > at), end=s.end - (s.end > at)) for s in d.sections
        ),
        pages=tuple(
            replace(p, start=p.start - (p.start > at), end=p.end - (p.end > at)) for p in d.pages
        ),
    )
    before = {p.passage_id for p in passages()}
    after = {p.passage_id for p in split(changed)}
    assert len(before - after) == 1 and len(after - before) == 1


def test_overlap_repeats_whole_sentences() -> None:
    plain = body(NEWS)
    over = [p for p in split(doc(NEWS), min_words=20, max_words=60, overlap=25) if p.kind == "body"]
    same_section = [(a, b) for a, b in itertools.pairwise(over) if a.section == b.section]
    assert same_section
    overlapping = [(a, b) for a, b in same_section if b.start < a.end]
    assert len(overlapping) >= len(same_section) - 1  # a one-sentence passage lends nothing
    for a, b in overlapping:
        shared = doc(NEWS).text[b.start : a.end]
        assert shared[0].isupper() and shared.rstrip()[-1] in ".!?«“"  # whole sentences
    assert all(a.end <= b.start for a, b in itertools.pairwise(plain))


def test_backmatter_comes_last_in_sections_that_begin_at_their_heading() -> None:
    back = [p for p in passages() if p.kind == "backmatter"]
    assert [p.ordinal for p in back] == list(range(len(passages()) - len(back), len(passages())))
    assert [p.section for p in back] == ["Literatur"] * 3 + [
        "Über die Autoren", "Die Zukunft der NATO \u2013 NATO intern"]
    for p in back:
        assert doc().backmatter[p.start : p.end] == p.text  # offsets into the back matter
    # a section's first passage begins at its heading: the notes never say "Autor"
    notes = back[3]
    assert notes.text.startswith("Über die Autoren\n\nDr. Matthias Dembinski ist")
    assert notes.text.endswith("Demokratieförderung und Russland.")
    assert back[0].text.startswith("Literatur\n\n- Covington, S. (2023)")
    assert back[1].text.startswith("- Lesser, I. (2024)")  # the next one with its bullet
    assert not any(p.kind == "backmatter" for p in split(doc(), include_backmatter=False))


def test_no_bibliography_entry_is_cut() -> None:
    bibliography = doc().backmatter.split("\n\n")[1]
    entries = bibliography.removeprefix("- ").split(" - ")
    assert len(entries) == 25 and entries[3].startswith("Grgić, G. (2024)")
    texts = [p.text for p in passages() if p.section == "Literatur"]
    for entry in entries:
        assert sum(entry in t for t in texts) == 1, entry


def _with_backmatter(backmatter: str) -> Document:
    return replace(doc(NEWS), backmatter=backmatter)


def test_backmatter_sections_at_short_headings() -> None:
    notes = ("Dr. Erika Muster ist Politikwissenschaftlerin am Institut in Bonn. "
             "Sie forscht zu Bündnissen.")
    back = "\n\n".join([
        "Vorab ein Satz ohne Überschrift, der im Anhang steht.",
        "Über die Autorin", notes,
        "Literatur", "- Muster, E. (2020) Titel. Bonn: Verlag. - Beispiel, B. (2021) »Aufsatz«, "
        "Zeitschrift, 1(2), S. 3-4.",
        "Weitere Informationen erhalten Sie hier:",  # ends like a sentence: not a heading
        "Eine Überschrift ohne Text",
    ])
    got = [p for p in split(_with_backmatter(back)) if p.kind == "backmatter"]
    assert [(p.section, p.text) for p in got] == [
        ("Anhang", "Vorab ein Satz ohne Überschrift, der im Anhang steht."),
        ("Über die Autorin", f"Über die Autorin\n\n{notes}"),
        ("Literatur", back[back.index("Literatur") : back.index("\n\nEine Überschrift")]),
    ]
    # a long list is cut between its entries, never inside one
    entries = " - ".join(f"Autor{i}, A. (20{i:02d}) Ein Titel mit vielen Wörtern. Ort: Verlag."
                         for i in range(20))
    long = split(_with_backmatter(f"Literatur\n\n- {entries}"), min_words=20, max_words=40)
    parts = [p.text for p in long if p.kind == "backmatter"]
    assert len(parts) > 2 and parts[0].startswith("Literatur\n\n- Autor0, A.")
    assert all(t.startswith("- Autor") and t.endswith("Ort: Verlag.") for t in parts[1:])


def test_short_news_sections_form_small_passages() -> None:
    ps = body(NEWS)
    assert ps[0].text.endswith("eine Reihe komplexer Aufgaben:")
    assert ps[0].word_count < 60  # a short section is one small passage
    assert all(p.page is None for p in ps)


# --- sentence splitting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Die Wahl ist am 5. November. Dann folgt mehr.",
            ["Die Wahl ist am 5. November.", "Dann folgt mehr."],
        ),
        (
            "Er nannte z.B. die USA. Dr. Müller widersprach.",
            ["Er nannte z.B. die USA.", "Dr. Müller widersprach."],
        ),
        ("Siehe Nr. 5 und vgl. Abs. 3. Das gilt.", ["Siehe Nr. 5 und vgl. Abs. 3.", "Das gilt."]),
        (
            "Vilnius Summit Communique, 11. Juli 2023, Paragraph 28. Rutte hält das für nötig.",
            [
                "Vilnius Summit Communique, 11. Juli 2023, Paragraph 28.",
                "Rutte hält das für nötig.",
            ],
        ),
        (
            "Im 20. Jahrhundert war das anders. Heute nicht.",
            ["Im 20. Jahrhundert war das anders.", "Heute nicht."],
        ),
        (
            "Rutte hält das für nötig.⁵ In einem Interview sagte er es.",
            ["Rutte hält das für nötig.⁵", "In einem Interview sagte er es."],
        ),
        ("Er sagte: »Wir sind da.« Dann ging er.", ["Er sagte: »Wir sind da.«", "Dann ging er."]),
        (
            "Sie nannte ein Ziel: »north of 3%«. Die nötigen 3,6 Prozent.",
            ["Sie nannte ein Ziel: »north of 3%«.", "Die nötigen 3,6 Prozent."],
        ),
        (
            "Das zeigte O\u2019Sullivan (2024). 2012 ernannte er eine Gesandte.",
            ["Das zeigte O\u2019Sullivan (2024).", "2012 ernannte er eine Gesandte."],
        ),
        (
            "Washington, D.C. ist groß. Die Friedrich-Ebert-Stiftung e.V. auch.",
            ["Washington, D.C. ist groß.", "Die Friedrich-Ebert-Stiftung e.V. auch."],
        ),
        ("Ein Titel ohne Punkt\n\nEin Satz.", ["Ein Titel ohne Punkt", "Ein Satz."]),
    ],
)
def test_sentence_splitter(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in sentence_spans(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # cleaning joins a list into one line: its items, without bullets, whole
            "Literatur\n\n- Deni, J.R. (2024) The New NATO Force Model: Ready for Launch? "
            "Rom: NATO Defense College. - Hooker, R. (2020) »Major Theatre War«, The RUSI "
            "Journal, 165(7), S. 85-94. - Wither, J. (2023) Svalbard. Verfügbar unter: "
            "www.example.org (Zugriff am: 15.01.2025).",
            ["Literatur",
             "Deni, J.R. (2024) The New NATO Force Model: Ready for Launch? Rom: NATO Defense "
             "College.",
             "Hooker, R. (2020) »Major Theatre War«, The RUSI Journal, 165(7), S. 85-94.",
             "Wither, J. (2023) Svalbard. Verfügbar unter: www.example.org (Zugriff am: "
             "15.01.2025)."],
        ),
        (  # a line per item; a dash inside an item is no bullet
            "• Erstens. Mit Satz.\n• Zweitens - mit Strich.",
            ["Erstens. Mit Satz.", "Zweitens - mit Strich."],
        ),
        (  # prose is split into sentences, as sentence_spans splits it
            "Dr. Müller forscht. Er lehrt - oft.\n\n- Ein Punkt. - Noch einer.",
            ["Dr. Müller forscht.", "Er lehrt - oft.", "Ein Punkt.", "Noch einer."],
        ),
    ],
)
def test_entry_splitter(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in entry_spans(text)] == expected
