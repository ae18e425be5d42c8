"""``natoqa build --watch``: debounced rebuilds on corpus changes (real file watching)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from natoqa.errors import CorpusError
from natoqa.index.store import IndexStore
from natoqa.index.watch import watch_corpus


class Rebuilds:
    """Counts rebuild calls; can be told to fail once."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_next = False
        self.changed = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.changed.set()
        if self.fail_next:
            self.fail_next = False
            raise CorpusError("no usable document (simulated)")

    def wait(self, calls: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.calls < calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.calls >= calls, f"{self.calls} rebuilds, expected {calls}"


@pytest.fixture
def watching(tmp_path: Path):  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Erster Text.")
    rebuilds = Rebuilds()
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_corpus, args=(corpus, rebuilds), kwargs={"quiet_ms": 300, "stop": stop}
    )
    thread.start()
    rebuilds.wait(1)  # the initial build
    time.sleep(0.3)  # let the watcher arm
    yield corpus, rebuilds
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_a_burst_of_changes_is_one_rebuild(watching) -> None:  # type: ignore[no-untyped-def]
    corpus, rebuilds = watching
    for i in range(5):
        (corpus / f"neu{i}.txt").write_text(f"Text {i}.")
        time.sleep(0.05)
    rebuilds.wait(2)
    time.sleep(1.0)
    assert rebuilds.calls == 2


def test_hidden_and_editor_files_are_ignored(watching) -> None:  # type: ignore[no-untyped-def]
    corpus, rebuilds = watching
    (corpus / ".hidden.txt").write_text("x")
    (corpus / "a.txt.swp").write_text("x")
    (corpus / "a.txt~").write_text("x")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "index").write_text("x")
    time.sleep(1.5)
    assert rebuilds.calls == 1
    (corpus / "a.meta.toml").write_text('title = "A"\n')  # a metadata edit does count
    rebuilds.wait(2)


def test_a_failed_build_does_not_end_the_watch(watching) -> None:  # type: ignore[no-untyped-def]
    corpus, rebuilds = watching
    rebuilds.fail_next = True
    (corpus / "a.txt").unlink()
    rebuilds.wait(2)
    (corpus / "b.txt").write_text("Zweiter Text.")
    rebuilds.wait(3)


def test_a_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        watch_corpus(tmp_path / "nope", lambda: None)


@pytest.mark.slow
def test_cli_watch_rebuilds_on_change_and_stops_on_ctrl_c(
    tmp_path: Path, corpus_copy: Path
) -> None:
    import shutil

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(corpus_copy, corpus)
    proc = subprocess.Popen(
        [sys.executable, "-m", "natoqa", "build", "--watch", "--json", "--debounce", "300",
         "--corpus", str(corpus), "--index", str(index)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())  # one JSON line per build
        assert first["switched"] and first["documents_added"] == 2
        time.sleep(0.5)
        news = corpus / "002_7ab4b17f7a80dd35.txt"
        news.write_text(news.read_text() + "\nNachtrag: Die Allianz tagt erneut.\n")
        second = json.loads(proc.stdout.readline())
        assert second["changed"] == [news.name] and second["previous_version"] == first["version"]
        assert second["passages_embedded"] <= 2 and second["passages_reused"] > 50
        assert IndexStore(index).current() == second["version"]
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
