"""Shared fixtures: real keys and certificates, gateway homes on disk, real processes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.cli.setup import make_keys, write_config
from gateway.core.config import Settings, load_settings
from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.crypto.trust import TrustStore
from gateway.messages import model as m

ROOT = Path(__file__).resolve().parent.parent


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port no process listens on, never the same one twice in this process.

    The kernel may hand the same ephemeral port to two binds in a row once the first socket is
    closed, so two homes made one after the other could be given one port (seen in CI: 355
    could not listen because 352 already held its port). Remembering what was given avoids it.
    """
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise RuntimeError("no unused loopback port after 100 tries")


@dataclass
class Party:
    party: str
    key: k.PrivateKey
    cert: k.x509.Certificate

    @property
    def signer(self) -> Signer:
        return Signer(self.key, self.cert)


@dataclass
class Pki:
    root: Path
    parties: dict[str, Party] = field(default_factory=dict)

    def party(self, pid: str, kind: str = "ec", **kw: object) -> Party:
        key = k.generate_key(kind)
        p = Party(pid, key, k.make_certificate(pid, key, **kw))  # type: ignore[arg-type]
        self.parties[pid] = p
        return p

    def partners_dir(self, *pids: str) -> Path:
        folder = self.root / ("partners-" + "-".join(pids))
        folder.mkdir(parents=True, exist_ok=True)
        for pid in pids:
            (folder / f"{pid}.pem").write_bytes(k.cert_pem(self.parties[pid].cert))
        return folder

    def trust(self, *pids: str) -> TrustStore:
        return TrustStore(self.partners_dir(*pids))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.party("355")
    p.party("352")
    p.party("999")  # a party nobody trusts
    return p


def header(mtype: m.MessageType = m.MessageType.ENQUIRY, sender: str = "355",
           recipient: str = "352", **kw: object) -> m.Header:
    mid = m.new_id()
    return m.Header(message_id=mid, conversation_id=mid, created_at=m.utcnow(), sender=sender,
                    recipient=recipient, message_type=mtype, **kw)  # type: ignore[arg-type]


def enquiry(sender: str = "355", recipient: str = "352", n: int = 1,
            created_at: dt.datetime | None = None) -> m.Enquiry:
    h = header(m.MessageType.ENQUIRY, sender, recipient)
    if created_at is not None:
        h = m.Header(**{**h.__dict__, "created_at": created_at})
    children = tuple(
        m.EnquiryChild(child_ref=str(i + 1), surname="Testchild", forename=f"Child{i}",
                       dob=dt.date(2014, 1, 1) + dt.timedelta(days=i), gender="F",
                       address_while_resident=m.Address(("1 Test Street",), "M30 7LP"))
        for i in range(n))
    return m.Enquiry(header=h, enquiry_date=dt.date.today(),
                     officer=m.Officer(name="Officer Test"), children=children)


@dataclass
class Home:
    """A gateway's folder: config, keys, spool folders, database."""

    path: Path
    party: str
    port: int

    @property
    def config(self) -> Path:
        return self.path / "gateway.toml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **kw: object) -> Settings:
        return load_settings(self.config, env={}, **kw)

    def trust(self, other: Home) -> None:
        cert = k.load_certificate(other.path / "keys/gateway.pem")
        (self.path / "keys/partners" / f"{other.party}.pem").write_bytes(k.cert_pem(cert))


def make_home(base: Path, party: str, endpoints: dict[str, str] | None = None,
              port: int | None = None, extra: str = "", role: str = "la") -> Home:
    port = port or free_port()
    folder = base / party
    write_config(folder, party, port, role=role, endpoints=endpoints or {})
    if extra:  # top-level settings: replace the template's line, or add one
        text = (folder / "gateway.toml").read_text()
        head, _, tail = text.partition("[endpoints]")
        lines = head.splitlines()
        for line in extra.strip().splitlines():
            key = line.split("=", 1)[0].strip()
            lines = [x for x in lines if x.split("=", 1)[0].strip() != key]
            lines.append(line)
        (folder / "gateway.toml").write_text("\n".join(lines) + "\n\n[endpoints]" + tail)
    make_keys(folder / "keys/gateway.key", folder / "keys/gateway.pem", party)
    return Home(folder, party, port)


def pair(base: Path, extra: str = "") -> tuple[Home, Home]:
    """Two homes, 355 and 352, that trust each other and know each other's endpoint."""
    p1, p2 = free_port(), free_port()
    a = make_home(base, "355", {"352": f"http://127.0.0.1:{p2}/v1/messages"}, p1, extra)
    b = make_home(base, "352", {"355": f"http://127.0.0.1:{p1}/v1/messages"}, p2, extra)
    a.trust(b)
    b.trust(a)
    return a, b


class Proc:
    """A real gateway process."""

    def __init__(self, home: Home, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.home = home
        self.env = env or {}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Proc:
        env = {**os.environ, "CME_GATEWAY_API_TOKEN": "test-token", **self.env}
        with open(self.home.path / "gateway.log", "ab") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(self.home.config), "serve",
                 *self.args],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        if wait:
            self.wait_up()
        return self

    def wait_up(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                with urllib.request.urlopen(self.home.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gateway {self.home.party} did not start\n{self.log()}")

    def log(self) -> str:
        p = self.home.path / "gateway.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def _started() -> Iterator[Callable[..., Proc]]:
    """``start(home, **kw)`` starts a gateway process; all of them are stopped at the end."""
    started: list[Proc] = []

    def start(home: Home, **kw: object) -> Proc:
        p = Proc(home, **kw)  # type: ignore[arg-type]
        started.append(p)  # before it is up: one that never answers is stopped too
        return p.start()

    try:
        yield start
    finally:
        for p in started:
            p.stop()


@pytest.fixture
def procs() -> Iterator[Callable[..., Proc]]:
    with _started() as start:
        yield start


@pytest.fixture(scope="module")
def module_procs() -> Iterator[Callable[..., Proc]]:
    """Like ``procs``, for processes that a whole module's tests share: stopped once the
    module's last test is done."""
    with _started() as start:
        yield start
