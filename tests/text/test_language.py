"""Language detection: German or English, by function words first, py3langid otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natoqa.text import language
from natoqa.text.analyzer import spell_out
from natoqa.text.language import detect_language

EVAL = Path(__file__).parents[2] / "eval"


def _questions() -> list[dict[str, str]]:
    return [json.loads(line) for name in ("devset.jsonl", "followups.jsonl")
            for line in (EVAL / name).read_text("utf-8").splitlines() if line.strip()]


def test_every_development_question_gets_its_labelled_language() -> None:
    rows = _questions()
    wrong = [r["question"] for r in rows if detect_language(r["question"]) != r["lang"]]
    assert len(rows) > 150 and wrong == []


def test_function_words_decide_most_questions_and_never_contradict_the_labels() -> None:
    decided = [(r["lang"], language._by_function_words(r["question"])) for r in _questions()]
    settled = [(label, got) for label, got in decided if got is not None]
    assert len(settled) > 0.6 * len(decided)
    assert all(label == got for label, got in settled)


@pytest.mark.parametrize(
    "text",
    ["What administration did Ludwig Mies van der Rohe design?", "NATO 2 %?", "Rutte"],
)
def test_names_and_fragments_go_to_py3langid(text: str) -> None:
    assert language._by_function_words(text) is None
    assert detect_language(text) in ("de", "en")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Was hat die NATO in Vilnius beschlossen?", "de"),
     ("What did the alliance decide in Vilnius?", "en"),
     ("12345 !!!", "de")],
)
def test_plain_cases(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_spell_out_writes_a_percent_sign_as_the_languages_word() -> None:
    assert spell_out("Was ist das 2%-Ziel?", "de") == "Was ist das 2 Prozent-Ziel?"
    assert spell_out("Who spends 3,5 % of GDP?", "en") == "Who spends 3,5 percent of GDP?"
    # only after a number
    assert spell_out("100% sicher, ein % allein.", "de") == "100 Prozent sicher, ein % allein."
