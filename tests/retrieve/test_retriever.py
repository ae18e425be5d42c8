"""Hybrid retrieval: scoring, fusion, follow-ups, abstention; the real model where it counts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from natoqa.config import RetrievalSettings
from natoqa.embed.base import Embedder
from natoqa.errors import IndexCorrupt
from natoqa.index import units as sentence_vectors
from natoqa.index.store import DocumentRecord, IndexStore, IndexVersion, Manifest, new_version_name
from natoqa.models import DocumentMeta, Passage
from natoqa.retrieve.abstain import FEATURES
from natoqa.retrieve.retriever import Retriever
from natoqa.text.language import detect_language
from tests.fakes import BagOfWords, TermedBag, Wrapping

TEXTS = [
    ("Das New Force Model sieht insgesamt 800 000 Soldaten vor. Die erste Stufe ist schnell.",
     "body"),
    ("Die Allianz unterstützt die Ukraine mit Treibstoff. Waffen liefert sie nicht selbst.",
     "body"),
    ("Der Generalsekretär Rutte will höhere Verteidigungsausgaben. Er nennt drei Prozent.",
     "body"),
    ("Speech by the Secretary General on defence spending, www.nato.int.", "footnote"),
]


def make_index(
    tmp_path: Path,
    texts: Sequence[tuple[str, str]] = TEXTS,
    embedder: Embedder | None = None,
    *,
    sentences: bool = True,
    spans: bool = True,
    meta: DocumentMeta | None = None,
) -> IndexVersion:
    """A real on-disk version (real FAISS, real store) of the given passages (``spans=False``:
    its units' spans not stored, as natoqa stored them before)."""
    embedder = embedder or BagOfWords()
    passages = [
        Passage(passage_id=f"p{i}", doc_id="d.txt", ordinal=i, text=t, kind=kind,  # type: ignore[arg-type]
                footnote=1 if kind == "footnote" else None)
        for i, (t, kind) in enumerate(texts)
    ]
    vectors = embedder.embed_batch([p.text for p in passages], kind="passage")
    extras = sentence_vectors.build(passages, embedder) if sentences else {}
    if not spans:
        extras.pop(sentence_vectors.SPANS_FILE)
    store = IndexStore(tmp_path / "index")
    manifest = Manifest(
        version=new_version_name(), model_id=embedder.model_id, dim=embedder.dim,
        passage_count=len(passages), documents={"d.txt": "h"}, passage_settings={},
        created="now",
    )
    record = DocumentRecord("d.txt", meta or DocumentMeta(title="D"), "h", len(passages))
    store.write(passages=passages, vectors=vectors, manifest=manifest, extras=extras,
                documents=[record])
    return store.load(manifest.version)


# -- fast: the layers around the model, with a bag-of-words embedder ------------------


def foreign(retriever: Retriever, question: str, language: str | None = None) -> float:
    """``foreign_hits`` with every passage of a (small) test index as the hits."""
    return retriever.names(range(len(retriever.index.passages))).foreign(
        question, language or detect_language(question))


def missing(retriever: Retriever, question: str) -> float:
    """``missing_hits`` with every passage of a (small) test index as the hits."""
    return retriever.names(range(len(retriever.index.passages))).missing_share(question)


def test_sentence_units_are_sentences_and_neighbour_pairs() -> None:
    text = "Erster Satz mit Inhalt hier. Zweiter Satz mit Inhalt. Dritter Satz folgt jetzt."
    assert sentence_vectors.units(text) == [
        "Erster Satz mit Inhalt hier.", "Zweiter Satz mit Inhalt.", "Dritter Satz folgt jetzt.",
        "Erster Satz mit Inhalt hier. Zweiter Satz mit Inhalt.",
        "Zweiter Satz mit Inhalt. Dritter Satz folgt jetzt.",
    ]
    assert sentence_vectors.units("Nur ein einziger Satz hier.") == []
    # a fragment ("Vgl.") is joined to its neighbour, not embedded alone
    assert all(len(u.split()) >= 4 for u in sentence_vectors.units("Vgl. oben. " + text))


def test_store_keeps_sentence_vectors_and_verifies_them(tmp_path: Path) -> None:
    version = make_index(tmp_path)
    vectors = version.extras[sentence_vectors.VECTORS_FILE]
    rows = version.extras[sentence_vectors.ROWS_FILE]
    expected = sum(len(sentence_vectors.units(t)) for t, _ in TEXTS)
    assert vectors.shape == (expected, 256) and rows.shape == (expected,)
    assert set(rows.tolist()) == {0, 1, 2}  # the one-sentence footnote has no units
    segment = version.path / "segments" / version.segments[0].name
    (segment / sentence_vectors.VECTORS_FILE).write_bytes(b"tampered")
    with pytest.raises(IndexCorrupt, match=r"sentence_vectors\.npy fails its checksum"):
        IndexStore(tmp_path / "index").load(version.version)


def test_units_are_stored_as_spans_of_their_passage() -> None:
    text = ("Erster Satz mit Inhalt hier.\n\nZweiter Satz mit Inhalt. Vgl. oben. "
            "Dritter Satz folgt jetzt.")
    spans = sentence_vectors.unit_spans(text)
    assert [text[s.start : s.end] for s in spans] == [
        "Erster Satz mit Inhalt hier.", "Zweiter Satz mit Inhalt. Vgl. oben.",
        "Dritter Satz folgt jetzt.",
        "Erster Satz mit Inhalt hier.\n\nZweiter Satz mit Inhalt. Vgl. oben.",
        "Zweiter Satz mit Inhalt. Vgl. oben. Dritter Satz folgt jetzt.",
    ]
    # a pair is embedded with one space between its sentences, as before spans were stored
    assert sentence_vectors.units(text)[3] == (
        "Erster Satz mit Inhalt hier. Zweiter Satz mit Inhalt. Vgl. oben.")
    assert sentence_vectors.unit_spans("Nur ein einziger Satz hier.") == []


def test_an_index_without_stored_spans_loads_with_them_derived_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    current = make_index(tmp_path / "new")
    assert current.manifest.unit_rules == 0  # make_index writes no rules; the builder does
    spans = current.extras[sentence_vectors.SPANS_FILE]
    assert spans.shape == (len(current.extras[sentence_vectors.ROWS_FILE]), 4)
    older = make_index(tmp_path / "old", spans=False)
    question = "Wie viele Soldaten umfasst das New Force Model?"
    with caplog.at_level(logging.WARNING):
        derived = Retriever(older, BagOfWords()).search(question, k=3)
    assert "no stored sentence spans" in caplog.text
    assert derived.unit_scores == Retriever(current, BagOfWords()).search(question, k=3).unit_scores


def test_spans_that_do_not_fit_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = make_index(tmp_path)
    index.extras[sentence_vectors.SPANS_FILE] = index.extras[sentence_vectors.SPANS_FILE] + 1000
    with caplog.at_level(logging.WARNING):
        found = Retriever(index, BagOfWords()).search("Soldaten", k=2)
    assert "answers quote without its sentence units" in caplog.text
    assert found.hits and all(not u for u in found.unit_scores.values())


def test_store_refuses_extra_names_that_are_not_plain_npy_files(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    manifest = Manifest(version=new_version_name(), model_id="m", dim=4, passage_count=0,
                        documents={}, passage_settings={}, created="now")
    with pytest.raises(ValueError, match="plain"):
        store.write(passages=[], vectors=np.zeros((0, 4), dtype=np.float32), documents=[],
                    manifest=manifest, extras={"../x.npy": np.zeros(1)})


def test_search_ranks_by_fused_score_and_respects_k(tmp_path: Path) -> None:
    retriever = Retriever(make_index(tmp_path), BagOfWords())
    result = retriever.search("Wie viele Soldaten sieht das New Force Model vor?", k=2)
    assert [h.passage.passage_id for h in result.hits][:1] == ["p0"]
    assert len(result.hits) == 2
    assert result.hits[0].score >= result.hits[1].score
    assert result.hits[0].lexical > 0 and result.hits[0].dense > 0
    assert len(retriever.search("Soldaten", k=50).hits) == 4  # k beyond the index: all
    assert set(result.timings) == {"embed_ms", "search_ms"}
    assert set(result.evidence) == set(FEATURES) - {"terms_top"}  # BagOfWords has no terms
    assert result.language == "de"


def test_footnote_penalty_lowers_footnotes(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    q = "Rutte defence spending"  # one word in p2, two in the footnote
    # dense only: the penalty is on the dense side
    plain = Retriever(index, BagOfWords(),
                      RetrievalSettings(footnote_penalty=0.0, lexical_weight=0))
    penalised = Retriever(index, BagOfWords(),
                          RetrievalSettings(footnote_penalty=0.5, lexical_weight=0))
    assert plain.search(q, k=1).hits[0].passage.kind == "footnote"
    assert penalised.search(q, k=1).hits[0].passage.kind == "body"


def test_back_matter_is_searched_penalised_and_not_counted_as_the_prose(tmp_path: Path) -> None:
    entry = ("Smith, J. (2024) Burden sharing in the alliance. London: Press.", "backmatter")
    index = make_index(tmp_path, [*TEXTS, entry])
    q = "Smith burden sharing"
    plain = Retriever(index, BagOfWords(),
                      RetrievalSettings(backmatter_penalty=0.0, lexical_weight=0))
    penalised = Retriever(index, BagOfWords(),
                          RetrievalSettings(backmatter_penalty=0.5, lexical_weight=0))
    assert plain.search(q, k=1).hits[0].passage.kind == "backmatter"
    assert penalised.search(q, k=1).hits[0].passage.kind != "backmatter"
    # BM25 finds its words and abstention knows its names, but they are not the prose's:
    # coverage (the weight of BM25 against the latent terms) does not count them
    retriever = Retriever(index, BagOfWords())
    assert retriever.lexical.scores(q)[4] > 0
    # and it shapes no statistic of fusion or BM25: the prose scores as it did without it
    prose = Retriever(make_index(tmp_path / "prose"), BagOfWords())
    for question in ("Rutte will drei Prozent", "Soldaten und Treibstoff für die Ukraine"):
        assert {h.passage.passage_id: h.score for h in prose.search(question, k=4).hits} == {
            h.passage.passage_id: h.score
            for h in retriever.search(question, k=5).hits if h.passage.kind != "backmatter"}
    assert missing(retriever, "Was schreibt Smith?") == 0.0
    assert retriever.lexical.coverage(q) == 0.0
    assert 0 < retriever.lexical.coverage("Rutte burden sharing") < 0.5  # Rutte only


def test_sentence_weight_uses_the_best_sentence(tmp_path: Path) -> None:
    """A passage whose one sentence matches exactly outranks one that matches diffusely."""
    texts = [
        ("Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu.", "body"),
        ("Alpha beta nu xi. Gamma delta omikron pi. Rho sigma tau upsilon.", "body"),
    ]
    index = make_index(tmp_path, texts)
    q = "alpha beta gamma delta"
    no_units = Retriever(index, BagOfWords(), RetrievalSettings(sentence_weight=0.0))
    units = Retriever(index, BagOfWords(), RetrievalSettings(sentence_weight=0.6))
    dense0 = {h.passage.passage_id: h.dense for h in no_units.search(q, k=2).hits}
    dense1 = {h.passage.passage_id: h.dense for h in units.search(q, k=2).hits}
    first, second = (p.passage_id for p in index.passages)
    d0, d1 = [dense0[first], dense0[second]], [dense1[first], dense1[second]]
    assert (d1[0] - d1[1]) > (d0[0] - d0[1])


def test_hits_carry_the_cosine_of_each_of_their_sentence_units(tmp_path: Path) -> None:
    retriever = Retriever(make_index(tmp_path), BagOfWords())
    found = retriever.search("Wie viele Soldaten umfasst das New Force Model?", k=2)
    query = BagOfWords().embed("Wie viele Soldaten umfasst das New Force Model?")
    for hit in found.hits:
        text = hit.passage.text
        units = found.unit_scores[hit.passage.passage_id]
        assert [text[a:b] for a, b, _ in units] == sentence_vectors.units(text)
        for a, b, cosine in units:
            assert cosine == pytest.approx(float(BagOfWords().embed(text[a:b]) @ query),
                                           abs=1e-5)
    a, b, _ = max(found.unit_scores["p0"], key=lambda unit: unit[2])
    assert TEXTS[0][0][a:b].startswith("Das New Force Model sieht insgesamt 800 000 Soldaten")
    # an index without sentence vectors has none to give
    old = Retriever(make_index(tmp_path / "old", sentences=False), BagOfWords())
    assert all(not u for u in old.search("Soldaten").unit_scores.values())


def test_history_steers_a_follow_up_without_drowning_a_new_topic(tmp_path: Path) -> None:
    retriever = Retriever(make_index(tmp_path), BagOfWords())
    follow = retriever.search("Und wie viel davon?", ["Was sagt Rutte zu Verteidigungsausgaben?"])
    assert follow.hits[0].passage.passage_id == "p2"
    switch = retriever.search("Liefert die Allianz der Ukraine Treibstoff oder Waffen?",
                              ["Was sagt Rutte zu Verteidigungsausgaben?"])
    assert switch.hits[0].passage.passage_id == "p1"
    ignore = Retriever(retriever.index, BagOfWords(), RetrievalSettings(history_weight=0.0))
    assert ignore.context(["Was sagt Rutte?"]) == ""


def test_abstention_follows_the_threshold_and_marks_hits(tmp_path: Path) -> None:
    index = make_index(tmp_path)
    never = Retriever(index, BagOfWords(), RetrievalSettings(abstain_threshold=0.0))
    always = Retriever(index, BagOfWords(), RetrievalSettings(abstain_threshold=1.0))
    q = "Wie viele Soldaten?"
    assert not never.search(q).no_answer
    result = always.search(q)
    assert result.no_answer and result.hits and all(h.low_confidence for h in result.hits)
    assert 0.0 <= result.confidence <= 1.0


def test_empty_index_abstains(tmp_path: Path) -> None:
    result = Retriever(make_index(tmp_path, []), BagOfWords()).search("NATO?")
    assert result.no_answer and result.hits == []


def test_old_index_without_sentence_vectors_still_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="natoqa.retrieve.retriever"):
        retriever = Retriever(make_index(tmp_path, sentences=False), BagOfWords())
    assert "no sentence vectors" in caplog.text
    assert retriever.search("Soldaten New Force Model").hits[0].passage.passage_id == "p0"


def test_missing_share_counts_key_terms_the_corpus_never_names(tmp_path: Path) -> None:
    retriever = Retriever(make_index(tmp_path), BagOfWords())
    assert missing(retriever, "Was sagt Rutte zur Ukraine?") == 0.0
    assert missing(retriever, "Wann trat Nordmazedonien der NATO bei?") > 0.0
    assert missing(retriever, "wie geht es dir") == 0.0  # no key terms at all


def test_foreign_flags_an_acronym_or_number_the_corpus_never_names(tmp_path: Path) -> None:
    retriever = Retriever(make_index(tmp_path), BagOfWords())
    assert foreign(retriever, "Wie viele der 800.000 Soldaten sind schnell?") == 0.0
    # acronyms match as written: "www.nato.int" in the footnote does not name NATO
    assert foreign(retriever, "What does NATO say?") == 1.0
    assert foreign(retriever, "What did the CSTO decide?") == 1.0
    assert foreign(retriever, "How large was the budget in 1999?") == 1.0
    assert foreign(retriever, "wie geht es dir") == 0.0
    result = retriever.search("What did the CSTO decide in 1999?")
    assert result.evidence["foreign_hits"] == 1.0


def test_foreign_reads_a_short_number_as_a_name_only_where_the_corpus_numbers_it(
    tmp_path: Path,
) -> None:
    texts = [("Die NATO hat heute 32 Mitglieder.", "body"),
             ("Die AP 1 und die AP 2 legen die Phasen der Planung fest.", "body")]
    retriever = Retriever(make_index(tmp_path, texts), BagOfWords())
    # "NATO 32" counts members: NATO is known and never numbered, so nothing is foreign
    assert foreign(retriever, "Wie viele der NATO 32 Mitglieder erreichen das Ziel?") == 0.0
    assert foreign(retriever, "Do all NATO 32 allies agree?") == 0.0
    # AP is a numbered series in the corpus: AP 2 is one of its names, AP 4 is not
    assert foreign(retriever, "Was legt die AP 2 fest?") == 0.0
    assert foreign(retriever, "Was legt die AP 4 fest?") == 1.0
    assert foreign(retriever, "Was beschloss die CSTO 2 ?") == 1.0  # unknown acronym


def test_foreign_flags_a_german_place_name_the_corpus_never_names(tmp_path: Path) -> None:
    texts = [("Die Münchner Sicherheitskonferenz berät über die NATO.", "body"),
             ("Die Minister der Allianz tagen in Brüssel.", "body")]
    retriever = Retriever(make_index(tmp_path, texts), BagOfWords())
    assert foreign(retriever, "Was beschloss die Münchner Sicherheitskonferenz?") == 0.0
    assert foreign(retriever, "Wie viele Mitglieder hatte der Warschauer Pakt?") == 1.0
    # "Minister" is a known noun before a name, not a place
    assert foreign(retriever, "Was sagte der Minister Pistorius?") == 0.0
    # English spells places its own way ("Warsaw"), so only German questions are read
    assert foreign(retriever, "What did the Shanghaier Organisation decide?", "en") == 0.0
    assert foreign(retriever, "Was beschloss die Shanghaier Organisation?", "de") == 1.0
    result = retriever.search("Was beschloss die Shanghaier Organisation für Zusammenarbeit?")
    assert result.evidence["foreign_hits"] == 1.0


def test_an_acronym_the_corpus_writes_otherwise_is_neither_foreign_nor_unmatched(
    tmp_path: Path,
) -> None:
    texts = [("Die NATO arbeitet bei Krisen mit den VN zusammen.", "body"),
             ("Die Ausgaben sollen zwei Prozent des BIP erreichen.", "body"),
             ("Russland rüstet auf.", "body")]
    retriever = Retriever(make_index(tmp_path, texts), BagOfWords())
    assert foreign(retriever, "Does NATO work with the UN?") == 0.0
    assert missing(retriever, "Wie hoch ist das GDP?") == 0.0
    assert foreign(retriever, "What did the CSTO decide?") == 1.0  # nor OVKS in the corpus
    # the search reads "UN" as "VN" and "2%" as "2 Prozent", so the words match
    result = retriever.search("Arbeitet die NATO mit der UNO zusammen?")
    assert result.evidence["foreign_hits"] == 0.0 and result.hits[0].passage.passage_id == "p0"
    assert retriever.search("Wer erreicht die 2% vom GDP?").hits[0].passage.passage_id == "p1"


def test_names_in_the_documents_metadata_are_not_foreign(tmp_path: Path) -> None:
    meta = DocumentMeta(title="Rutte übernimmt das Amt", authors=("Matthias Dembinski",),
                        publisher="AFP")
    retriever = Retriever(make_index(tmp_path, meta=meta), BagOfWords())
    # neither name occurs in a passage: they come from the document's metadata
    assert foreign(retriever, "Was meldet AFP über Rutte?") == 0.0
    assert missing(retriever, "Was schreibt Dembinski über die Ukraine?") == 0.0
    assert foreign(retriever, "Was meldet dpa über die CSTO?") == 1.0
    assert missing(retriever, "Was schreibt Spanger über die Ukraine?") > 0.0


# -- slow: the real model over the bundled corpus ---------------------------------------


@pytest.fixture(scope="module")
def real(built_index: Path, embedder: Embedder) -> Retriever:
    index = IndexStore(built_index).load(expect_dim=embedder.dim)
    assert sentence_vectors.VECTORS_FILE in index.extras  # the builder stored them
    return Retriever(index, embedder)


def _rank(result: object, quote: str) -> int | None:
    hits = result.hits  # type: ignore[attr-defined]
    return next((n for n, h in enumerate(hits, 1) if quote in " ".join(h.passage.text.split())),
                None)


@pytest.mark.slow
def test_real_german_paraphrase_finds_the_passage_first(real: Retriever) -> None:
    result = real.search("Wie viele Soldaten umfasst das neue Streitkräftemodell insgesamt?", k=5)
    assert _rank(result, "insgesamt 800 000 Soldaten") == 1
    assert not result.no_answer


@pytest.mark.slow
def test_real_english_question_finds_the_german_passage(real: Retriever) -> None:
    result = real.search("Where did Biden invite Ukraine's backers to meet in October?", k=5)
    rank = _rank(result, "im rheinland-pfälzischen Ramstein")
    assert rank is not None and rank <= 3
    assert result.language == "en" and not result.no_answer


@pytest.mark.slow
def test_real_follow_up_needs_the_history(real: Retriever) -> None:
    quote = "in Solbiate Olona geführt"
    alone = real.search("Und wer führt sie in den ersten drei Jahren?", k=5)
    follow = real.search("Und wer führt sie in den ersten drei Jahren?",
                         ["Welche Truppe ersetzt die NRF und die VJTF?"], k=5)
    assert (_rank(follow, quote) or 99) <= 2
    assert (_rank(alone, quote) or 99) > (_rank(follow, quote) or 99)


def test_real_fusion_inputs_rank_as_search_does(real: Retriever) -> None:
    """``fusion`` gives what ``search`` ranks by (bench/fusion.py measures other ways of
    adding it up): the same passages in the same order with the same scores, a
    follow-up's context and the latent terms included."""
    cfg = real.settings
    for question, history in [("Welche Truppe ersetzt die NRF und die VJTF?", ()),
                              ("Und wer führt sie?", ("Welche Truppe ersetzt die NRF?",))]:
        result = real.search(question, history, k=5)
        fusion = real.fusion(question, history)
        ranking = fusion.ranking
        assert ranking.term_z is not None and 0 < ranking.coverage <= 1
        fused = ranking.scores(cfg.lexical_weight, cfg.sparse_weight)
        order = np.argsort(-fused, kind="stable")[:5]
        ids = [real.index.passages[int(fusion.block.rows[i])].passage_id for i in order]
        assert ids == [h.passage.passage_id for h in result.hits]
        assert np.allclose(fused[order], [h.score for h in result.hits], atol=1e-5)
        # without BM25 and terms the fused score is the dense z-score alone
        assert np.array_equal(ranking.scores(0.0, 0.0), ranking.dense_z)


@pytest.mark.slow
def test_real_topic_change_is_not_drowned_by_history(real: Retriever) -> None:
    question = "Welche Länder gehören zu den pazifischen Partnern der NATO?"
    alone = real.search(question, k=5)
    result = real.search(question, ["Was ist das New Force Model?"], k=5)
    quote = "Japan, Südkorea, Australien und Neuseeland"
    assert (_rank(result, quote) or 99) <= max(2, _rank(alone, quote) or 99)
    assert all("New Force Model" not in h.passage.text for h in result.hits[:2])


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "Wer gewann die Fußball-Weltmeisterschaft 2014?",
    "When did Montenegro join NATO?",
])
def test_real_out_of_scope_abstains_with_low_confidence_hits(
    real: Retriever, question: str
) -> None:
    result = real.search(question, k=3)
    assert result.no_answer
    assert all(h.low_confidence for h in result.hits)


