"""Builds a running server makes after documents changed over HTTP.

Changes are queued and coalesced: every change joins the one build that has
not started yet, which starts once changes have been quiet for ``delay``
seconds (at most :data:`MAX_GROUPING` after the first). Builds run one at a
time in a worker thread with the model's own copy (the request path's
tokenizer is not safe to share across threads), so the server keeps
answering meanwhile; when a build is done the service switches to its
version at once. Each build's record (its changes, progress and report) is a
JSON file in ``index/.builds/``, so every ``--workers`` process and a
restarted server can show it. Every change is also a line of the
``natoqa.audit`` log: who, what, when, the build and the resulting version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from natoqa.config import UnitVectors
from natoqa.embed.base import Embedder
from natoqa.errors import NatoqaError
from natoqa.index.builder import build_index
from natoqa.ingest.sources.corpus import doc_id_for
from natoqa.ingest.sources.editing import stored_hash

log = logging.getLogger(__name__)
audit = logging.getLogger("natoqa.audit")

RECORDS = ".builds"
#: build records kept on disk (older ones are deleted)
HISTORY = 50
#: longest a stream of changes postpones its build
MAX_GROUPING = 10.0
#: how long a build waits for another build process (natoqa build, another worker)
LOCK_WAIT = 600.0

State = Literal["queued", "running", "succeeded", "failed"]
Action = Literal["put", "delete", "build"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Change:
    """One change someone asked for: ``action`` on ``doc_id`` by ``actor`` (a token name)."""

    action: Action
    doc_id: str | None
    actor: str
    at: str
    content_hash: str | None = None


@dataclass
class Build:
    """A build's record; ``report`` is the builder's summary once it is done."""

    id: str
    state: State
    requested_at: str
    changes: list[Change] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    #: what it does now: reading, passages, sentences (embedding), switching
    phase: str | None = None
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    #: the version the server answers from after this build
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Build:
        changes = [Change(**c) for c in data.pop("changes", [])]
        return cls(**data, changes=changes)


def new_build_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


class BuildQueue:
    """The server's build worker (see the module docstring)."""

    def __init__(
        self,
        corpus_dir: Path,
        index_dir: Path,
        embedder: Callable[[], Embedder],
        switch: Callable[[], str | None],
        *,
        delay: float = 0.5,
        keep_versions: int = 5,
        ann_min_passages: int = 5_000,
        segment_passages: int = 20_000,
        unit_vectors: UnitVectors = "separate",
    ) -> None:
        self.corpus_dir = corpus_dir
        self.index_dir = index_dir
        self._make_embedder = embedder
        self._embedder: Embedder | None = None
        self._switch = switch  # reloads the service; returns the version it answers from
        self.delay = delay
        self.keep_versions = keep_versions
        self.ann_min_passages = ann_min_passages
        self.segment_passages = segment_passages
        self.unit_vectors: UnitVectors = unit_vectors
        self._cond = threading.Condition()
        self._queued: Build | None = None
        self._running: Build | None = None
        self._first_change = 0.0
        self._last_change = 0.0
        self._stopping = False
        self._preload = False
        self._thread: threading.Thread | None = None

    @property
    def records_dir(self) -> Path:
        return self.index_dir / RECORDS

    # --- asking for builds ----------------------------------------------------

    def request(self, change: Change) -> Build:
        """Queue ``change``: it joins the build that has not started yet, or starts one."""
        with self._cond:
            now = time.monotonic()
            build = self._queued
            if build is None:
                build = Build(new_build_id(), "queued", now_iso())
                self._queued = build
                self._first_change = now
            build.changes.append(change)
            self._last_change = now
            self._save(build)
            self._start_worker()
            self._cond.notify_all()
        audit.info("%s %s by %s: build %s queued", change.action, change.doc_id or "-",
                   change.actor, build.id, extra={
                       "event": f"document.{change.action}", "actor": change.actor,
                       "doc_id": change.doc_id, "at": change.at, "build_id": build.id,
                       "content_hash": change.content_hash, "outcome": "queued"})
        return build

    def pending(self) -> Build | None:
        """The build that will take the corpus as it is now: the queued one, else the running."""
        with self._cond:
            return self._queued or self._running

    def get(self, build_id: str) -> Build | None:
        with self._cond:
            for build in (self._queued, self._running):
                if build is not None and build.id == build_id:
                    return _copy(build)
        return self._load(build_id)

    def recent(self, limit: int = HISTORY) -> list[Build]:
        """The newest builds first (the queued and running ones included)."""
        try:
            names = sorted((p.stem for p in self.records_dir.glob("*.json")), reverse=True)
        except OSError:
            names = []
        builds = [b for name in names[:limit] if (b := self.get(name)) is not None]
        return builds

    # --- the worker -------------------------------------------------------------

    def start(self) -> None:
        """Start the worker now and load its model copy in the background, so the first
        build does not wait for it (the server answers meanwhile)."""
        with self._cond:
            self._preload = True
            self._start_worker()

    def _start_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="natoqa-builds", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the running build (if any, waiting at most ``timeout``); a queued build
        is recorded as not run: its changes are in the corpus, so the next build takes them."""
        with self._cond:
            self._stopping = True
            queued, self._queued = self._queued, None
            self._cond.notify_all()
        if queued is not None:
            queued.state, queued.finished_at = "failed", now_iso()
            queued.error = ("the server stopped before this build ran; its changes are in the "
                            "corpus and the next build takes them")
            self._save(queued)
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        if self._preload and self._embedder is None:
            try:
                self._embedder = self._make_embedder()
            except Exception:  # the first build tries again and reports the error
                log.exception("cannot load the model for builds")
        while True:
            with self._cond:
                while self._queued is None and not self._stopping:
                    self._cond.wait()
                # quiet period: changes sent together become one build
                while not self._stopping:
                    wait = min(self._last_change + self.delay,
                               self._first_change + MAX_GROUPING) - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopping:
                    return
                build, self._queued = self._queued, None
                assert build is not None
                self._running = build
                build.state, build.started_at, build.phase = "running", now_iso(), "reading"
                self._save(build)
            try:
                self._run(build)
            finally:
                with self._cond:
                    self._running = None
                    self._save(build)
                self._prune()
                self._audit(build)

    def _run(self, build: Build) -> None:
        try:
            if self._embedder is None:
                build.phase = "loading the model"
                self._embedder = self._make_embedder()
                build.phase = "reading"
            report = build_index(
                self.corpus_dir, self.index_dir, self._embedder,
                keep_versions=self.keep_versions, lock_timeout=LOCK_WAIT,
                ann_min_passages=self.ann_min_passages,
                segment_passages=self.segment_passages,
                unit_vectors=self.unit_vectors,
                progress=lambda phase, done, total: self._progress(build, phase, done, total),
            )
            build.phase = "switching"
            data = report.to_dict()
            data["skipped"] = [self._skip_entry(s) for s in report.skipped]
            build.report = data
            build.version = self._switch()
            build.state = "succeeded"
        except NatoqaError as exc:
            build.state, build.error = "failed", exc.message
            log.error("build %s failed, the index stays as it was: %s", build.id, exc.message)
        except Exception as exc:  # a bug: the worker must go on with the next build
            build.state, build.error = "failed", f"internal error: {type(exc).__name__}"
            log.exception("build %s failed", build.id)
        finally:
            build.finished_at, build.phase = now_iso(), None

    def _progress(self, build: Build, phase: str, done: int, total: int) -> None:
        with self._cond:
            build.phase, build.done, build.total = phase, done, total
        # the file only now and then: a fast build reports hundreds of steps
        if done in (0, total) or done % 256 == 0:
            self._save(build)

    def _skip_entry(self, skipped: dict[str, str]) -> dict[str, str | None]:
        """The builder's skip with the corpus-relative name and the hash of what was skipped,
        so a later upload of the same name is shown as pending, not skipped."""
        path = Path(skipped["path"])
        return {
            "doc_id": doc_id_for(path, self.corpus_dir),
            "reason": skipped["reason"],
            "content_hash": stored_hash(path),
        }

    def _audit(self, build: Build) -> None:
        for change in build.changes:
            audit.info(
                "%s %s by %s: build %s %s, version %s", change.action, change.doc_id or "-",
                change.actor, build.id, build.state, build.version,
                extra={"event": f"document.{change.action}", "actor": change.actor,
                       "doc_id": change.doc_id, "at": change.at, "build_id": build.id,
                       "content_hash": change.content_hash, "outcome": build.state,
                       "version": build.version, "error": build.error},
            )

    # --- records ----------------------------------------------------------------

    def _save(self, build: Build) -> None:
        """Write the record atomically; a full disk must not stop the build itself."""
        try:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.records_dir / f".{build.id}.{os.getpid()}.tmp"
            with self._cond:
                text = json.dumps(build.to_dict(), ensure_ascii=False)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.records_dir / f"{build.id}.json")
        except OSError as exc:
            log.warning("cannot save the record of build %s: %s", build.id, exc)

    def _load(self, build_id: str) -> Build | None:
        if not build_id.replace("-", "").isalnum():
            return None
        try:
            data = json.loads((self.records_dir / f"{build_id}.json").read_text("utf-8"))
            return Build.from_dict(data)
        except (OSError, ValueError, TypeError):
            return None

    def _prune(self) -> None:
        with contextlib.suppress(OSError):
            for old in sorted(self.records_dir.glob("*.json"), reverse=True)[HISTORY:]:
                old.unlink(missing_ok=True)


def _copy(build: Build) -> Build:
    return Build.from_dict(json.loads(json.dumps(build.to_dict())))
