"""Children watched as "not known but monitoring": one row per child of a received Enquiry that
this authority answered ``not-known-monitoring``, kept until ``watched_until``.

States::

    watching -> found      (a match to a new arrival, waiting for the officer's approval)
             -> possible   (a possible match, in the officer's queue)
    found|possible -> reported   (the updated Reply "now known" is queued)
                   -> watching   (dismissed by the officer, with a reason: the candidate is
                                  remembered and never proposed again)
    watching -> ended      (monitoring ended: the final Reply is queued)

``child`` holds the matcher query built from the enquiry (JSON): names, date of birth, sex,
UPN, and both addresses. It never reaches a log.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Tx, sql_list


class WatchState(enum.StrEnum):
    WATCHING = "watching"
    FOUND = "found"
    POSSIBLE = "possible"
    REPORTED = "reported"
    ENDED = "ended"


W = WatchState
PENDING = (W.FOUND, W.POSSIBLE)


@dataclass(frozen=True)
class WatchRow:
    watch_id: str
    enquiry_id: str
    child_ref: str
    enquirer: str
    conversation_id: str
    case_id: str | None
    created_at: float
    watched_until: str
    until_estimated: int
    state: str
    child: str
    found_source: str | None = None
    found_ref: str | None = None
    found_band: str | None = None
    found_detail: str | None = None
    found_at: float | None = None
    dismissed: str | None = None
    reply_id: str | None = None
    updated_at: float = 0.0

    def query(self) -> dict[str, Any]:
        return dict(json.loads(self.child))

    def dismissed_refs(self) -> set[str]:
        return set(json.loads(self.dismissed)) if self.dismissed else set()

    def found(self) -> dict[str, Any]:
        return dict(json.loads(self.found_detail)) if self.found_detail else {}

    def summary(self) -> dict[str, Any]:
        """The row without the child's details (for listings and logs of ids)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("child", "found_detail", "dismissed")}