@pytest.mark.slow
@pytest.mark.parametrize(("question", "quote", "rank"), [
    ("What are Hans-Joachim Spanger's research interests?", "Seine Themenschwerpunkte sind", 1),
    ("In which journal did O'Sullivan publish her article on Women, Peace and Security as "
     "deterrence?", "International Affairs, 100(2)", 1),
    # names no one, and the notes never say "Autor": found by their heading
    ("An welchem Institut arbeiten die Autoren der Studie?", "Politikwissenschaftler am PRIF", 2),
])
def test_real_back_matter_question_finds_the_back_matter(
    real: Retriever, question: str, quote: str, rank: int
) -> None:
    result = real.search(question, k=5)
    found = _rank(result, quote)
    assert found is not None and found <= rank
    assert result.hits[found - 1].passage.kind == "backmatter"
    if rank == 1:
        assert not result.no_answer


@pytest.mark.slow
@pytest.mark.parametrize(("question", "quote"), [
    # the bibliography has "Nördlich von drei Prozent" and NATO's annual report: without
    # the penalty its passage came first
    ("What new spending benchmark did the secretary general name in January 2025?",
     "it will be north of 3%"),
    ("Wie viele Soldaten umfasst das neue Streitkräftemodell insgesamt?",
     "insgesamt 800 000 Soldaten"),
    # the bibliography's English titles made this question's words look known to the prose
    # (abstention no longer reads the index's vocabulary: natoqa.retrieve.names)
    ("What did the 2008 summit in Romania promise Ukraine?", "die Ukraine werde (wie auch"),
])
def test_real_prose_question_is_not_crowded_out_by_the_back_matter(
    real: Retriever, question: str, quote: str
) -> None:
    assert any(p.kind == "backmatter" for p in real.index.passages)  # the builder indexed it
    result = real.search(question, k=5)
    assert result.hits[0].passage.kind != "backmatter"
    assert (_rank(result, quote) or 99) <= 4
    if "2008" in question:
        assert not result.no_answer


