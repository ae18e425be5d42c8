"""A build's passages in a file: written as documents are split, read back in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from natoqa.index.passage_file import PassageFile
from natoqa.models import Passage


def _passages(doc: str, n: int) -> list[Passage]:
    return [Passage(f"{doc}-{i}", doc, i, f"Satz „{i}“ über {doc}.", section="Teil 1",
                    page=i + 1, start=10 * i, end=10 * i + 9, footnote_refs=(1, 2) if i else ())
            for i in range(n)]


def test_passages_come_back_as_they_were_added(tmp_path: Path) -> None:
    file = PassageFile(tmp_path / "sub" / ".passages.jsonl")
    added = _passages("a.txt", 3) + _passages("b.pdf", 2)
    file.add(added[:3])
    file.add(added[3:])
    assert file.count == 5
    assert list(file.read()) == added
    assert list(file.read()) == added  # as often as asked
    with pytest.raises(ValueError, match="closed"):
        file.add(added[:1])
    file.remove()
    assert not file.path.exists()
    file.remove()  # twice: nothing to do


def test_a_new_file_replaces_one_a_stopped_build_left(tmp_path: Path) -> None:
    path = tmp_path / ".passages.jsonl"
    PassageFile(path).add(_passages("old.txt", 4))
    file = PassageFile(path)
    file.add(_passages("new.txt", 1))
    assert [p.doc_id for p in file.read()] == ["new.txt"]
