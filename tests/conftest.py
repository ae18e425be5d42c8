"""Shared fixtures.

Every test gets a clean environment (no NATOQA_* variables, hubs offline) and
runs in its own temporary working directory. The real model, a real index of
the bundled corpus and a real server are session fixtures, built once.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # imported by pytest_plugins below, with its asserts rewritten
    from tests.engines.postgres import PostgresCluster

#: the real PostgreSQL's fixtures (pg_cluster, pg_primary, pg_standby) for every folder, so
#: tests/engines and tests/index share one session cluster
pytest_plugins = ["tests.engines.postgres"]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from natoqa.config import get_settings

    for name in list(os.environ):
        if name.startswith("NATOQA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings_for_model():  # type: ignore[no-untyped-def]
    """Settings with the default model and the shared model cache."""
    from natoqa.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def embedder(settings_for_model):  # type: ignore[no-untyped-def]
    """The real packaged model, loaded once."""
    from natoqa.embed.base import load_embedder

    return load_embedder(settings_for_model)


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the bundled corpus."""
    target = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, corpus_copy: Path, embedder) -> Path:  # type: ignore[no-untyped-def]
    """The bundled corpus indexed with the real model (read-only for tests)."""
    from natoqa.index.builder import build_index

    index_dir = tmp_path_factory.mktemp("index") / "index"
    build_index(corpus_copy, index_dir, embedder)
    return index_dir


def natoqa_cli(
    *args: str, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``natoqa ARGS…`` in a new process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "natoqa", *args], capture_output=True,
                          text=True, timeout=timeout, check=check)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    index_dir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``natoqa serve`` on a free loopback port and wait until /healthz answers."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    # A file, not a pipe: a full pipe would block the server's logging.
    log_path = Path(tempfile.mkstemp(prefix="natoqa-server-", suffix=".log")[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "natoqa",
            "serve",
            "--index",
            str(index_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log_path.read_text(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode}:\n{err[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become healthy within 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server_url(built_index: Path) -> Iterator[str]:
    """A real uvicorn server with the real model, on a free loopback port.

    Without the per-client rate limit: every test shares this server and its
    client address (tests/api/test_limits.py tests the limit on its own server).
    """
    proc, url = start_server(built_index, env={"NATOQA_RATE_LIMIT": "off"})
    try:
        yield url
    finally:
        stop_server(proc)


#: tokens of the editable server (``editable_server``)
ADMIN_TOKEN = "admin-token-for-tests-0123"
CMS_TOKEN = "cms-token-for-tests-456789"
#: its upload limit: small, so the over-the-limit test sends little
UPLOAD_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class EditableServer:
    """A server whose corpus (a private copy) may be changed over HTTP."""

    url: str
    corpus: Path
    index: Path
    log_path: Path


@pytest.fixture(scope="session")
def editable_server(
    tmp_path_factory: pytest.TempPathFactory, built_index: Path
) -> Iterator[EditableServer]:
    """A real server on private copies of the bundled corpus and its index, with the admin
    token and a documents token named ``cms``; tests change it with distinct doc_ids."""
    root = tmp_path_factory.mktemp("editable")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(built_index, index, ignore=shutil.ignore_patterns(".build.lock"))
    proc, url = start_server(index, env={
        "NATOQA_RATE_LIMIT": "off",
        "NATOQA_ADMIN_TOKEN": ADMIN_TOKEN,
        "NATOQA_DOCUMENTS_TOKENS": f"cms:{CMS_TOKEN}",
        "NATOQA_CORPUS_DIR": str(corpus),
        "NATOQA_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    })
    try:
        yield EditableServer(url, corpus, index, proc.log_path)  # type: ignore[attr-defined]
    finally:
        stop_server(proc)


@dataclass(frozen=True)
class BundledInPostgres:
    """The bundled corpus built into a schema of the session's PostgreSQL primary."""

    schema: str
    corpus: Path  # a private copy: tests that add documents build from it
    first: str  # the version built from the bundled corpus as it is

    def env(self, url: str) -> dict[str, str]:
        """A process's settings for this store at ``url`` (the primary or the standby)."""
        return {"NATOQA_STORE": url, "NATOQA_STORE_SCHEMA": self.schema}


@pytest.fixture(scope="session")
def pg_bundled(  # type: ignore[no-untyped-def]
    pg_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
    embedder,
) -> BundledInPostgres:
    """The bundled corpus built with the real model into PostgreSQL by ``build_postgres``
    (the versions after ``first`` are the tests' own)."""
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_build import build_postgres

    corpus = tmp_path_factory.mktemp("pg-corpus") / "corpus"
    shutil.copytree(CORPUS, corpus)
    pg_cluster.primary.ensure_running()
    store = PostgresStore(pg_cluster.primary.dsn, schema="bundled")
    report = build_postgres(corpus, store, embedder, keep_versions=50)
    return BundledInPostgres("bundled", corpus, report.version)
