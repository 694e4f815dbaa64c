"""SQLite backend: one file in WAL mode, one writer connection with group commit.

Durability: ``synchronous=FULL`` makes every COMMIT fsync the WAL before it returns, so a
message acknowledged after ``write()`` returns survives a crash or power loss. Fsync is the
cost that matters, so concurrent writes are grouped: the single writer task takes every
operation waiting in its queue, runs each under its own SAVEPOINT (one failing operation
never affects the others), and commits them with one fsync. This is the pattern datasette
and most SQLite servers use: one owner of the write connection, ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..errors import GatewayError
from .base import Dialect, Row

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 256

SQLITE = Dialect(name="sqlite", blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT",
                 skip_locked="")


class _SqliteTx:
    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        cur = await self.conn.execute(sql, args)
        n = cur.rowcount
        await cur.close()
        return n

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        async with self.conn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        async with self.conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [dict(r) for r in rows]


class SqliteBackend:
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[Callable[[Any], Awaitable[Any]], asyncio.Future[Any]]
                                   | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA busy_timeout = 15000")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def open(self, migrations: Sequence[tuple[int, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        mode = await (await self._writer.execute("PRAGMA journal_mode = WAL")).fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise GatewayError("store-unavailable", "SQLite could not switch to WAL mode")
        await self._writer.execute("PRAGMA synchronous = FULL")
        await self._migrate(migrations)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only = ON")
        self._task = asyncio.create_task(self._run_writer(), name="sqlite-writer")

    async def _migrate(self, migrations: Sequence[tuple[int, str]]) -> None:
        assert self._writer is not None
        tx = _SqliteTx(self._writer)
        await self._writer.execute("BEGIN IMMEDIATE")
        try:
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)")
            done = {r["version"] for r in await tx.fetchall("SELECT version FROM "
                                                             "schema_migrations")}
            for version, ddl in migrations:
                if version in done:
                    continue
                for stmt in _statements(ddl.format(blob=SQLITE.blob, serial=SQLITE.serial)):
                    await tx.execute(stmt)
                await tx.execute("INSERT INTO schema_migrations VALUES (?, strftime('%s','now'))",
                                 version)
                log.info("store migrated to version %d", version)
            await self._writer.commit()
        except BaseException:
            await self._writer.rollback()
            raise

    async def _run_writer(self) -> None:
        assert self._writer is not None
        conn = self._writer
        tx = _SqliteTx(conn)
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    self._queue.put_nowait(None)
                    break
                batch.append(nxt)
            outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                await conn.execute("BEGIN IMMEDIATE")
                for op, fut in batch:
                    await conn.execute("SAVEPOINT op")
                    try:
                        result = await op(tx)
                    except Exception as exc:  # one op's failure stays with that op
                        await conn.execute("ROLLBACK TO op")
                        await conn.execute("RELEASE op")
                        outcomes.append((fut, None, exc))
                    else:
                        await conn.execute("RELEASE op")
                        outcomes.append((fut, result, None))
                await conn.commit()
            except Exception as exc:
                log.error("store commit failed for a batch of %d: %s", len(batch), exc)
                try:
                    await conn.rollback()
                except Exception:  # noqa: BLE001 - the connection may be gone already
                    log.exception("rollback after a failed commit also failed")
                err = GatewayError("store-unavailable", type(exc).__name__)
                outcomes = [(fut, None, err) for _, fut in batch]
            for fut, result, error in outcomes:
                if fut.done():
                    continue
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(result)

    async def write(self, op: Callable[[Any], Awaitable[T]]) -> T:
        if self._task is None or self._task.done():
            raise GatewayError("store-unavailable", "the store is closed")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, fut))
        return await fut

    async def read(self, op: Callable[[Any], Awaitable[T]]) -> T:
        if self._reader is None:
            raise GatewayError("store-unavailable", "the store is closed")
        return await op(_SqliteTx(self._reader))

    async def close(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None


def _statements(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]
