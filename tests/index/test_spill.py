"""A build's unit vectors written to disk as they are embedded (natoqa.index.spill)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from natoqa.index.spill import SPILL_DIR, Spill, is_spilled


def test_rows_set_one_at_a_time_read_back_as_an_npy_file(tmp_path: Path) -> None:
    spill = Spill(tmp_path / SPILL_DIR / "v.npy", 5, 3, np.float32)
    spill[4] = [1, 2, 3]
    spill[[0, 2]] = np.array([7, 8, 9], dtype=np.float64)  # one row to several
    with pytest.raises(ValueError, match="3 values"):
        spill[1] = [1, 2]
    with pytest.raises(IndexError):
        spill[5] = [0, 0, 0]
    array = spill.array()
    assert np.array_equal(array, [[7, 8, 9], [0, 0, 0], [7, 8, 9], [0, 0, 0], [1, 2, 3]])
    assert np.array_equal(np.load(tmp_path / SPILL_DIR / "v.npy"), array)  # a plain .npy
    assert is_spilled(array) and not is_spilled(np.asarray(array))
    with pytest.raises(ValueError, match="closed"):
        spill[0] = [0, 0, 0]


def test_blocks_of_rows_put_at_once(tmp_path: Path) -> None:
    spill = Spill(tmp_path / SPILL_DIR / "ids.npy", 4, 2, np.int16)
    spill.put(1, np.array([[1, 2], [3, 4]]))
    spill.put(3, [[5, 6]])
    with pytest.raises(IndexError):
        spill.put(3, [[0, 0], [0, 0]])  # one row past the end
    with pytest.raises(ValueError):
        spill.put(0, [1, 2, 3])  # not whole rows
    array = spill.array()
    assert array.dtype == np.int16
    assert np.array_equal(array, [[0, 0], [1, 2], [3, 4], [5, 6]])


def test_only_a_file_in_a_spill_folder_counts_as_spilled(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 2), dtype=np.float32))
    assert not is_spilled(np.load(tmp_path / "v.npy", mmap_mode="r"))


def test_a_segment_without_units_spills_an_empty_array(tmp_path: Path) -> None:
    array = Spill(tmp_path / SPILL_DIR / "v.npy", 0, 4, np.float32).array()
    assert array.shape == (0, 4) and is_spilled(array)


def test_a_segments_unit_vectors_and_latent_terms_are_spilled_as_without(
    tmp_path: Path,
) -> None:
    """Units built with a spill folder: vectors, term ids and term weights are files in it,
    holding what a build in memory gives (ids already in their stored type)."""
    from natoqa.index import units
    from natoqa.models import Passage
    from tests.fakes import TermedBag

    texts = ["Die Ostflanke braucht Brigaden. Litauen baut Kasernen. Der Gipfel entscheidet.",
             "Munition fehlt. Die Luftverteidigung wird ausgebaut, sagt das Kommando."]
    passages = [Passage(f"p{i}", "d.txt", i, text) for i, text in enumerate(texts)]
    held = units.build(passages, TermedBag())
    spilled = units.build(passages, TermedBag(), spill=tmp_path / SPILL_DIR)
    for name in (units.VECTORS_FILE, units.TERM_IDS_FILE, units.TERM_WEIGHTS_FILE):
        assert is_spilled(spilled[name]), name
        assert spilled[name].dtype == held[name].dtype
        assert np.array_equal(np.asarray(spilled[name]), held[name]), name
    assert held[units.TERM_IDS_FILE].dtype == units.stored_ids()
    assert len(list((tmp_path / SPILL_DIR).iterdir())) == 3
