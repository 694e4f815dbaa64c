"""Where CTF payloads live: one small interface, one implementation per backend.

- SQLite (one host): files in ``ctf_dir``, as always (``FilePayloads``). A reference is the
  file's path.
- PostgreSQL (any number of hosts on one database): rows in the database
  (``DbPayloads``): ``ctf_payloads`` (one row a payload: size, SHA-256, chunk count) and
  ``ctf_payload_chunks`` (the bytes, ``CHUNK`` bytes a row). A reference is
  ``db:<payload id>``. Any host serves any transfer; nothing is shared but the database.

The hub code holds a ``Payloads`` and never asks which backend it has:

1. The upload is spooled to a private temporary file on this host (hashed and counted as it
   arrives, at most ``max_ctf_bytes``) and checked as a stream from there.
2. ``stage(tmp, name, digest, size)`` gives a ``Staged`` payload whose ``ref`` the transfer
   row and any forwarding outbox row name, and whose ``step`` goes into the transaction that
   accepts the transfer. For files, ``stage`` moves the file into place durably before the
   commit (``step`` does nothing); for the database, ``step`` streams the file into chunk rows
   inside that same transaction, hashing it again, and fails the transaction if the bytes are
   not the ones the envelope signs. So on PostgreSQL a payload is visible exactly when its
   transfer is: a crash, a failed commit or a client gone half-way leaves no row behind.
3. ``discard()`` after a commit that did not name this request's payload (it failed, or it
   was a duplicate) removes what ``stage`` left outside the transaction (a file; nothing for
   the database). ``release()`` closes the temporary file once the commit is over.

Reading (``open``) is a stream of chunks of at most ``CHUNK`` bytes: one chunk at a time is
in memory, whatever the payload's size. A reference that is a file path (a CTF received before
the move to PostgreSQL, or a file ``ctf post`` sends) is read from the file on either backend;
``cme-gateway ctf move-to-database`` moves stored files into the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.core.files import file_digest, fsync_dir, store_file
from gateway.store.base import Backend, Row, Tx

CHUNK = 256 * 1024
DB_PREFIX = "db:"


def is_db_ref(ref: str) -> bool:
    return ref.startswith(DB_PREFIX)


class Staged(Protocol):
    """A payload written (or about to be written) for one accepting transaction."""

    ref: str

    async def step(self, tx: Tx) -> None:
        """Add the payload to the accepting transaction (fails it if the bytes are wrong)."""
        ...

    async def discard(self) -> None:
        """This request's commit did not name the payload: remove what it left outside."""
        ...

    def release(self) -> None:
        """The commit is over, whatever its outcome: close what ``stage`` opened."""
        ...


class Payloads(Protocol):
    where: str  # "files" | "database": for the operator (logs, docs), never for branching

    def ref(self, name: str) -> str:
        """The reference ``stage(tmp, name, ...)`` will give (for rows made before it)."""
        ...

    async def stage(self, tmp: Path, name: str, digest: str, size: int) -> Staged: ...

    async def open(self, ref: str) -> Opened:
        """The payload's size and its bytes, ``CHUNK`` at a time. Raises
        ``ctf-payload-missing`` when it is not there."""
        ...

    async def export(self, ref: str, target: Path) -> None:
        """Write the payload to ``target`` atomically (temporary file, fsync, rename)."""
        ...

    async def delete(self, ref: str) -> None:
        """Remove a stored payload (its file, or its rows and every chunk)."""
        ...

    async def not_shared(self) -> int:
        """How many stored transfers only this host can serve (files, on a store that keeps
        payloads in the database: ``cme-gateway ctf move-to-database`` moves them)."""
        ...


def missing(ref: str) -> GatewayError:
    # A file reference is a path on this host: name only its file name, not its folder.
    shown = ref if is_db_ref(ref) else os.path.basename(ref)
    return GatewayError("ctf-payload-missing", shown)


class Opened:
    """A stored payload being read: ``size`` in bytes, and ``async for chunk in opened``
    (each chunk at most ``CHUNK`` bytes; one at a time in memory). Read it once; ``aclose``
    when done, read to the end or not."""

    def __init__(self, size: int, chunks: AsyncGenerator[bytes, None],
                 close: Callable[[], object] | None = None) -> None:
        self.size = size
        self._chunks = chunks
        self._close = close

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        await self._chunks.aclose()
        if self._close is not None:  # a generator never started runs no finally
            await asyncio.to_thread(self._close)


async def open_file(path: Path | str) -> Opened:
    """A file as an ``Opened`` payload, read off the event loop."""
    try:
        fh = await asyncio.to_thread(open, path, "rb")
    except (FileNotFoundError, IsADirectoryError):
        raise missing(str(path)) from None
    size = (await asyncio.to_thread(os.fstat, fh.fileno())).st_size

    async def chunks() -> AsyncGenerator[bytes, None]:
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(fh.close)

    return Opened(size, chunks(), fh.close)


