"""Rows of a stored array, read on demand with ``pread`` instead of through a memory map.

Rescoring a question's candidates needs a few hundred scattered rows of a segment's
unit vectors and latent terms: megabytes of files of gigabytes. Read through a
memory map, every touched page, and the neighbours the kernel maps with it on each
fault, stays in the server's resident set, which then grows with the questions
asked until it holds the whole files (measured at 100,000 passages: 3 GB after 60
questions). Read with ``pread`` into a fresh array, the rows are the question's
own memory and are freed with it; the files stay in the page cache, shared by
every version and worker that links them, and reclaimable.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.int64]


class RowFile:
    """A C-ordered ``.npy`` array's rows, read from an open file descriptor.

    The descriptor is opened once, when the version is loaded, so a version whose
    folder is pruned while a request still uses it keeps reading the same bytes.
    """

    def __init__(self, array: np.memmap[Any, Any]) -> None:
        if array.filename is None or not array.flags.c_contiguous or array.ndim < 1:
            raise ValueError("not a C-ordered array memory-mapped from a file")
        self.dtype = array.dtype
        self.shape: tuple[int, ...] = tuple(array.shape)
        self._start = int(array.offset)
        self._row_bytes = int(array.dtype.itemsize * np.prod(array.shape[1:], dtype=np.int64))
        self._fd = os.open(array.filename, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, rows: Rows) -> npt.NDArray[Any]:
        """The rows ``rows`` (ascending), as a new array."""
        return self.ranges(rows, rows + 1)

    def ranges(self, first: Rows, last: Rows,
               out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """Rows ``first[i]:last[i]`` for each ``i`` (ascending, not overlapping), one after
        the other in a new array (or ``out``, C-ordered, of that shape and the file's
        type); touching ranges are read with one call."""
        counts = np.asarray(last - first, dtype=np.int64)
        shape = (int(counts.sum()), *self.shape[1:])
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"cannot read {shape} {self.dtype} rows into {out.shape} "
                             f"{out.dtype}")
        if not len(out) or not self._row_bytes:
            return out
        keep = counts > 0
        first, last = np.asarray(first, np.int64)[keep], np.asarray(last, np.int64)[keep]
        # runs of ranges that touch: one read each
        breaks = np.flatnonzero(first[1:] != last[:-1]) + 1
        run_first = first[np.r_[0, breaks]].tolist()
        run_last = last[np.r_[breaks - 1, len(last) - 1]].tolist()
        buffer = memoryview(out.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
        size, at = self._row_bytes, 0
        for a, b in zip(run_first, run_last, strict=True):
            self._read_into(buffer[at : at + (b - a) * size], self._start + a * size)
            at += (b - a) * size
        return out

    def _read_into(self, view: memoryview, offset: int) -> None:
        while len(view):
            got = os.preadv(self._fd, [view], offset)
            if got <= 0:
                raise OSError(f"short read of a stored array at byte {offset}")
            view, offset = view[got:], offset + got
