"""The store: one repository per aggregate over one backend.

``Store`` is what the rest of the gateway holds; each repository (``inbox``, ``outbox``,
``transfers``, ``cases``, ``records``, ``audit``, ``clients``, ``users``, ``sessions``,
``watches``, ``notifications``, ``arrivals``, ``chasing``, ``register``,
``school_notices``) is written once in portable SQL against ``Tx`` and returns frozen row
dataclasses.
"""

from __future__ import annotations

from pathlib import Path

from gateway.core.clock import SYSTEM, Clock
from gateway.store.arrivals import Arrivals
from gateway.store.audit import AuditLog
from gateway.store.base import Backend
from gateway.store.cases import Cases
from gateway.store.chasing import Chasing
from gateway.store.clients import Clients
from gateway.store.cnis import Register
from gateway.store.inbox import Inbox
from gateway.store.migrations import MIGRATIONS
from gateway.store.notices import SchoolNotices
from gateway.store.notifications import Marks, Notifications
from gateway.store.outbox import Outbox
from gateway.store.payloads import DbPayloads, FilePayloads, Payloads
from gateway.store.postgres import PostgresBackend
from gateway.store.records import Records
from gateway.store.sqlite import SqliteBackend
from gateway.store.transfers import Transfers
from gateway.store.users import Sessions, Users
from gateway.store.watches import Watches


class Store:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM,
                 payload_dir: Path = Path("ctf")) -> None:
        self.backend = backend
        # CTF payloads: files in ``payload_dir`` on SQLite (one host), rows in the database on
        # PostgreSQL (any number of hosts, no shared folder).
        self.payloads: Payloads = (DbPayloads(backend, clock)
                                   if backend.dialect.name == "postgresql"
                                   else FilePayloads(payload_dir))
        self.inbox = Inbox(backend, clock)
        self.outbox = Outbox(backend)
        self.transfers = Transfers(backend, clock)
        self.cases = Cases(backend, clock)
        self.records = Records(backend, clock)
        self.audit = AuditLog(backend, clock)
        self.clients = Clients(backend, clock)
        self.users = Users(backend, clock)
        self.sessions = Sessions(backend, clock)
        self.watches = Watches(backend, clock)
        self.notifications = Notifications(backend, clock)
        self.marks = Marks(backend)
        self.arrivals = Arrivals(backend)
        self.chasing = Chasing(backend, clock)
        self.register = Register(backend, clock)
        self.school_notices = SchoolNotices(backend)

    async def open(self) -> Store:
        await self.backend.open(MIGRATIONS)
        # migration 12's search keys: computed in Python (Unicode folding), so not in its SQL
        await self.register.fill_search_keys()
        return self

    async def close(self) -> None:
        await self.backend.close()


def is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


async def open_store(database: str, home: Path | None = None, clock: Clock = SYSTEM,
                     payload_dir: Path | None = None) -> Store:
    """Open the store named by the ``database`` setting (a SQLite path or a DSN);
    ``payload_dir`` is where CTF payloads are files (SQLite only; default ``home/ctf``)."""
    folder = payload_dir or (home or Path.cwd()) / "ctf"
    if is_postgres(database):
        return await Store(PostgresBackend(database), clock, folder).open()
    path = Path(database)
    if home is not None and not path.is_absolute():
        path = home / path
    return await Store(SqliteBackend(path), clock, folder).open()
