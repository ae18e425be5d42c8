"""A real local Ray cluster for tests and benchmarks (tests/embed/test_ray.py, bench/ray_embed.py).

``start_cluster(cpus)`` runs ``ray start --head --block`` (the ``ray`` extra's command)
as a child of this process in a session of its own, on 127.0.0.1 with a free port, its
session files in a temporary folder, and yields the address to give NATOQA_RAY_ADDRESS.
On exit it sends SIGTERM to ``ray start``, which stops every process it started, then
SIGKILL to its process group for anything left; the folder is removed.

:data:`RAY_ENV` must be in this process's environment before ``ray`` is first imported
(it is read then; :func:`use_loopback` sets it): Ray otherwise replaces 127.0.0.1 in an
address by the machine's network address, where the head does not listen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one machine: 127.0.0.1 stays 127.0.0.1
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # stop at once, no 30 s of draining
}
RAY_CLI = Path(sys.executable).with_name("ray")


def use_loopback() -> None:
    """Put :data:`RAY_ENV` in this process's environment (before ``import ray``)."""
    os.environ.update(RAY_ENV)


def ray_installed() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return RAY_CLI.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def start_cluster(cpus: int = 2, *, startup_s: float = 120) -> Iterator[str]:
    """A local Ray cluster of ``cpus`` CPUs; yields its address ``127.0.0.1:PORT``."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must stay short
    log_path = temp / "head.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(RAY_CLI), "start", "--head", "--block", "--num-cpus", str(cpus),
             "--port", str(port), "--node-ip-address", "127.0.0.1",
             "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(temp)],
            env={**os.environ, **RAY_ENV}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopped with everything it started
        )
    try:
        _wait_for(proc, port, log_path, startup_s)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        if b"Ray runtime started" in log.read_bytes():
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray cluster did not start within {timeout:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``ray start --block``, which stops what it started; then its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the cluster's still alive
