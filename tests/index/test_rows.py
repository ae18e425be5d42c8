"""Reading stored rows with pread: the same rows as the memory map, none of its pages kept."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from natoqa.index.rows import RowFile
from natoqa.index.segments import PassageTable, passage_from_json
from natoqa.models import Passage


def _stored(tmp_path: Path, array: np.ndarray) -> np.memmap:
    np.save(tmp_path / "a.npy", array)
    return np.load(tmp_path / "a.npy", mmap_mode="r")  # type: ignore[no-any-return]


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float16])
def test_ranges_are_the_rows_of_the_map(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(0)
    array: np.ndarray = (rng.standard_normal((500, 7)) * 100).astype(dtype)
    mapped = _stored(tmp_path, array)
    file = RowFile(mapped)
    # touching ranges (read as one), gaps, an empty range, the last row
    first = np.array([0, 3, 10, 10, 40, 499])
    last = np.array([3, 5, 10, 12, 41, 500])
    got = file.ranges(first, last)
    want = np.concatenate([array[a:b] for a, b in zip(first, last, strict=True)])
    assert got.dtype == array.dtype and np.array_equal(got, want)
    rows = np.sort(rng.choice(500, 60, replace=False))
    assert np.array_equal(file.take(rows), array[rows])
    assert file.ranges(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0, 7)


def test_a_pruned_file_is_still_read_by_the_version_that_opened_it(tmp_path: Path) -> None:
    array = np.arange(40, dtype=np.float32).reshape(10, 4)
    file = RowFile(_stored(tmp_path, array))
    (tmp_path / "a.npy").unlink()
    assert np.array_equal(file.take(np.array([2, 9])), array[[2, 9]])


def _passage(i: int, doc: str, kind: str = "body") -> Passage:
    return Passage(passage_id=f"p{i}", doc_id=doc, ordinal=i, text=f"Text {i} über Ä" * (i + 1),
                   section="S", kind=kind, footnote=i if kind == "footnote" else None,  # type: ignore[arg-type]
                   footnote_refs=(1, 2) if i == 2 else ())


def test_a_passage_table_reads_each_passage_from_its_line(tmp_path: Path) -> None:
    passages = [_passage(0, "a"), _passage(1, "a", "footnote"), _passage(2, "b")]
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in passages),
                    encoding="utf-8")
    table = PassageTable.read(path)
    assert list(table) == passages and table[-1] == passages[-1] and table[1:] == passages[1:]
    assert table.ids == ["p0", "p1", "p2"] and table.doc_ids == ["a", "a", "b"]
    assert table.kinds.tolist() == ["body", "footnote", "body"]
    assert table.lengths.tolist() == [len(p.text) for p in passages]
    assert passage_from_json(json.dumps(asdict(passages[2]))) == passages[2]
    with pytest.raises(IndexError):
        table[3]
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    with pytest.raises(ValueError, match="not terminated"):
        PassageTable.read(path)


def test_ranges_are_read_into_a_given_array_or_refused(tmp_path: Path) -> None:
    array = np.arange(60, dtype=np.float32).reshape(20, 3)
    file = RowFile(_stored(tmp_path, array))
    block = np.full((8, 3), -1, dtype=np.float32)
    got = file.ranges(np.array([2, 10]), np.array([5, 13]), out=block[1:7])
    assert got.base is block or got.base is block.base
    assert np.array_equal(block[1:7], np.concatenate([array[2:5], array[10:13]]))
    assert (block[0] == -1).all() and (block[7] == -1).all()  # nothing written outside
    for wrong in (np.zeros((5, 3), np.float32), np.zeros((6, 3), np.float64),
                  np.zeros((3, 6), np.float32).T):
        with pytest.raises(ValueError, match="cannot read"):
            file.ranges(np.array([2, 10]), np.array([5, 13]), out=wrong)
