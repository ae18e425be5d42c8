"""Starting a real ``natoqa serve`` for a benchmark, and waiting until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    index: Path, log: Path, env: dict[str, str], *, ready: str = "/healthz", workers: int = 1,
    timeout: float = 300, command: list[str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``natoqa serve`` on a free loopback port, its log in ``log``; returned once ``ready``
    answers 200 and every worker has loaded its model. ``command``, if given, serves
    instead; ``--port PORT`` is appended to it."""
    port = free_port()
    serve = command or [sys.executable, "-m", "natoqa", "serve", "--index", str(index),
                        "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*serve, "--port", str(port)],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            up = httpx.get(url + ready, timeout=2).status_code == 200
            if up and (workers == 1 or
                       log.read_text(errors="replace").count("natoqa started") >= workers):
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not become ready within {timeout:.0f} s")
