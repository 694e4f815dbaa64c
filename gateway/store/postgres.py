"""PostgreSQL backend (asyncpg): one database shared by any number of gateway processes.

- ``write(op)`` runs the store operation on a pool connection inside one READ COMMITTED
  transaction. A COMMIT returns only when the WAL is flushed (``synchronous_commit`` on; a
  connection that finds it ``off`` turns it back on for itself), so a message acknowledged
  after ``write()`` returns survives a crash of the database server.
- ``write(op, group=True)`` (the inbound path's accept: short operations, many at once)
  shares one transaction, one COMMIT and one WAL flush with the other grouped operations
  waiting, as the SQLite writer does. Each caller is answered only after that COMMIT (and
  only if COMMIT's answer is COMMIT). An operation that fails takes nothing with it: the
  transaction is rolled back and the group runs once more with a SAVEPOINT per operation,
  so the failed one answers its caller with its error and the others commit (a grouped
  operation must be a function of the database alone: it may run twice). Why not a
  SAVEPOINT each from the start: two more round trips each, where the common case (nothing
  fails) needs none. Operations go in the order of their partner, so two processes'
  groups take the partners' clock rows in one order (and, within a partner, go by message
  id, so a resend crossing its original inserts the two rows in one order too); they can
  still deadlock on other rows (a handler's case or watch rows), and an operation that
  meets a deadlock, or waits past ``GROUP_LOCK_TIMEOUT_MS`` for a lock, is run alone after
  the group with the rest of its partner's, one at a time. PostgreSQL's
  own grouping of concurrent commits needs them to be concurrent, and the pool's ten
  connections and the round trips per transaction held that to a few hundred messages a
  second here (bench/README.md).
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
from gateway.store.migrations import refuse_newer

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
# A grouped operation waiting longer than this for a row lock (another transaction holds
# its partner's row: a CTF's long commit) is run alone after the group, not waited for.
GROUP_LOCK_TIMEOUT_MS = 2000
# SQLSTATEs after which a grouped operation is run alone: a deadlock, a serialization
# failure, a lock not available in time.
_RUN_ALONE = frozenset({"40P01", "40001", "55P03"})

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
        self._waiting: list[tuple[Op, asyncio.Future[Any], str, str]] = []
        self._grouper: asyncio.Task[None] | None = None
        # Grouped writes run alone (after a deadlock or a long lock wait), per partner.
        self._alone: dict[str, asyncio.Task[None]] = {}
        self._alone_queue: dict[str, list[tuple[Op, asyncio.Future[Any]]]] = {}

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
                init=self._init_connection,
                # Sent when each connection starts, so it is the session's default and
                # survives the RESET ALL the pool runs whenever a connection is given back
                # (a SET in ``_init_connection`` did not: review p3).
                server_settings={"synchronous_commit": "on"})
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
            refuse_newer(done, list(migrations))
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

    async def write(self, op: Callable[[Any], Awaitable[T]], *, group: bool = False,
                    key: str = "", order: str = "") -> T:
        pool = self._pool_or_raise()
        if group:
            fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._waiting.append((op, fut, key, order))
            if self._grouper is None or self._grouper.done():
                self._grouper = asyncio.create_task(self._run_groups(), name="pg-group")
            return await fut
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                # BEGIN and COMMIT by hand, to read COMMIT's tag (see ``_try_group``).
                await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                try:
                    result = await op(_PgTx(conn))
                except BaseException:
                    if not conn.is_closed():
                        with contextlib.suppress(*UNAVAILABLE):
                            await conn.execute("ROLLBACK")
                    raise
                status = await conn.execute("COMMIT")
                if status != "COMMIT":
                    raise asyncpg.InterfaceError(f"COMMIT answered {status!r}")
                return result
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
                for _, fut, *_ in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            except BaseException:  # cancelled (the loop is ending): nobody is left waiting
                batch, self._waiting = batch + self._waiting, []
                for _, fut, *_ in batch:
                    if not fut.done():
                        fut.set_exception(GatewayError("store-unavailable", "the store is "
                                                       "closing"))
                raise

    async def _commit_group(self, batch: list[tuple[Op, asyncio.Future[Any], str, str]]
                            ) -> None:
        """Run a batch in one transaction: first plainly; if any operation fails, once more
        with a savepoint each (so each runs at most twice, and a failure is its own). The
        operations go in the order of their keys (the sender), so two processes' groups
        take the partners' clock rows in one order. One that still meets a deadlock or
        waits past ``GROUP_LOCK_TIMEOUT_MS`` for a lock (another transaction holds its
        partner's row: a CTF's long commit) is run alone afterwards with the rest of its
        partner's, one at a time, without holding up the other partners."""
        orders = {id(fut): order for _, fut, _, order in batch}
        # (By partner, then by message id: a resend crossing its original in another
        # process then inserts the two rows in the same order there too.)
        live = sorted(((op, fut, key) for op, fut, key, _ in batch if not fut.cancelled()),
                      key=lambda item: (item[2], orders[id(item[1])]))
        alone: list[tuple[Op, asyncio.Future[Any], str]] = []
        error: GatewayError | None = None
        try:
            pool = self._pool_or_raise()
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                outcomes = await self._try_group(conn, live, savepoints=False)
                if isinstance(outcomes, int):  # that one failed: the rest with savepoints
                    if outcomes < 0:  # a lock it waited for: its partner's ops go alone,
                        key = live[-outcomes - 1][2]  # not to be waited for again each
                        alone.extend(item for item in live if item[2] == key)
                        live = [item for item in live if item[2] != key]
                    outcomes = await self._try_group(conn, live, savepoints=True)
                    assert not isinstance(outcomes, int)
            for (op, fut, key), (kind, value) in zip(live, outcomes, strict=True):
                if kind == "alone":
                    alone.append((op, fut, key))
                elif fut.done():
                    continue
                elif kind == "ok":
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        except UNAVAILABLE as exc:
            error = self._unavailable(exc, "write")
        except GatewayError as exc:  # the store closed meanwhile
            error = exc
        if error is not None:
            # One error per operation: each request marks its own (GatewayError.answering).
            for _, fut, _ in [*live, *alone]:
                if not fut.done():
                    fut.set_exception(GatewayError(error.code, error.detail))
            return
        # Each in its own transaction, waiting for its locks, while the next group goes
        # on: one partner's at a time, in order, on one connection per partner at most
        # (a partner's burst must not take the pool).
        for op, fut, key in alone:
            self._alone_queue.setdefault(key, []).append((op, fut))
            if key not in self._alone:
                task = asyncio.create_task(self._write_alone(key), name="pg-alone")
                self._alone[key] = task
                task.add_done_callback(functools.partial(self._alone_done, key))

    def _alone_done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._alone.pop(key, None)

    async def _write_alone(self, key: str) -> None:
        queue = self._alone_queue
        while queue.get(key):
            op, fut = queue[key].pop(0)
            if fut.done():
                continue
            try:
                result = await self.write(op)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            except BaseException:  # cancelled: answer what is left, then stop
                for _, left in [(op, fut), *queue.pop(key, [])]:
                    if not left.done():
                        left.set_exception(GatewayError("store-unavailable",
                                                        "the store is closing"))
                raise
            else:
                if not fut.done():
                    fut.set_result(result)
        queue.pop(key, None)

    async def _try_group(self, conn: asyncpg.Connection,
                         ops: list[tuple[Op, Any, str]], *, savepoints: bool
                         ) -> list[tuple[str, Any]] | int:
        """Run ``ops`` in one transaction and commit it. Each outcome is ("ok", result),
        ("error", exception) or ("alone", None) (to run alone: a deadlock or a lock wait
        past GROUP_LOCK_TIMEOUT_MS). Without ``savepoints``, when an operation fails
        everything is rolled back and its index is returned (as -index - 1 when it is one
        to run alone). A failure of the connection, or a COMMIT that did not commit, is
        raised: it is every operation's."""
        tx = _PgTx(conn)
        outcomes: list[tuple[str, Any]] = []
        alone_keys: set[str] = set()
        # BEGIN and COMMIT by hand, to read COMMIT's tag: a transaction an operation left
        # aborted (a failed statement it caught) answers COMMIT with ROLLBACK and no error,
        # and nothing it holds may then be answered as stored.
        await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        try:
            await conn.execute(f"SET LOCAL lock_timeout = '{GROUP_LOCK_TIMEOUT_MS}ms'")
            for index, (op, _, key) in enumerate(ops):
                if savepoints and key in alone_keys:  # its partner's row is held elsewhere
                    outcomes.append(("alone", None))
                    continue
                if savepoints:
                    await conn.execute("SAVEPOINT grouped")
                try:
                    result = await op(tx)
                    if savepoints:  # (an op that left the transaction aborted fails here)
                        await conn.execute("RELEASE SAVEPOINT grouped")
                except asyncio.CancelledError as exc:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # the grouper itself is being cancelled
                    failure: Exception = GatewayError("store-unavailable",
                                                      f"operation cancelled ({exc})")
                    if not savepoints:
                        await conn.execute("ROLLBACK")
                        return index
                    await conn.execute("ROLLBACK TO SAVEPOINT grouped")
                    outcomes.append(("error", failure))
                    continue
                except Exception as exc:
                    if isinstance(exc, UNAVAILABLE) and not isinstance(
                            exc, (asyncpg.PostgresError, TimeoutError)):
                        raise  # the connection, not the operation
                    if conn.is_closed():
                        raise
                    run_alone = getattr(exc, "sqlstate", None) in _RUN_ALONE
                    if not savepoints:
                        await conn.execute("ROLLBACK")
                        return -index - 1 if run_alone else index
                    await conn.execute("ROLLBACK TO SAVEPOINT grouped")
                    if run_alone:
                        alone_keys.add(key)
                        outcomes.append(("alone", None))
                    elif isinstance(exc, (asyncpg.PostgresError, TimeoutError)):
                        outcomes.append(("error", self._unavailable(exc, "write")))
                    else:  # the operation's own refusal
                        outcomes.append(("error", exc))
                    continue
                outcomes.append(("ok", result))
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(*UNAVAILABLE):
                    await conn.execute("ROLLBACK")
            raise
        status = await conn.execute("COMMIT")
        if status != "COMMIT":
            if not savepoints:  # an op left it aborted: the savepoints will say which
                return 0
            raise asyncpg.InterfaceError(f"the group's COMMIT answered {status!r}")
        return outcomes

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
        if self._alone:
            await asyncio.wait(list(self._alone.values()), timeout=CLOSE_TIMEOUT)
