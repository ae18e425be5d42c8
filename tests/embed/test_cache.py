"""The build's embedding cache: what it stored comes back, bit for bit, without the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from natoqa.embed.cache import CachedEmbedder
from tests.fakes import TermedBag, Wrapping


def test_stored_embeddings_come_back_without_the_model(tmp_path: Path) -> None:
    inner = Wrapping(TermedBag(), terms=True)
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite")
    first = cache.embed_batch_terms(["eins zwei", "drei vier"], kind="passage")
    cache.close()
    again = CachedEmbedder(inner, tmp_path / "cache.sqlite")
    mixed = again.embed_batch_terms(["drei vier", "fünf sechs", "eins zwei"], kind="passage")
    assert inner.embedded == ["eins zwei", "drei vier", "fünf sechs"]  # only the new one
    assert again.hits == 2
    assert np.array_equal(mixed.vectors[0], first.vectors[1])
    assert np.array_equal(mixed.term_ids[2], first.term_ids[0])
    assert np.array_equal(mixed.term_weights[2], first.term_weights[0])
    # plain vectors of the same texts come from the same rows
    assert np.array_equal(again.embed_batch(["eins zwei"], kind="passage")[0], first.vectors[0])


def test_questions_are_never_cached_and_closing_with_delete_removes_the_file(
    tmp_path: Path,
) -> None:
    inner = Wrapping(TermedBag(), terms=True)
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite")
    cache.embed_batch(["frage"], kind="query")
    cache.embed_batch(["frage"], kind="query")
    assert inner.embedded == ["frage", "frage"] and cache.hits == 0
    cache.close(delete=True)
    assert not list(tmp_path.iterdir())


def test_a_row_stored_without_terms_is_embedded_again_for_terms(tmp_path: Path) -> None:
    inner = Wrapping(TermedBag(), terms=True)
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite")
    cache.embed_batch(["eins zwei"], kind="passage")
    out = cache.embed_batch_terms(["eins zwei"], kind="passage")
    assert inner.embedded == ["eins zwei", "eins zwei"] and out.term_weights[0].any()


def test_a_loop_handed_over_whole_embeds_only_what_is_missing_batch_by_batch(
    tmp_path: Path,
) -> None:
    inner = Wrapping(TermedBag(), terms=True)
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite")
    cache.embed_batch_terms(["zwei"], kind="passage")
    inner.embedded.clear()
    batches = [["eins", "zwei"], ["zwei"], ["drei", "vier"]]
    outs = cache.embed_batches(batches, kind="passage", terms=True)
    first = next(outs)
    # lazily: the first batch's missing text only, committed before the next is asked for
    assert inner.embedded == ["eins"]
    assert CachedEmbedder(inner, tmp_path / "cache.sqlite")._plan(["eins"], "passage",
                                                                  True).todo == []
    rest = list(outs)
    assert inner.embedded == ["eins", "drei", "vier"]  # the stored-only batch: no call
    assert cache.hits == 2
    for batch, out in zip(batches, [first, *rest], strict=True):
        alone = TermedBag().embed_batch_terms(batch, kind="passage")
        assert np.array_equal(out.vectors, alone.vectors)
        assert np.array_equal(out.term_ids, alone.term_ids)


def test_a_resumed_loop_reads_each_batchs_stored_rows_only_when_it_comes(
    tmp_path: Path,
) -> None:
    """A resumed segment is planned whole (280,000 units): its stored rows, a gigabyte,
    are read batch by batch, not all before the first batch (the build's peak RSS)."""
    texts = [f"wort{i} satz{i}" for i in range(40)]
    cache = CachedEmbedder(TermedBag(), tmp_path / "cache.sqlite")
    cache.embed_batch_terms(texts, kind="passage")
    cache.close()

    read: list[int] = []

    class Counting(CachedEmbedder):
        def _lookup(self, keys: list[bytes]) -> dict[bytes, tuple[bytes, bytes | None,
                                                                   bytes | None]]:
            read.append(len(keys))
            return super()._lookup(keys)

    again = Counting(Wrapping(TermedBag(), terms=True), tmp_path / "cache.sqlite")
    outs = again.embed_batches([texts[i : i + 4] for i in range(0, 40, 4)], kind="passage",
                               terms=True)
    next(outs)
    assert sum(read) == 4  # the first batch's rows, not the ten batches'
    assert len(list(outs)) == 9 and sum(read) == 40 and again.hits == 40