class Watches:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, tx: Tx, enquiry_id: str, child_ref: str, enquirer: str,
                  conversation_id: str, case_id: str | None, until: str, estimated: bool,
                  child: dict[str, Any], dismissed: set[str]) -> str:
        """Start (or restart, for a second reply to the same enquiry) watching one child.
        ``dismissed``: candidates never to propose (the records the officer saw and did not
        answer with, the records given as the answer for the child's brothers and sisters)."""
        now = self.clock.time()
        row = await tx.fetchone(
            "INSERT INTO watches (watch_id, enquiry_id, child_ref, enquirer, conversation_id, "
            "case_id, created_at, watched_until, until_estimated, state, child, dismissed, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (enquiry_id, child_ref) DO UPDATE SET watched_until = "
            "excluded.watched_until, until_estimated = excluded.until_estimated, "
            f"state = '{W.WATCHING}', dismissed = excluded.dismissed, found_source = NULL, "
            "found_ref = NULL, found_band = NULL, found_detail = NULL, found_at = NULL, "
            "updated_at = excluded.updated_at RETURNING watch_id",
            str(uuid.uuid4()), enquiry_id, child_ref, enquirer, conversation_id, case_id, now,
            until, int(estimated), W.WATCHING.value, json.dumps(child),
            json.dumps(sorted(dismissed)), now)
        assert row is not None
        return str(row["watch_id"])

    async def get(self, watch_id: str) -> WatchRow | None:
        async def op(tx: Tx) -> WatchRow | None:
            return await self.load(tx, watch_id, missing_ok=True)
        return await self.backend.read(op)

    @staticmethod
    async def load(tx: Tx, watch_id: str, missing_ok: bool = False) -> WatchRow | None:
        row = await tx.fetchone("SELECT * FROM watches WHERE watch_id = ?", watch_id)
        if row is None and not missing_ok:
            raise GatewayError("not-found", f"no watched child {watch_id}")
        return WatchRow(**row) if row else None

    async def listing(self, states: tuple[WatchState, ...] = (), limit: int = 500
                      ) -> list[WatchRow]:
        async def op(tx: Tx) -> list[WatchRow]:
            sql = "SELECT * FROM watches"
            if states:
                sql += f" WHERE state IN ({sql_list([s.value for s in states])})"
            rows = await tx.fetchall(sql + " ORDER BY watched_until, created_at LIMIT ?", limit)
            return [WatchRow(**r) for r in rows]
        return await self.backend.read(op)

    async def active(self) -> list[WatchRow]:
        """Every child still watched (not yet found or ended)."""
        return await self.listing((W.WATCHING,), limit=1_000_000)

    async def set_found(self, watch_id: str, state: WatchState, source: str, ref: str,
                        band: str, detail: dict[str, Any]) -> bool:
        """A new arrival matches a watched child: ``found`` or ``possible``. Only from
        ``watching`` (a child already found stays with its first finding)."""
        async def op(tx: Tx) -> bool:
            n = await tx.execute(
                "UPDATE watches SET state = ?, found_source = ?, found_ref = ?, found_band = ?, "
                "found_detail = ?, found_at = ?, updated_at = ? WHERE watch_id = ? "
                f"AND state = '{W.WATCHING}'", state.value, source, ref, band,
                json.dumps(detail), self.clock.time(), self.clock.time(), watch_id)
            return bool(n)
        return await self.backend.write(op)

    async def move(self, tx: Tx, watch_id: str, frm: tuple[WatchState, ...], to: WatchState,
                   reply_id: str | None = None) -> WatchRow:
        w = await self.load(tx, watch_id)
        assert w is not None
        if w.state not in frm:
            raise GatewayError("watch-state", f"watch {watch_id} is {w.state}; this needs "
                               f"{' or '.join(s.value for s in frm)}")
        dismissed = w.dismissed
        if to is W.WATCHING and w.found_ref:  # dismissed: never propose this candidate again
            refs = w.dismissed_refs() | {f"{w.found_source}:{w.found_ref}"}
            dismissed = json.dumps(sorted(refs))
        clear = to is W.WATCHING
        n = await tx.execute(
            "UPDATE watches SET state = ?, reply_id = COALESCE(?, reply_id), dismissed = ?, "
            "found_source = CASE WHEN ? = 1 THEN NULL ELSE found_source END, "
            "found_ref = CASE WHEN ? = 1 THEN NULL ELSE found_ref END, "
            "found_band = CASE WHEN ? = 1 THEN NULL ELSE found_band END, "
            "found_detail = CASE WHEN ? = 1 THEN NULL ELSE found_detail END, "
            "updated_at = ? WHERE watch_id = ? AND state = ?",
            to.value, reply_id, dismissed, int(clear), int(clear), int(clear), int(clear),
            self.clock.time(), watch_id, w.state)
        if not n:  # another officer (or the worker) moved it meanwhile
            raise GatewayError("watch-state", f"watch {watch_id} changed meanwhile: look again")
        loaded = await self.load(tx, watch_id)
        assert loaded is not None
        return loaded

    @staticmethod
    async def in_conversation(tx: Tx, enquirer: str, conversation_id: str) -> bool:
        row = await tx.fetchone("SELECT 1 AS x FROM watches WHERE enquirer = ? AND "
                                "conversation_id = ? LIMIT 1", enquirer, conversation_id)
        return row is not None

    async def close(self, tx: Tx, watch_id: str, reply_id: str) -> None:
        """The officer answered the child otherwise (known): the watch is over."""
        await tx.execute(
            f"UPDATE watches SET state = '{W.REPORTED}', reply_id = ?, updated_at = ? "
            f"WHERE watch_id = ? AND state IN ({sql_list([W.WATCHING, *PENDING])})",
            reply_id, self.clock.time(), watch_id)

    async def due_to_end(self, today: str) -> list[WatchRow]:
        """Children still watched whose monitoring ended before ``today``."""
        async def op(tx: Tx) -> list[WatchRow]:
            rows = await tx.fetchall(
                f"SELECT * FROM watches WHERE state = '{W.WATCHING}' AND watched_until < ? "
                f"ORDER BY watched_until LIMIT 5000", today)
            return [WatchRow(**r) for r in rows]
        return await self.backend.read(op)

    async def for_enquiry(self, enquiry_id: str) -> list[WatchRow]:
        async def op(tx: Tx) -> list[WatchRow]:
            rows = await tx.fetchall("SELECT * FROM watches WHERE enquiry_id = ? "
                                     "ORDER BY child_ref", enquiry_id)
            return [WatchRow(**r) for r in rows]
        return await self.backend.read(op)
