"""What a storage backend provides: durable transactions over portable SQL.

SQL is written with ``?`` parameter markers; a backend rewrites them for its driver. Types in DDL
use ``{blob}`` and ``{serial}`` (and migration 11 ``{chunk_storage}``), filled per dialect.
Everything else is plain SQL that SQLite (3.35+) and PostgreSQL both run, ``ON CONFLICT`` and
``RETURNING`` included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = dict[str, Any]


def plain(row: Row) -> Row:
    """A driver row as plain Python values (asyncpg and sqlite3 differ on blobs)."""
    return {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in row.items()}


def sql_list(values: Sequence[str]) -> str:
    """Constant values (enum members, never input) as a SQL list: ``'a', 'b'``."""
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class Dialect:
    name: str
    blob: str
    serial: str
    # Appended to the outbox claim sub-select: row locks that other claimers skip.
    skip_locked: str
    # The statement (or nothing) that stores CTF payload chunks uncompressed (migration 11):
    # on PostgreSQL, TOAST's pglz cost 0.5-1.5 s of server time per 10 MB CTF here, against
    # 0.15 s for the whole write uncompressed (docs/storage.md).
    chunk_storage: str = ""


class Tx(Protocol):
    dialect: Dialect

    async def execute(self, sql: str, *args: Any) -> int: ...

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchall(self, sql: str, *args: Any) -> list[Row]: ...


# A step of a transaction that a caller adds to a write the store owns: what a message
# causes (an enquiry answered, a case opened, a CTF routed) commits with it, or not at all.
Step = Callable[[Tx], Awaitable[object]]


class Backend(Protocol):
    dialect: Dialect

    async def open(self, migrations: Sequence[tuple[int, str]]) -> None: ...

    async def write(self, op: Callable[[Tx], Awaitable[T]], *, group: bool = False,
                    key: str = "", order: str = "") -> T:
        """Run ``op`` in a transaction that is durable (fsynced) when this returns.

        ``group``: ``op`` is short and may share its transaction and its COMMIT with other
        grouped operations (SQLite groups every write; PostgreSQL only these). A failing
        operation never affects the others; on PostgreSQL a grouped ``op`` may be run again
        (once) after another one failed, so it must depend on the database alone. ``key``
        orders grouped operations (the partner whose rows they lock), then ``order`` (the
        message id)."""
        ...

    async def read(self, op: Callable[[Tx], Awaitable[T]]) -> T: ...

    async def close(self) -> None: ...
