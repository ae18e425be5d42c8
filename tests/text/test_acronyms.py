"""Acronyms that name one thing under different letters."""

from __future__ import annotations

from natoqa.text.acronyms import GROUPS, equivalents, to_known


def test_equivalents_are_the_forms_of_one_name() -> None:
    assert equivalents("UN") == {"UN", "UNO", "VN"} == equivalents("VN")
    assert equivalents("GDP") == {"GDP", "BIP"}
    assert equivalents("CSTO") == {"CSTO", "OVKS"}
    assert equivalents("KFOR") == {"KFOR"}  # one form only


def test_no_form_belongs_to_two_names() -> None:
    forms = [form for group in GROUPS for form in group]
    assert len(forms) == len(set(forms))


def test_to_known_writes_an_unknown_acronym_as_a_known_form() -> None:
    corpus = {"VN", "BIP", "NATO", "USA", "US"}
    known = corpus.__contains__
    assert to_known("Does NATO work with the UN?", known) == "Does NATO work with the VN?"
    assert to_known("Arbeitet die NATO mit der UNO zusammen?", known) == (
        "Arbeitet die NATO mit der VN zusammen?")
    assert to_known("How much of its GDP, and the UN's?", known) == (
        "How much of its BIP, and the VN's?")
    # known forms, and acronyms with no known form, stay as they are
    assert to_known("What did the US and the CSTO decide?", known) == (
        "What did the US and the CSTO decide?")
    assert to_known("Wer ist UNO-Generalsekretär?", lambda a: False) == (
        "Wer ist UNO-Generalsekretär?")
