"""German-aware BM25: tokens, compound splitting, scoring, coverage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from natoqa.index.lexicon import Lexicon
from natoqa.retrieve.lexical import LexicalIndex
from natoqa.text.analyzer import identifiers, numbered, place_names, words
from natoqa.text.compounds import Analyzer, Decompounder

TEXTS = [
    "Die Verteidigungsausgaben der Mitgliedstaaten sollen auf zwei Prozent steigen.",
    "Das New Force Model sieht insgesamt 800 000 Soldaten vor.",
    "Die Ausgaben für Bildung und die Verteidigung der Küste sind getrennte Haushalte.",
    "Der Generalsekretär führt den Vorsitz im Nordatlantikrat.",
    "Russland gilt als größte Bedrohung für die Sicherheit des Bündnisses.",
]


def test_words_lowercase_drop_stop_words_and_join_digit_groups() -> None:
    assert words("Die NATO plant 800 000 Soldaten, 1.352 Beschäftigte und 40,000 troops.") == [
        "nato", "plant", "800000", "soldaten", "1352", "beschäftigte", "40000", "troops",
    ]


def test_words_keep_decimal_numbers_apart_from_groups() -> None:
    assert "5" in words("2,5 Prozent") and "2" in words("2,5 Prozent")


def test_decompounder_splits_at_known_words_with_linking_s() -> None:
    counts = Counter({"verteidigung": 5, "ausgaben": 3, "mitglied": 2, "staaten": 9})
    d = Decompounder(counts)
    assert d.split("verteidigungsausgaben") == ("verteidigung", "ausgaben")
    assert d.split("mitgliedstaaten") == ("mitglied", "staaten")


def test_decompounder_leaves_unknown_and_short_words_whole() -> None:
    d = Decompounder(Counter({"verteidigung": 5}))
    assert d.split("bearbeiten") == ()
    assert d.split("verteidigung") == ()  # no split into known parts: stays whole
    assert d.split("haus") == ()
    assert d.split("2024") == ()


def test_decompounder_finds_three_parts() -> None:
    d = Decompounder(Counter({"nato": 4, "truppen": 3, "abzug": 2}))
    assert d.split("natotruppenabzug") == ("nato", "truppen", "abzug")


def test_analyzer_adds_parts_beside_the_whole_stem() -> None:
    analyzer = Analyzer(Decompounder(Counter({"verteidigung": 5, "ausgaben": 3})))
    terms = analyzer.terms("Verteidigungsausgaben")
    assert terms[0] == "verteidigungsausgab"  # the whole word, stemmed
    assert set(terms[1:]) == {"verteid", "ausgab"}


def test_stemming_meets_inflections_and_umlauts() -> None:
    index = LexicalIndex(TEXTS)
    assert int(np.argmax(index.scores("Bündnis"))) == 4


def test_compound_in_the_text_matches_its_parts_in_the_question() -> None:
    """'Ausgaben für Verteidigung' must find 'Verteidigungsausgaben' too."""
    plain = LexicalIndex(TEXTS, decompound=False)
    split = LexicalIndex(TEXTS)
    q = "Wie hoch sind die Ausgaben für die Verteidigung?"
    assert plain.scores(q)[0] == 0.0  # no whole word in common
    assert split.scores(q)[0] > 0.0


def test_compound_in_the_question_matches_parts_in_the_text() -> None:
    index = LexicalIndex(TEXTS)
    scores = index.scores("Küstenverteidigung")  # not in the corpus as a word
    assert int(np.argmax(scores)) == 2 and scores[2] > 0


def test_numbers_written_apart_match() -> None:
    index = LexicalIndex(TEXTS)
    assert int(np.argmax(index.scores("800.000 Soldaten"))) == 1


def test_no_known_term_gives_zeros_not_an_error() -> None:
    index = LexicalIndex(TEXTS)
    assert not index.scores("Quantenchromodynamik").any()
    assert not index.scores("").any()
    assert not index.scores("die der und").any()  # only stop words


def test_empty_index() -> None:
    index = LexicalIndex([])
    assert len(index) == 0
    assert index.scores("NATO").shape == (0,)
    assert index.coverage("NATO") == 0.0


def test_coverage_is_high_for_german_and_low_for_english_or_unknown_terms() -> None:
    index = LexicalIndex(TEXTS)
    german = index.coverage("Wie viele Soldaten sieht das Force Model vor?")
    english = index.coverage("How many troops does the model foresee?")
    unknown = index.coverage("Quantenchromodynamik Teilchenbeschleuniger")
    assert german > 0.6
    assert english < german
    assert unknown == 0.0
    assert index.coverage("") == 0.0


def test_identifiers_are_acronyms_and_numbers_written_alike_everywhere() -> None:
    assert identifiers("What did the CSTO decide at its summit in 2023?") == {"CSTO", "2023"}
    # a genitive or plural ending, digit groups and "AP 4" against "AP4" do not matter
    assert identifiers("NATO's budget, NATOs Gipfel") == {"NATO"}
    assert identifiers("insgesamt 800 000 Soldaten, 40,000 troops") == {"800000", "40000"}
    # digits inside a word are no number: a request id, a hash, "F35A"
    assert identifiers("Was erbt Rutte? 3fa907c1 a1234 F35A") == set()
    assert identifiers("Im Jahr 1999.") == {"1999"}
    assert identifiers("Die AP 4 sehen") == identifiers("the AP4 see") == {"AP4"}
    assert identifiers("MQ-9 und CSTO 2023") == {"MQ9", "CSTO", "2023"}  # a year stays apart
    assert identifiers("3,6 Prozent, Tier 1, Art. 42") == set()  # short numbers say little


def test_numbered_splits_an_acronym_from_its_short_number() -> None:
    assert numbered("AP4") == ("AP", "4")
    assert numbered("MQ9") == ("MQ", "9")
    assert numbered("NATO") is None
    assert numbered("1999") is None
    assert numbered("CSTO2023") is None  # a year is never joined to an acronym


def test_a_percent_sign_is_read_as_the_word() -> None:
    assert words("das 2%-Ziel") == words("das 2 Prozent-Ziel") == ["2", "prozent", "ziel"]


def test_place_names_are_capitalised_er_words_before_a_noun_inside_the_sentence() -> None:
    assert place_names("Wie viele Mitglieder hatte der Warschauer Pakt?") == ["Warschauer Pakt"]
    assert place_names("Was beschloss die Shanghaier Organisation für Zusammenarbeit?") == [
        "Shanghaier Organisation"]
    # a noun in -er before a name is matched too (abstention reads it as a noun when the
    # passages also write it alone: natoqa.retrieve.names)
    assert place_names("Was sagte der Minister Pistorius?") == ["Minister Pistorius"]
    # adjectives stay lower case, the first word of a sentence is capitalised anyway
    assert place_names("Wer ist der neue Generalsekretär?") == []
    assert place_names("Berliner Politiker sagen was?") == []
    assert place_names("Welche Länder fordern mehr?") == []


def test_row_coverage_is_the_share_of_the_question_a_single_text_holds() -> None:
    index = LexicalIndex(TEXTS)
    question = "Wie viele Soldaten sieht das Force Model vor?"
    rows = [index.row_coverage(question, text) for text in TEXTS]
    best = max(range(len(TEXTS)), key=rows.__getitem__)
    assert "Soldaten" in TEXTS[best] and 0.5 < rows[best] <= index.coverage(question) + 1e-9
    assert min(rows) < rows[best]
    # words the corpus knows, but none of them in this text
    assert index.row_coverage("Quantenchromodynamik", TEXTS[0]) == 0.0
    assert index.row_coverage("", TEXTS[0]) == 0.0


def test_scores_are_bm25s_lucene_scores() -> None:
    """The stored postings score as bm25s did when it indexed the same terms."""
    import bm25s

    index = LexicalIndex(TEXTS)
    reference = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    reference.index([index.query_terms(t) for t in TEXTS], show_progress=False)
    for question in ("Wie hoch sind die Ausgaben für die Verteidigung?",
                     "Soldaten Soldaten Bündnis", "Generalsekretär Nordatlantikrat"):
        terms = [t for t in index.query_terms(question) if t in index.known_terms]
        assert np.allclose(index.scores(question), reference.get_scores(terms), atol=1e-5)


def test_stored_lexicon_scores_like_the_one_built_from_texts(tmp_path: Path) -> None:
    built = Lexicon.build(TEXTS)
    for name, data in built.files().items():
        if isinstance(data, bytes):
            (tmp_path / name).write_bytes(data)
        else:
            np.save(tmp_path / name, data)
    files = {name: (np.load(tmp_path / name, mmap_mode="r") if name.endswith(".npy")
                    else (tmp_path / name).read_bytes()) for name in built.files()}
    stored = LexicalIndex.from_parts([(Lexicon.from_files(files, len(TEXTS)),
                                        np.arange(len(TEXTS)))])
    question = "Wie viele Soldaten sieht das Force Model vor?"
    assert np.array_equal(stored.scores(question), LexicalIndex(TEXTS).scores(question))
    assert stored.coverage(question) == LexicalIndex(TEXTS).coverage(question)
    with pytest.raises(ValueError, match="do not fit"):
        Lexicon.from_files(files, 2)


def test_segments_score_as_one_index_and_deleted_rows_count_nowhere() -> None:
    """BM25 over several segments uses the statistics of all of them; a deleted row is
    neither scored nor counted in document frequencies or lengths."""
    whole = LexicalIndex(TEXTS, decompound=False)
    first = Lexicon.build(TEXTS[:2], decompound=False)
    second = Lexicon.build(TEXTS[2:], decompound=False)
    split = LexicalIndex(parts=[(first, np.arange(2)), (second, np.arange(3))])
    for question in ("Soldaten Verteidigung", "Bündnis Sicherheit Generalsekretär"):
        assert np.allclose(split.scores(question), whole.scores(question), atol=1e-6)
    # the second text deleted: as if it had never been indexed
    kept = [TEXTS[0], *TEXTS[2:]]
    without = LexicalIndex(parts=[(first, np.array([0])), (second, np.arange(3))])
    alone = LexicalIndex(kept, decompound=False)
    for question in ("Soldaten Force Model", "Die Ausgaben der Verteidigung"):
        assert np.allclose(without.scores(question), alone.scores(question), atol=1e-6)
    assert without.coverage("Force Model") == alone.coverage("Force Model")