def test_language_shift_moves_other_languages_towards_the_corpus_language() -> None:
    from natoqa.retrieve.retriever import language_shifts

    means = {"de": np.array([1.0, 0.0], np.float32), "en": np.array([0.0, 1.0], np.float32)}
    shifts = language_shifts(means, "de", 1.5)
    assert set(shifts) == {"en"}  # German questions over German text stay as they are
    assert np.allclose(shifts["en"], [1.5, -1.5])
    assert language_shifts(means, "de", 0.0) == {}
    assert language_shifts(means, "fr", 1.5) == {}  # no mean for the corpus language
    assert language_shifts({}, "de", 1.5) == {}  # a model without means


def test_corpus_language_is_the_majority_of_passages(tmp_path: Path) -> None:
    from natoqa.index.artifacts import version_language as corpus_language

    assert corpus_language(make_index(tmp_path)) == "de"  # three German passages, one English


@pytest.mark.slow
def test_shift_brings_an_english_question_closer_to_its_german_twin(
    embedder: Embedder, tmp_path: Path
) -> None:
    from natoqa.retrieve.retriever import language_shifts

    shift = language_shifts(embedder.language_means, "de", 1.5)["en"]
    en, de = embedder.embed_batch(["How many soldiers does the new force model comprise?",
                                   "Wie viele Soldaten umfasst das neue Streitkräftemodell?"],
                                  kind="query")
    moved = (en + shift) / np.linalg.norm(en + shift)
    assert float(moved @ de) > float(en @ de) + 0.02
    # and the retriever applies it: the evidence is computed on the moved vector
    version = make_index(tmp_path, embedder=embedder)
    plain = Retriever(version, embedder, RetrievalSettings(language_shift=0.0))
    shifted = Retriever(version, embedder, RetrievalSettings())
    question = "How many soldiers does the New Force Model comprise?"
    assert shifted.search(question).evidence["unit_top"] != plain.search(question).evidence[
        "unit_top"]
    assert shifted.search(question).hits[0].passage.passage_id == "p0"


