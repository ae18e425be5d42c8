"""Cache folders appear whole or not at all, and dead processes' leftovers are swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from natoqa.embed.staging import staged_folder, sweep_stale
from natoqa.errors import ModelError


def _valid(folder: Path) -> bool:
    return (folder / "done").is_file()


def test_a_finished_folder_replaces_a_broken_one(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model"
    target.mkdir(parents=True)
    (target / "half").write_text("x")  # a broken earlier attempt
    with staged_folder(target, _valid) as tmp:
        assert tmp.parent == target.parent and not target.joinpath("done").exists()
        (tmp / "done").write_text("ok")
    assert _valid(target) and not (target / "half").exists()
    assert [p.name for p in target.parent.iterdir()] == ["model"]  # no temp folders left


def test_a_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), staged_folder(target, _valid) as tmp:
        (tmp / "partial").write_text("x")
        raise RuntimeError("export crashed")
    assert list(tmp_path.iterdir()) == []


def test_a_valid_rival_wins_the_race(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with staged_folder(target, _valid) as tmp:
        target.mkdir()
        (target / "done").write_text("theirs")  # another process finished first
        (tmp / "done").write_text("ours")
    assert (target / "done").read_text() == "theirs"


def test_old_leftovers_of_killed_processes_are_swept_recent_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "model"
    old, recent = tmp_path / ".model.abc.tmp", tmp_path / ".model.def.tmp"
    other = tmp_path / ".other.abc.tmp"  # another folder's work: not ours to judge
    for path in (old, recent, other):
        path.mkdir()
        (path / "weights.bin").write_bytes(b"\0" * 10)
    hours_ago = time.time() - 7200
    for path in (old, other):
        os.utime(path, (hours_ago, hours_ago))
    assert sweep_stale(target) == [old]
    assert recent.is_dir() and other.is_dir() and not old.exists()


def test_an_unwritable_cache_is_a_model_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelError, match="cannot create the model cache"), staged_folder(
        blocker / "model", _valid
    ):
        pass
