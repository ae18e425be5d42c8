"""Build progress for people: a bar in a terminal, plain log lines anywhere else.

Log files and CI output get a line every ``every`` seconds (and at the end of
each phase) instead of a bar's control characters.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from natoqa.index.builder import Progress as ProgressCallback

log = logging.getLogger("natoqa.build")


@contextmanager
def embedding_progress(
    stream: TextIO | None = None, *, every: float = 5.0
) -> Iterator[ProgressCallback]:
    """A callback for :func:`~natoqa.index.builder.build_index`; a bar if ``stream`` is a TTY."""
    stream = stream or sys.stderr
    if stream.isatty():
        with _bar(stream) as callback:
            yield callback
    else:
        yield _lines(every)


@contextmanager
def _bar(stream: TextIO) -> Iterator[ProgressCallback]:
    columns = (
        TextColumn("embedding {task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[str, TaskID] = {}
    real_stderr = sys.stderr
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        with _logs_to(real_stderr, sys.stderr):  # now rich's proxy, which prints above the bar
            yield update


@contextmanager
def _logs_to(real: TextIO, proxy: TextIO) -> Iterator[None]:
    """Point log handlers writing to ``real`` at ``proxy`` for a while: logging holds the
    real stderr, so without this its lines would be drawn through the live bar."""
    swapped: list[logging.StreamHandler[Any]] = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is real:
            handler.setStream(proxy)
            swapped.append(handler)
    try:
        yield
    finally:
        for handler in swapped:
            handler.setStream(real)


def _lines(every: float) -> ProgressCallback:
    last: dict[str, float] = {}

    def update(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if total == 0:
            return
        if done == total or now - last.get(phase, 0.0) >= every:
            last[phase] = now
            log.info("embedded %d/%d %s (%d%%)", done, total, phase, 100 * done // total)

    return update
