"""A build's largest arrays written to their ``.npy`` files as they are filled, not held.

A segment's sentence-unit vectors are 1.5 KB a unit, 14 units a passage: 230 MB at
10,000 passages, 460 MB for a full segment of 20,000, held until the segment was written;
their latent terms (256 ids of 2 bytes and weights of 4) as much again. Written row by
row with ``pwrite`` as they are embedded, they sit in the page cache
instead of the build's memory, and the finished file is moved into the segment
(:func:`natoqa.index.segments.write`) rather than saved again. Read back through a map
(:meth:`Spill.array`), a row costs memory only while mapped pages stay resident: the
nearest-neighbour graph reads them in bounded chunks (:func:`natoqa.index.ann.build`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

import numpy as np
import numpy.typing as npt

#: the folder, inside a version being written, of files moved into segments when done
SPILL_DIR = ".spill"


class Spill:
    """A ``(rows, width)`` ``.npy`` file at ``path``, its rows set one at a time."""

    def __init__(self, path: Path, rows: int, width: int, dtype: npt.DTypeLike) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the header, and the file at its full size (sparse: unwritten rows read as zeros)
        created = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, width))
        self.offset, self.dtype, self.shape = created.offset, created.dtype, created.shape
        del created
        self.path = path
        self._row_bytes = width * self.dtype.itemsize
        # a file object, not a bare descriptor: a build that fails leaves it to the garbage
        # collector, which closes it (a long-running server builds documents too)
        self._file: BinaryIO | None = path.open("r+b", buffering=0)

    def __setitem__(self, rows: int | Sequence[int], row: npt.ArrayLike) -> None:
        """Set each of ``rows`` to the one ``row``."""
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        data = np.ascontiguousarray(row, dtype=self.dtype).reshape(-1)
        if data.nbytes != self._row_bytes:
            raise ValueError(f"a row of {self.path} has {self.shape[1]} values")
        raw = data.tobytes()
        for i in [rows] if isinstance(rows, int | np.integer) else rows:
            if not 0 <= int(i) < self.shape[0]:
                raise IndexError(f"row {i} of {self.shape[0]}")
            os.pwrite(self._file.fileno(), raw, self.offset + int(i) * self._row_bytes)

    def put(self, start: int, block: npt.ArrayLike) -> None:
        """Rows ``start:start + len(block)`` at once (a merge copies rows in blocks)."""
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        data = np.ascontiguousarray(block, dtype=self.dtype).reshape(-1, self.shape[1])
        if not 0 <= start <= start + len(data) <= self.shape[0]:
            raise IndexError(f"rows {start}:{start + len(data)} of {self.shape[0]}")
        view = memoryview(data.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        offset = self.offset + start * self._row_bytes
        while len(view):
            written = os.pwrite(self._file.fileno(), view, offset)
            view, offset = view[written:], offset + written

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def array(self) -> np.memmap[Any, Any]:
        """The file read-only (closed for writing)."""
        self.close()
        return np.load(self.path, mmap_mode="r", allow_pickle=False)  # type: ignore[no-any-return]


def is_spilled(array: Any) -> TypeGuard[np.memmap[Any, Any]]:
    """Whether ``array`` is a :class:`Spill`'s file, to be moved rather than saved again."""
    filename = getattr(array, "filename", None)
    return (isinstance(array, np.memmap) and filename is not None
            and Path(filename).parent.name == SPILL_DIR and Path(filename).suffix == ".npy")
