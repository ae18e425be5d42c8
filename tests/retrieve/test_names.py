"""Looking a question's names up in the passages retrieval found (abstention's
``missing_hits`` and ``foreign_hits``)."""

from __future__ import annotations

from natoqa.retrieve.names import Names


def _analyse(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


def test_a_name_is_known_only_if_the_given_passages_contain_it() -> None:
    names = Names("Die NATO berät in Brüssel über die Ostflanke.", _analyse)
    assert names.missing_share("Was berät die NATO in Brüssel?") == 0.0
    assert names.missing_share("Was beschloss die NATO in Vilnius?") == 0.5  # Vilnius
    assert names.foreign("What did the NATO decide?", "en") == 0.0
    assert names.foreign("What did the CSTO decide?", "en") == 1.0
    assert names.foreign("Was geschah 1999?", "de") == 1.0
    assert names.missing_share("wie geht es dir") == 0.0  # no key terms at all


def test_a_place_name_needs_its_noun_beside_it() -> None:
    # a text about Warsaw's stock exchange does not name the Warsaw Pact
    warsaw = Names("Die Warschauer Börse ist der größte Markt der Region.", _analyse)
    assert warsaw.foreign("Wie viele Mitglieder hatte der Warschauer Pakt?", "de") == 1.0
    pact = Names("Die Staaten des Warschauer Pakts lösten ihn 1991 auf.", _analyse)
    assert pact.foreign("Wie viele Mitglieder hatte der Warschauer Pakt?", "de") == 0.0
    # English spells places its own way ("Warsaw"), so only German questions are read
    assert warsaw.foreign("What did the Warschauer Pakt decide?", "en") == 0.0


def test_a_noun_in_er_the_passages_write_alone_is_a_noun_not_a_place() -> None:
    names = Names("Der Minister sagte am Montag, die Lage sei ernst.", _analyse)
    assert names.foreign("Was sagte der Minister Pistorius?", "de") == 0.0
    only_before_names = Names("Der Kanzler Merz traf den Minister Wadephul.", _analyse)
    assert only_before_names.foreign("Was sagte der Minister Pistorius?", "de") == 1.0


def test_a_numbered_series_makes_each_number_a_name() -> None:
    names = Names("Die AP 1 und die AP 2 legen die Phasen fest.", _analyse, series={"AP"})
    assert names.foreign("Was legt die AP 2 fest?", "de") == 0.0
    assert names.foreign("Was legt die AP 4 fest?", "de") == 1.0
