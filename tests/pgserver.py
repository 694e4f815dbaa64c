"""A throwaway PostgreSQL server for the tests: initdb, start on a free loopback port, stop,
remove.

Needs the PostgreSQL server binaries (Debian: ``apt-get install postgresql``; ``.ci/run``
installs it). Without them the tests that use ``pg_dsn`` FAIL with a message saying so:
they are never skipped.

PostgreSQL refuses to run as root, so as root (CI) the cluster is created and run as the
``postgres`` user that the Debian package creates (``runuser -u postgres``), in a folder that
user owns. The cluster lives in a short folder under the system temp directory (a unix socket
path must stay under ~107 bytes, and the root-only pytest temp folders are not reachable by
``postgres``); it runs with ``fsync=on`` like production and is removed afterwards.

Usage in a test module::

    from tests.pgserver import pg_dsn  # noqa: F401  (the session fixture)

    def test_x(pg_dsn): dsn = fresh_database(pg_dsn)  # a new empty database per test
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

INSTALL_HINT = ("install the PostgreSQL server (Debian: `apt-get install postgresql`; "
                ".ci/run does this when run as root)")
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be found or started here: a test failure, never a skip."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)


@functools.cache
def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``createdb``.

    Tried in order: ``$PG_BINDIR``; ``pg_config --bindir``; the newest
    ``/usr/lib/postgresql/*/bin`` (Debian); the folder of ``initdb`` on the PATH with symlinks
    resolved (Debian puts only wrappers or symlinks on the PATH, if anything)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key,
                         reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "createdb")):
            return folder
    tried = ", ".join(str(c) for c in candidates) or "nothing found"
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found "
                              f"(tried: {tried}); {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running cluster. ``run_as`` is the OS user the server runs as (None: us)."""

    root: Path
    bindir: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["runuser", "-u", self.run_as, "--", *args]

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cmd(*args), capture_output=True, text=True,
                              timeout=timeout, cwd=self.root)

    def log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def initdb(self) -> None:
        out = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                        "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
        if out.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({out.returncode}):\n{out.stdout}\n"
                                      f"{out.stderr}")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on "
                f"-c synchronous_commit=on -c max_connections=200")
        out = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.log_file), "-w", "-t", "60", "-o", opts, "start")
        if out.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl start failed ({out.returncode}):\n{out.stdout}"
                                      f"\n{out.stderr}\n{self.log_tail()}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                      "-t", "30", "stop", timeout=60)

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its DSN."""
        return fresh_database(self.dsn(), name)


def _postgres_user() -> str:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root, but there is no `postgres` user to run "
                                  f"the server as; {INSTALL_HINT}") from None
    if not shutil.which("runuser"):
        raise PostgresUnavailable("running as root, but `runuser` (util-linux) is missing")
    return "postgres"


@contextlib.contextmanager
def postgres_server(base: Path | None = None) -> Iterator[PgServer]:
    """Create and start a cluster in a new folder under ``base`` (default: the system temp
    directory); stop it and remove the folder afterwards."""
    bindir = find_bindir()
    run_as = _postgres_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="cmepg-", dir=base))
    server: PgServer | None = None
    try:
        if run_as is not None:
            info = pwd.getpwnam(run_as)
            os.chown(root, info.pw_uid, info.pw_gid)
            os.chmod(root, 0o700)
        for attempt in range(3):  # a free port can be taken between choosing and binding it
            server = PgServer(root, bindir, _free_port(), run_as)
            if attempt == 0:
                server.initdb()
            try:
                server.start()
                break
            except PostgresUnavailable:
                if attempt == 2 or "already in use" not in server.log_tail():
                    raise
        assert server is not None
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(dsn: str, name: str | None = None) -> str:
    """A new empty database on the server ``dsn`` points at (``pg_dsn``); returns its DSN."""
    parts = urlsplit(dsn)
    name = name or f"t_{uuid.uuid4().hex[:16]}"
    out = subprocess.run([str(find_bindir() / "createdb"), "-h", parts.hostname or "127.0.0.1",
                          "-p", str(parts.port or 5432), "-U", parts.username or SUPERUSER,
                          name], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise PostgresUnavailable(f"createdb {name} failed: {out.stderr.strip()}")
    return urlunsplit(parts._replace(path=f"/{name}"))


class _Shared:
    """The one server of a test session. A fixture imported into several test modules is a
    separate fixture per module (one setup each, even at session scope), so the server is
    reference-counted here: started by the first user, stopped after the last."""

    stack: contextlib.ExitStack | None = None
    dsn: str | None = None
    error: str | None = None
    users = 0


def _acquire() -> str:
    if _Shared.error is not None:
        raise PostgresUnavailable(_Shared.error)
    if _Shared.dsn is None:
        stack = contextlib.ExitStack()
        try:
            server = stack.enter_context(postgres_server())
            _Shared.dsn = server.create_database("cme_session")
        except PostgresUnavailable as exc:
            stack.close()
            _Shared.error = str(exc)
            raise
        except BaseException:
            stack.close()
            raise
        _Shared.stack = stack
    _Shared.users += 1
    return _Shared.dsn


def _release() -> None:
    _Shared.users -= 1
    if _Shared.users == 0 and _Shared.stack is not None:
        stack, _Shared.stack, _Shared.dsn = _Shared.stack, None, None
        stack.close()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a database on the PostgreSQL server started for this test session. Tests that
    need an empty database of their own call ``fresh_database(pg_dsn)``. Fails (never skips)
    when PostgreSQL is not installed."""
    try:
        dsn = _acquire()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed for these tests: {exc}", pytrace=False)
    try:
        yield dsn
    finally:
        _release()
