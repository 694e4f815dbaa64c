"""PostgreSQL backend (asyncpg): one database shared by any number of gateway processes.

- ``write(op)`` runs the store operation on a pool connection inside one READ COMMITTED
  transaction. A COMMIT returns only when the WAL is flushed (``synchronous_commit`` on; a
  connection that finds it ``off`` turns it back on for itself), so a message acknowledged
  after ``write()`` returns survives a crash of the database server. PostgreSQL already
  groups concurrent commits into one WAL flush, so there is no group commit here.
- ``read(op)`` runs on a pool connection without an explicit transaction.
- The store's portable SQL (``?`` parameter markers) is rewritten once per statement to
  asyncpg's ``$1..$n`` and cached; asyncpg then caches the prepared statement per connection.
- Migrations run under a transaction-level advisory lock, so several processes starting at
  once apply each migration exactly once.
- Every asyncpg or connection error becomes ``GatewayError("store-unavailable")``; the DSN
  (it may hold a password) is never logged.

Multi-process correctness rests on two things the database enforces, not on this process:
the outbox claim locks the rows it takes (``FOR UPDATE SKIP LOCKED``, see
``Store.claim_due``) and inbound de-duplication is the ``inbound`` primary key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from gateway.core.errors import GatewayError
from gateway.store.base import Dialect, Row

log = logging.getLogger(__name__)
T = TypeVar("T")

POSTGRES = Dialect(name="postgresql", blob="BYTEA", serial="BIGSERIAL PRIMARY KEY",
                   skip_locked=" FOR UPDATE SKIP LOCKED",
                   chunk_storage="ALTER TABLE ctf_payload_chunks ALTER COLUMN data "
                                 "SET STORAGE EXTERNAL")

# pg_advisory_xact_lock key that serialises schema migrations ("cmegw-mg" as 8 bytes).
MIGRATION_LOCK = int.from_bytes(b"cmegw-mg", "big") & 0x7FFF_FFFF_FFFF_FFFF

CONNECT_TIMEOUT = 10.0
ACQUIRE_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0  # one statement of a store operation
MIGRATION_TIMEOUT = 3600.0  # a migration statement, or waiting for another process's
CLOSE_TIMEOUT = 10.0

# What "the database is not there or not answering" looks like from asyncpg. An
# InternalClientError is what a connection the server dropped under us can raise (its
# protocol is left mid-operation); the pool replaces that connection.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
    TimeoutError)


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``?`` parameter markers to ``$1..$n``, leaving quoted literals and identifiers alone."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def rowcount(status: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _arg(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


class _PgTx:
    """``Tx`` over one asyncpg connection."""

    dialect = POSTGRES

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(numbered(sql), *map(_arg, args))
        return rowcount(status)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row = await self.conn.fetchrow(numbered(sql), *map(_arg, args))
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(numbered(sql), *map(_arg, args))]


def describe(dsn: str) -> str:
    """Where a DSN points, without user or password: safe to log."""
    try:
        parts = urlsplit(dsn)
        where = parts.hostname or "local socket"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql (unparsable DSN)"
    return f"postgresql {where}{port}{parts.path or '/'}"


def _reason(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    if state:
        return f"{type(exc).__name__} (SQLSTATE {state})"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return type(exc).__name__


class PostgresBackend:
    dialect = POSTGRES

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self.where = describe(dsn)
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    def _unavailable(self, exc: BaseException, doing: str) -> GatewayError:
        reason = _reason(exc)
        log.error("store %s failed on %s: %s", doing, self.where, reason)
        return GatewayError("store-unavailable", f"{self.where}: {reason}")

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        # Durability is not negotiable: a receipt is only sent after a durable commit.
        if await conn.fetchval("SELECT current_setting('synchronous_commit')") == "off":
            await conn.execute("SET synchronous_commit = on")

    async def open(self, migrations: Sequence[tuple[int, str]]) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.min_size, max_size=self.max_size,
                timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                init=self._init_connection)
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                if await conn.fetchval("SELECT current_setting('fsync')") == "off":
                    log.warning("%s runs with fsync=off: a crash of that server can lose "
                                "acknowledged messages", self.where)
                await self._migrate(conn, migrations)
        except UNAVAILABLE as exc:
            await self._terminate()
            raise self._unavailable(exc, "open") from None
        except BaseException:
            await self._terminate()
            raise

    async def _migrate(self, conn: asyncpg.Connection,
                       migrations: Sequence[tuple[int, str]]) -> None:
        async with conn.transaction():
            # Held to the end of this transaction: concurrent starters wait, then see the
            # versions the first one recorded.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK,
                               timeout=MIGRATION_TIMEOUT)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                               "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)")
            done = {r["version"] for r in await conn.fetch("SELECT version FROM "
                                                           "schema_migrations")}
            for version, ddl in migrations:
                if version in done:
                    continue
                # No parameters: the simple query protocol runs several statements at once.
                await conn.execute(ddl.format(blob=POSTGRES.blob, serial=POSTGRES.serial,
                                              chunk_storage=POSTGRES.chunk_storage),
                                   timeout=MIGRATION_TIMEOUT)
                await conn.execute("INSERT INTO schema_migrations (version, applied_at) "
                                   "VALUES ($1, extract(epoch FROM clock_timestamp()))",
                                   version)
                log.info("store migrated to version %d", version)

    def _pool_or_raise(self) -> asyncpg.Pool:
        if self._pool is None or self._pool.is_closing():
            raise GatewayError("store-unavailable", "the store is closed")
        return self._pool

    async def write(self, op: Callable[[Any], Awaitable[T]]) -> T:
        pool = self._pool_or_raise()
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                async with conn.transaction(isolation="read_committed"):
                    return await op(_PgTx(conn))
        except UNAVAILABLE as exc:
            raise self._unavailable(exc, "write") from None

    async def read(self, op: Callable[[Any], Awaitable[T]]) -> T:
        pool = self._pool_or_raise()
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                return await op(_PgTx(conn))
        except UNAVAILABLE as exc:
            raise self._unavailable(exc, "read") from None

    async def _terminate(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("store connections on %s did not close in %.0fs; terminated",
                        self.where, CLOSE_TIMEOUT)
            pool.terminate()
