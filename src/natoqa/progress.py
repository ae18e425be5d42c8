"""Build progress for people: a bar in a terminal, plain log lines anywhere else.

Log files and CI output get a line every ``every`` seconds (and at the end)
instead of a bar's control characters.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from natoqa.builder import Progress as ProgressCallback

log = logging.getLogger("natoqa.build")


@contextmanager
def embedding_progress(
    stream: TextIO | None = None, *, every: float = 5.0
) -> Iterator[ProgressCallback]:
    """A callback for :func:`natoqa.builder.build_index`; draws a bar if ``stream`` is a TTY."""
    stream = stream or sys.stderr
    if stream.isatty():
        with _bar(stream) as callback:
            yield callback
    else:
        yield _lines(every)


@contextmanager
def _bar(stream: TextIO) -> Iterator[ProgressCallback]:
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("passages"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("embedding", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if done >= total:  # gone before the builder logs again (logging bypasses rich)
                bar.stop()

        yield update


def _lines(every: float) -> ProgressCallback:
    last = [0.0]

    def update(done: int, total: int) -> None:
        now = time.monotonic()
        if total == 0:
            return
        if done == total or now - last[0] >= every:
            last[0] = now
            log.info("embedded %d/%d passages (%d%%)", done, total, 100 * done // max(total, 1))

    return update
