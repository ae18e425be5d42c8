"""The nearest-neighbour graphs' construction (natoqa.index.ann)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from natoqa.index import ann


def _vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    x = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def test_a_quantiser_trained_on_the_ranges_codes_as_one_trained_on_every_row(
        tmp_path: Path) -> None:
    vectors = _vectors(3000)
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ann, "CHUNK", 700)  # several chunks, the last one short
        built = ann.build(mapped, "HNSW8,SQ4")
    reference = faiss.index_factory(16, "HNSW8,SQ4", faiss.METRIC_INNER_PRODUCT)
    reference.train(vectors)
    reference.add(vectors)
    assert built.ntotal == 3000
    codes = [index.storage.sa_encode(vectors)  # type: ignore[union-attr]
             for index in (built, reference)]
    assert np.array_equal(*codes)
    _, rows = ann.search(built, vectors[:5], 3, 64)
    assert list(rows[:, 0]) == [0, 1, 2, 3, 4]


def test_rows_of_a_memory_map_are_read_from_its_file(tmp_path: Path) -> None:
    vectors = _vectors(50)
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    got = ann.rows(mapped, 10, 80)
    assert not isinstance(got, np.memmap) and np.array_equal(got, vectors[10:])
    assert np.array_equal(ann.rows(mapped[5:], 0, 3), vectors[5:8])  # a view: copied
    assert np.array_equal(ann.rows(vectors.astype(np.float64), 0, 2), vectors[:2])