async def write_atomically(target: Path, opened: Opened) -> None:
    """``opened`` into ``target``: a temporary file beside it, fsynced, renamed."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        fh = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in opened:
                await asyncio.to_thread(fh.write, chunk)
            await asyncio.to_thread(fh.flush)
            await asyncio.to_thread(os.fsync, fh.fileno())
        finally:
            await asyncio.to_thread(fh.close)
        await asyncio.to_thread(os.replace, tmp, target)
    except BaseException:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
        raise
    finally:
        await opened.aclose()
    await asyncio.to_thread(fsync_dir, target.parent)


# ---- files (SQLite) ------------------------------------------------------------------------

class _StagedFile:
    def __init__(self, path: Path) -> None:
        self.ref = str(path)
        self.path = path

    async def step(self, tx: Tx) -> None:
        return None  # the file is in place before the commit

    async def discard(self) -> None:
        await asyncio.to_thread(self.path.unlink, missing_ok=True)

    def release(self) -> None:
        return None


class FilePayloads:
    """One file a payload in ``folder``, named by the caller (transfer id and envelope
    digest, so that two attempts at one transfer never share a file)."""

    where = "files"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ref(self, name: str) -> str:
        return str(self.folder / name)

    async def stage(self, tmp: Path, name: str, digest: str, size: int) -> Staged:
        # The same promise as the database's: only the bytes the envelope signs are stored.
        if await asyncio.to_thread(file_digest, tmp) != (digest, size):
            raise GatewayError("payload-mismatch", f"payload {name} changed on this host "
                               "before it was stored")
        final = self.folder / name
        await asyncio.to_thread(store_file, tmp, final)
        return _StagedFile(final)

    async def open(self, ref: str) -> Opened:
        if is_db_ref(ref):
            raise GatewayError("ctf-payload-missing",
                               f"{ref} is in a PostgreSQL store; this gateway uses SQLite")
        return await open_file(ref)

    async def export(self, ref: str, target: Path) -> None:
        await write_atomically(target, await self.open(ref))

    async def delete(self, ref: str) -> None:
        if not is_db_ref(ref):
            await asyncio.to_thread(Path(ref).unlink, missing_ok=True)

    async def not_shared(self) -> int:
        return 0  # one host: files are where payloads belong


# ---- rows (PostgreSQL) ---------------------------------------------------------------------

async def insert_chunks(tx: Tx, payload_id: str, fh: BinaryIO, digest: str, size: int,
                        now: float) -> None:
    """Stream an open file into ``payload_id``'s rows inside ``tx``, one chunk in memory at a
    time; ``payload-mismatch`` (the transaction then rolls back) unless its SHA-256 and size
    are ``digest`` and ``size``."""
    await tx.execute("INSERT INTO ctf_payloads (payload_id, size_bytes, digest, chunks, "
                     "created_at) VALUES (?, ?, ?, ?, ?)", payload_id, size, digest,
                     -(-size // CHUNK), now)
    h = hashlib.sha256()
    seen = seq = 0
    while chunk := await asyncio.to_thread(fh.read, CHUNK):
        seen += len(chunk)
        if seen > size:
            break
        h.update(chunk)
        await tx.execute("INSERT INTO ctf_payload_chunks (payload_id, seq, data) "
                         "VALUES (?, ?, ?)", payload_id, seq, chunk)
        seq += 1
    if seen != size or h.hexdigest() != digest:
        raise GatewayError("payload-mismatch", f"payload {payload_id} changed on this host "
                           "before it was stored")


class _StagedRows:
    def __init__(self, payload_id: str, fh: BinaryIO, digest: str, size: int,
                 now: float) -> None:
        self.ref = DB_PREFIX + payload_id
        self.payload_id = payload_id
        self.fh = fh  # open already: the rows are written from it even once tmp is unlinked
        self.digest = digest
        self.size = size
        self.now = now

    async def step(self, tx: Tx) -> None:
        await asyncio.to_thread(self.fh.seek, 0)
        await insert_chunks(tx, self.payload_id, self.fh, self.digest, self.size, self.now)

    async def discard(self) -> None:
        return None  # the rows were written in the transaction that did not commit

    def release(self) -> None:
        self.fh.close()


class DbPayloads:
    """Payloads as chunk rows in the store's own database."""

    where = "database"

    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    def ref(self, name: str) -> str:
        return DB_PREFIX + name

    async def stage(self, tmp: Path, name: str, digest: str, size: int) -> Staged:
        fh = await asyncio.to_thread(open, tmp, "rb")
        return _StagedRows(name, fh, digest, size, self.clock.time())

    async def open(self, ref: str) -> Opened:
        if not is_db_ref(ref):
            return await open_file(ref)  # a file not yet moved into the database, ctf post's
        payload_id = ref[len(DB_PREFIX):]

        async def head(tx: Tx) -> Row | None:
            return await tx.fetchone("SELECT size_bytes, chunks FROM ctf_payloads "
                                     "WHERE payload_id = ?", payload_id)

        found = await self.backend.read(head)
        if found is None:
            raise missing(ref)
        return Opened(int(found["size_bytes"]), self._rows(payload_id, int(found["chunks"])))

    async def _rows(self, payload_id: str, n: int) -> AsyncGenerator[bytes, None]:
        for seq in range(n):
            async def one(tx: Tx, seq: int = seq) -> bytes | None:
                row = await tx.fetchone("SELECT data FROM ctf_payload_chunks "
                                        "WHERE payload_id = ? AND seq = ?", payload_id, seq)
                return bytes(row["data"]) if row else None

            chunk = await self.backend.read(one)
            if chunk is None:  # deleted while it was being read
                raise missing(DB_PREFIX + payload_id)
            yield chunk

    async def export(self, ref: str, target: Path) -> None:
        await write_atomically(target, await self.open(ref))

    async def delete(self, ref: str) -> None:
        if not is_db_ref(ref):
            await asyncio.to_thread(Path(ref).unlink, missing_ok=True)
            return
        payload_id = ref[len(DB_PREFIX):]

        async def op(tx: Tx) -> None:
            await delete_rows(tx, payload_id)
        await self.backend.write(op)

    async def not_shared(self) -> int:
        async def op(tx: Tx) -> int:
            row = await tx.fetchone("SELECT COUNT(*) AS n FROM transfers "
                                    "WHERE path NOT LIKE 'db:%'")
            return int(row["n"]) if row else 0
        return await self.backend.read(op)


