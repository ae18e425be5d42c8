"""Sentence units pooled from their passage's own forward pass (Embedder.embed_units)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from natoqa.embed import latent_terms as sparse
from natoqa.index.units import UnitSpan, unit_spans
from tests.fakes import BagOfWords

PASSAGE = (
    "Die NATO beschloss 2023 in Vilnius neue regionale Verteidigungspläne für die Ostflanke. "
    "Dazu gehört das New Force Model mit insgesamt 800 000 Soldaten in hoher Bereitschaft. "
    "Die Mitgliedstaaten sagten zu, mindestens zwei Prozent ihrer Wirtschaftsleistung für "
    "Verteidigung auszugeben. Polen gibt inzwischen fast vier Prozent aus."
)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.slow
def test_pooled_units_are_close_to_separately_embedded_ones(embedder: Any) -> None:
    spans = unit_spans(PASSAGE)
    assert len(spans) == 7  # four sentences, three pairs
    out = embedder.embed_units([PASSAGE], [spans])
    alone = embedder.embed_batch_terms([s.text(PASSAGE) for s in spans], kind="passage")
    assert out.units.vectors.shape == (7, embedder.dim)
    assert np.allclose(np.linalg.norm(out.units.vectors, axis=1), 1, atol=1e-5)
    cos = _cosines(out.units.vectors, alone.vectors)
    assert cos.min() > 0.8 and cos.mean() > 0.88
    assert cos.max() < 0.9999  # pooled, not embedded alone
    # (pooled units of one passage are close to each other, 0.96-0.998 here: the final
    # token states carry the whole passage; docs/BENCHMARKS.md measures what that costs)
    # the whole passage's vector from the same pass
    assert out.ran.all()
    whole = embedder.embed_batch([PASSAGE], kind="passage")
    assert float(out.text_vectors[0] @ whole[0]) > 0.9999
    # latent terms of exactly the unit's tokens: mostly the same as the unit's alone
    assert out.units.term_ids.shape == (7, sparse.TOP_TERMS)
    for i in range(7):
        mine = set(out.units.term_ids[i][np.argsort(-out.units.term_weights[i])[:32]])
        its = set(alone.term_ids[i][np.argsort(-alone.term_weights[i])[:32]])
        assert len(mine & its) >= 12


@pytest.mark.slow
def test_the_pooled_terms_are_the_heads_over_the_units_tokens(embedder: Any) -> None:
    spans = unit_spans(PASSAGE)
    out = embedder.embed_units([PASSAGE], [spans])
    _, states, skip = embedder._token_states([PASSAGE], "passage")
    offsets = embedder._token_offsets([PASSAGE], "passage")[0][skip:-1]
    tokens = states[0][skip:-1]
    first = spans[0]
    inside = (offsets[:, 1] > first.start) & (offsets[:, 0] < first.end)
    assert 5 < inside.sum() < len(tokens) / 2
    ids, weights = sparse.encode(tokens[inside])
    assert np.allclose(sparse.densify(ids, weights),
                       sparse.densify(out.units.term_ids[0], out.units.term_weights[0]),
                       atol=1e-5)
    mean = tokens[inside].mean(axis=0)
    assert np.allclose(out.units.vectors[0], mean / np.linalg.norm(mean), atol=1e-5)


@pytest.mark.slow
def test_units_beyond_the_truncation_are_embedded_alone(embedder: Any) -> None:
    sentences = [f"Im Jahr {1950 + i} tagte der Nordatlantikrat zum Thema Nummer {i} in Brüssel."
                 for i in range(60)]  # far beyond 512 tokens
    text = " ".join(sentences)
    spans = unit_spans(text)
    out = embedder.embed_units([text], [spans])
    alone = embedder.embed_batch_terms([s.text(text) for s in spans], kind="passage")
    cos = _cosines(out.units.vectors, alone.vectors)
    reached = int(embedder._token_offsets([text], "passage")[0][-2, 1])
    beyond = np.array([s.end > reached for s in spans])
    assert beyond.any() and (~beyond).any()
    assert cos[beyond].min() > 0.9999  # embedded alone
    assert np.array_equal(out.units.term_ids[beyond], alone.term_ids[beyond])
    assert cos[~beyond].max() < 0.9999  # pooled from the pass
    assert cos[~beyond].min() > 0.75


@pytest.mark.slow
def test_a_text_that_is_not_nfc_is_embedded_alone(embedder: Any) -> None:
    text = "Die Bündnispartner tagten in Brüssel am Montag. Sie beschlossen mehr Geld."
    decomposed = text.replace("ü", "u\u0308")
    spans = unit_spans(decomposed)
    out = embedder.embed_units([decomposed], [spans])
    alone = embedder.embed_batch([s.text(decomposed) for s in spans], kind="passage")
    assert not out.ran.any()
    assert _cosines(out.units.vectors, alone).min() > 0.9999


def test_the_default_embeds_each_unit_alone() -> None:
    model = BagOfWords()
    texts = ["Erster Satz hier. Zweiter Satz dort.", "Nur ein Teil"]
    units = [[UnitSpan(0, 17), UnitSpan(18, 35)], [UnitSpan(0, 4)]]
    out = model.embed_units(texts, units)
    expected = model.embed_batch(["Erster Satz hier.", "Zweiter Satz dort.", "Nur "],
                                 kind="passage")
    assert np.allclose(out.units.vectors, expected)
    assert out.units.term_ids.shape == (3, 0) and not out.ran.any()
