"""``natoqa build --watch``: rebuild whenever files in the corpus change, debounced.

Changes are grouped until the corpus has been quiet for ``quiet_ms`` (an editor
saving ten files triggers one build, not ten). Changes made while a build runs
are collected by the watcher meanwhile and trigger the next build right after.
A failed build is logged and the watch goes on: the index stays at its last
good version, and the next change gets another try.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

from natoqa.errors import NatoqaError
from natoqa.index.builder import check_corpus

log = logging.getLogger(__name__)


class CorpusFilter(DefaultFilter):
    """The changes a build would see: no hidden files or folders, no editor droppings."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.resolve()

    def __call__(self, change: Change, path: str) -> bool:
        try:
            parts = Path(path).resolve().relative_to(self.root).parts
        except ValueError:
            return False
        if any(part.startswith(".") for part in parts):  # as scan_corpus skips them
            return False
        return super().__call__(change, path)


def watch_corpus(
    corpus_dir: Path,
    rebuild: Callable[[], object],
    *,
    quiet_ms: int = 1000,
    max_wait_ms: int = 10_000,
    stop: threading.Event | None = None,
) -> int:
    """Build once, then again after every quiet period following changes, until ``stop``
    is set or Ctrl-C. Returns the number of builds that failed."""
    check_corpus(corpus_dir)
    stop = stop or threading.Event()
    failures = 0
    with _stop_on_ctrl_c(stop):
        failures += not _attempt(rebuild, "initial build")
        log.info("watching %s for changes (Ctrl-C to stop)", corpus_dir)
        for changes in watch(
            corpus_dir,
            watch_filter=CorpusFilter(corpus_dir),
            step=quiet_ms,
            debounce=max(max_wait_ms, quiet_ms),
            stop_event=stop,
            raise_interrupt=False,
        ):
            names = sorted({Path(p).name for _, p in changes})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5
                                            else "")
            failures += not _attempt(rebuild, f"{len(changes)} change(s): {shown}")
            if stop.is_set():
                break
    return failures


@contextmanager
def _stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``stop``: the watcher ends at its next step, and a running build
    finishes (its version complete) instead of being cut; a second Ctrl-C interrupts
    at once. Without it, an interrupt that met the watcher between two of its steps
    sometimes left the process hanging at exit (tests/index/test_watch.py, in CI)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; the caller sets ``stop``
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("stopping after the current step (Ctrl-C again to interrupt)")
        stop.set()

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _attempt(rebuild: Callable[[], object], why: str) -> bool:
    log.info("building (%s)", why)
    try:
        rebuild()
    except NatoqaError as exc:
        log.error("build failed, the index stays as it was: %s", exc.message)
        return False
    return True