async def delete_rows(tx: Tx, payload_id: str) -> None:
    await tx.execute("DELETE FROM ctf_payload_chunks WHERE payload_id = ?", payload_id)
    await tx.execute("DELETE FROM ctf_payloads WHERE payload_id = ?", payload_id)


# ---- moving files into the database (``cme-gateway ctf move-to-database``) -----------------

async def move_files_into_database(payloads: DbPayloads, *, remove: bool = True,
                                   max_bytes: int | None = None) -> dict[str, list[str]]:
    """Move every stored CTF that is still a file on this host into the database: per
    transfer one transaction streams the file into chunk rows (checking its SHA-256 and size
    against the transfer row), points the transfer and any outbox row that sends it at the
    rows, and commits; then the file is removed (unless ``remove`` is false). Safe to run
    again, and on several hosts at once (each moves the files it has; a transfer another host
    moved first is left alone). Returns transfer ids by outcome: moved, missing (not on this host),
    mismatched (the file is not the bytes received), too-large (over ``max_bytes``)."""
    backend = payloads.backend
    out: dict[str, list[str]] = {"moved": [], "missing": [], "mismatched": [],
                                 "too-large": []}

    async def files(tx: Tx) -> list[Row]:
        return await tx.fetchall("SELECT transfer_id, path, digest, size_bytes FROM transfers "
                                 "WHERE path NOT LIKE 'db:%' ORDER BY received_at")

    for row in await backend.read(files):
        tid, path = row["transfer_id"], Path(row["path"])
        size, digest = int(row["size_bytes"]), row["digest"]
        if max_bytes is not None and size > max_bytes:
            out["too-large"].append(tid)
            continue
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            out["missing"].append(tid)
            continue
        ref = payloads.ref(path.name)

        async def op(tx: Tx, tid: str = tid, old: str = str(path), fh: BinaryIO = fh,
                     ref: str = ref, digest: str = digest, size: int = size) -> bool:
            if await tx.execute("UPDATE transfers SET path = ? WHERE transfer_id = ? "
                                "AND path = ?", ref, tid, old) != 1:
                return False  # moved meanwhile (another host, another run)
            await insert_chunks(tx, ref[len(DB_PREFIX):], fh, digest, size,
                                payloads.clock.time())
            await tx.execute("UPDATE outbound SET payload_path = ? WHERE payload_path = ?",
                             ref, old)
            return True

        try:
            done = await backend.write(op)
        except GatewayError as exc:
            if exc.code != "payload-mismatch":
                raise
            out["mismatched"].append(tid)
            continue
        finally:
            await asyncio.to_thread(fh.close)
        if done:
            out["moved"].append(tid)
            if remove:
                await asyncio.to_thread(path.unlink, missing_ok=True)
    return out
