"""PostgreSQL backend (asyncpg): one database shared by any number of gateway processes.

- ``write(op)`` runs the store operation on a pool connection inside one READ COMMITTED
  transaction. A COMMIT returns only when the WAL is flushed (``synchronous_commit`` on; a
  connection that finds it ``off`` turns it back on for itself), so a message acknowledged
  after ``write()`` returns survives a crash of the database server.
- ``write(op, group=True)`` (the inbound path's accept: short operations, many at once)
  shares one transaction, one COMMIT and one WAL flush with the other grouped operations
  waiting, as the SQLite writer does. Each caller is answered only after that COMMIT. An
  operation that fails takes nothing with it: the transaction is rolled back, the failed
  operation answers its caller with its error, and the others run again, without it, in a
  new transaction (so a grouped operation must be a function of the database alone: run
  twice, it does the same). Why not a SAVEPOINT per operation: two more round trips each,
  where the common case (nothing fails) needs none. PostgreSQL's own grouping of concurrent
  commits needs them to be concurrent, and the pool's ten connections and the round trips
  per transaction held that to a few hundred messages a second here (bench/README.md).
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
import contextlib
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
Op = Callable[[Any], Awaitable[Any]]

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
MAX_BATCH = 256  # grouped operations in one transaction at most

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
        self._waiting: list[tuple[Op, asyncio.Future[Any]]] = []
        self._grouper: asyncio.Task[None] | None = None

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

    async def write(self, op: Callable[[Any], Awaitable[T]], *, group: bool = False) -> T:
        pool = self._pool_or_raise()
        if group:
            fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._waiting.append((op, fut))
            if self._grouper is None or self._grouper.done():
                self._grouper = asyncio.create_task(self._run_groups(), name="pg-group")
            return await fut
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                async with conn.transaction(isolation="read_committed"):
                    return await op(_PgTx(conn))
        except UNAVAILABLE as exc:
            raise self._unavailable(exc, "write") from None

    async def _run_groups(self) -> None:
        """Commit what is waiting, a batch at a time, until nothing is: the operations that
        arrive while one batch commits make the next."""
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await self._commit_group(batch)
            except Exception as exc:  # a bug: its batch is told, the next batch goes on
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            except BaseException:  # cancelled (the loop is ending): nobody is left waiting
                batch, self._waiting = batch + self._waiting, []
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(GatewayError("store-unavailable", "the store is "
                                                       "closing"))
                raise

    async def _commit_group(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        live = [(op, fut) for op, fut in batch if not fut.cancelled()]
        try:
            pool = self._pool_or_raise()
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                while live:
                    results, failed = await self._try_group(conn, live)
                    if failed is None:
                        for (_, fut), result in zip(live, results, strict=True):
                            if not fut.done():
                                fut.set_result(result)
                        return
                    index, refusal = failed  # rolled back: answer it, the rest run again
                    fut = live.pop(index)[1]
                    if not fut.done():
                        fut.set_exception(refusal)
        except UNAVAILABLE as exc:
            error = self._unavailable(exc, "write")
        except GatewayError as exc:  # the store closed meanwhile
            error = exc
        # One error per operation: each request marks its own (GatewayError.answering).
        for _, fut in live:
            if not fut.done():
                fut.set_exception(GatewayError(error.code, error.text))

    async def _try_group(self, conn: asyncpg.Connection, ops: list[tuple[Op, Any]]
                         ) -> tuple[list[Any], tuple[int, Exception] | None]:
        """Run ``ops`` in one transaction: their results once it is committed, or the first
        one that failed (its index and error) once it is rolled back. A failure of the
        connection or of the COMMIT itself is raised (it is every operation's)."""
        tx = _PgTx(conn)
        results: list[Any] = []
        transaction = conn.transaction(isolation="read_committed")
        await transaction.start()
        try:
            for i, (op, _) in enumerate(ops):
                try:
                    results.append(await op(tx))
                except asyncpg.PostgresError as exc:  # this operation's statement failed
                    await transaction.rollback()
                    return [], (i, self._unavailable(exc, "write"))
                except UNAVAILABLE:
                    raise  # the connection, not the operation
                except Exception as exc:  # the operation's own refusal
                    await transaction.rollback()
                    return [], (i, exc)
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(*UNAVAILABLE):
                    await transaction.rollback()
            raise
        await transaction.commit()
        return results, None

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
        if self._grouper is not None:  # what still waits is answered store-unavailable
            await asyncio.wait([self._grouper], timeout=CLOSE_TIMEOUT)