def test_latent_terms_are_stored_and_scored_per_sentence_unit(tmp_path: Path) -> None:
    version = make_index(tmp_path, embedder=TermedBag())
    assert sentence_vectors.TERM_IDS_FILE in version.extras
    retriever = Retriever(version, TermedBag())
    question = "Liefert die Allianz Waffen oder Treibstoff?"
    embedded = TermedBag().embed_batch_terms([question], kind="query")
    scores = retriever.term_scores(embedded.term_ids[0], embedded.term_weights[0])
    assert int(np.argmax(scores)) == 1  # the passage whose sentences share the most terms
    result = retriever.search(question)
    assert result.hits[0].passage.passage_id == "p1"
    assert result.evidence["terms_top"] == float(scores.max()) > 0
    assert 0 < result.evidence["top_coverage"] <= 1
    # switched off, or over an index without terms: the same ranking code, no terms asked for
    off = Retriever(version, TermedBag(), RetrievalSettings(sparse_weight=0.0)).search(question)
    assert "terms_top" not in off.evidence
    without = Retriever(make_index(tmp_path / "plain"), TermedBag()).search(question)
    assert "terms_top" not in without.evidence


@pytest.mark.slow
def test_an_index_without_latent_terms_still_answers(embedder: Embedder, tmp_path: Path) -> None:
    old = make_index(tmp_path / "old", embedder=Wrapping(embedder))
    new = make_index(tmp_path / "new", embedder=embedder)
    question = "Wie viele Soldaten sieht das New Force Model insgesamt vor?"
    for version in (old, new):
        result = Retriever(version, embedder).search(question)
        assert result.hits[0].passage.passage_id == "p0"
        assert not result.no_answer, result.evidence
