"""Following the server's document builds from a test (shared by the API, CLI and page tests)."""

from __future__ import annotations

import time
from typing import Any

import httpx


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_build(url: str, token: str, build_id: str, timeout: float = 300) -> dict[str, Any]:
    """The build's record once it has finished (succeeded or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build: dict[str, Any] = httpx.get(
            f"{url}/api/v1/admin/builds/{build_id}", headers=auth(token), timeout=30
        ).json()
        if build["state"] in ("succeeded", "failed"):
            return build
        time.sleep(0.3)
    raise AssertionError(f"build {build_id} did not finish within {timeout} s")


def wait_idle(url: str, token: str, timeout: float = 300) -> None:
    """Until no build is queued or running (another test's builds are done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        builds = httpx.get(f"{url}/api/v1/admin/builds", headers=auth(token), timeout=30).json()
        if all(b["state"] in ("succeeded", "failed") for b in builds["builds"]):
            return
        time.sleep(0.3)
    raise AssertionError(f"builds still running after {timeout} s")


def corpus_state(corpus: Any) -> dict[str, bytes]:
    """Every file under the corpus folder (hidden ones too) with its bytes."""
    return {str(p.relative_to(corpus)): p.read_bytes()
            for p in sorted(corpus.rglob("*")) if p.is_file()}
