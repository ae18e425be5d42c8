"""The shared text analyzer and characters: what search and answers both read the same way."""

from __future__ import annotations

from natoqa.text import analyzer
from natoqa.text.characters import FOOTNOTE_MARKER, from_superscript, superscript


def test_tokens_join_digit_groups_and_read_percent_as_the_corpus_word() -> None:
    assert analyzer.tokens("Die NATO will 2% und 800 000 Soldaten.") == [
        "die", "nato", "will", "2", "prozent", "und", "800000", "soldaten",
    ]
    assert analyzer.words("Die NATO will 2% und 800 000 Soldaten.") == [
        "nato", "2", "prozent", "800000", "soldaten",
    ]


def test_stems_fold_inflection_and_umlauts() -> None:
    assert analyzer.stem("bündnisses") == analyzer.stem("bündnis") == "bundnis"


def test_stop_words_are_german_and_english() -> None:
    assert {"die", "und", "the", "and"} <= analyzer.STOPWORDS
    assert analyzer.STOPWORDS == analyzer.STOPWORDS_DE | analyzer.STOPWORDS_EN


def test_superscript_markers_round_trip() -> None:
    assert superscript(12) == "¹²" and from_superscript("¹²") == 12
    assert FOOTNOTE_MARKER.findall("nötig.⁵ Weiter¹² hier") == ["⁵", "¹²"]

