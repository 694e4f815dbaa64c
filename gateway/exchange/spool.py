"""Spool folders: the way in and out for back-office systems with no API (as MESH and
eDelivery's file-system plugin work).

- ``outbox/``: drop an unsigned, schema-valid message (``*.xml``). It is validated, signed and
  queued, and moved to ``outbox/queued/``; when its delivery ends it moves to ``outbox/sent/``
  or ``outbox/failed/`` with a ``<name>.reason`` file. A file that cannot be queued goes
  straight to ``failed/`` with its reason.
- ``inbox/``: every accepted inbound message is written as ``<message-id>.xml`` (the exact
  bytes received, signature included).

The database is the source of truth; files are written atomically (temporary file, fsync,
rename) and both directions are re-driven from the database after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gateway.core.clock import every
from gateway.core.errors import GatewayError
from gateway.core.files import atomic_write, atomic_write_many
from gateway.core.logsafe import failure
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import dated, queue
from gateway.messages.load import Limits, load_unsigned
from gateway.store.outbox import DELIVERED_STATES

log = logging.getLogger(__name__)


def _free_name(folder: Path, name: str, suffix: str) -> Path:
    target = folder / name
    return target if not target.exists() else folder / f"{name}.{suffix}"


def _move(src: Path, folder: Path, name: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, name, suffix)
    os.replace(src, target)
    return target


class Spool:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.inbox = gw.settings.path(gw.settings.inbox_dir)
        self.outbox = gw.settings.path(gw.settings.outbox_dir)

    async def run(self) -> None:
        await every(lambda: self.gw.settings.spool_poll_seconds, self.tick, "spool",
                    self.gw.clock)

    async def tick(self) -> None:
        # Each step on its own: one failing (a full disk, a missing file) must not stop the
        # others.
        for step in (self.write_inbox, self.write_held, self.pick_up, self.finish):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("spool step %s failed; retrying next tick: %s", step.__name__,
                          failure(exc))

    async def write_inbox(self) -> int:
        rows = await self.gw.store.inbox.unspooled()
        if rows:  # one thread hop and one fsync of the folder for the whole batch
            await asyncio.to_thread(atomic_write_many, [
                (self.inbox / f"{row.message_id}.xml", row.body) for row in rows])
            await self.gw.store.inbox.mark_spooled([r.message_id for r in rows])
        return len(rows)

    async def write_held(self) -> int:
        """CTFs held for a school: ``inbox/<LAESTAB>/<transfer id>.xml``, byte for byte."""
        rows = await self.gw.store.transfers.unspooled_held()
        for row in rows:
            target = self.inbox / str(row.for_school) / f"{row.transfer_id}.xml"
            try:
                await self.gw.store.payloads.export(row.path, target)
            except GatewayError as exc:
                if exc.code != "ctf-payload-missing":
                    raise
                log.error("held CTF transfer=%s: its stored payload is missing",
                          row.transfer_id)
                continue
            await self.gw.store.transfers.mark_spooled(row.transfer_id)
        return len(rows)

    def _candidates(self) -> list[Path]:
        if not self.outbox.is_dir():
            return []
        return sorted(p for p in self.outbox.iterdir()
                      if p.is_file() and p.suffix == ".xml" and not p.name.startswith("."))

    async def pick_up(self) -> int:
        n = 0
        for path in await asyncio.to_thread(self._candidates):
            n += 1
            try:
                await self._queue_file(path)
            except GatewayError as exc:
                # not the file's name: a back office may name files after the child
                log.warning("an outbox file was rejected (%s); moved to failed/", exc.code)
                await asyncio.to_thread(self._fail_file, path, exc.line())
        return n

    async def _queue_file(self, path: Path) -> None:
        limits = Limits.of(self.gw.settings)
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > limits.max_bytes:
            raise GatewayError("body-too-large", f"{size} bytes")
        message = load_unsigned(await asyncio.to_thread(path.read_bytes), limits)
        mid = message.header.message_id
        existing = await self.gw.store.outbox.get(mid)
        if existing is None or existing.spool_name != path.name:
            # (existing with this spool name = queued before a crash, but not yet moved)
            await queue(self.gw, dated(self.gw, message), spool_name=path.name,
                        validate=False)
        await asyncio.to_thread(_move, path, self.outbox / "queued", f"{mid}__{path.name}", mid)

    def _fail_file(self, path: Path, reason: str) -> None:
        """Move a file that could not be queued to ``failed/`` beside its reason. Each
        rejected file keeps its own copy and reason: a name already there (an earlier
        rejected file of the same name) gets the next free ``.N`` suffix."""
        folder = self.outbox / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        n = 0
        while target.exists() or target.with_name(target.name + ".reason").exists():
            n += 1
            target = folder / f"{path.name}.{n}"
        os.replace(path, target)
        atomic_write(target.with_name(target.name + ".reason"), (reason + "\n").encode())

    async def finish(self) -> int:
        rows = await self.gw.store.outbox.spool_pending()
        for row in rows:
            assert row.spool_name is not None
            src = self.outbox / "queued" / f"{row.message_id}__{row.spool_name}"
            ok = row.state in DELIVERED_STATES
            reason = (f"{row.state} {row.message_id}" if ok else
                      f"{row.state} {row.message_id}: {row.error_code}: {row.last_error}")
            await asyncio.to_thread(self._finish_file, src, row.spool_name, row.message_id, ok,
                                    reason)
            await self.gw.store.outbox.mark_spool_done(row.message_id)
        return len(rows)

    def _finish_file(self, src: Path, name: str, mid: str, ok: bool, reason: str) -> None:
        folder = self.outbox / ("sent" if ok else "failed")
        if src.exists():
            target = _move(src, folder, name, mid)
        else:  # moved before a crash; only the reason file may be missing
            target = _free_name(folder, name, mid)
        if not ok:
            atomic_write(target.with_name(target.name + ".reason"), (reason + "\n").encode())


