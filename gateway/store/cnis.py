"""The Children Not in School register: one row per entry with its current version, and every
version kept in ``cnis_versions`` with who, when, what and why (the full history s.436C's
maintenance duty implies). The entry itself is kept as JSON (the register's fields, as in
``messages.model.RegisterEntry``); names and date of birth are also columns, for listing.

States: ``draft`` (received from another LA, to be checked) -> ``active``; ``active`` ->
``transferred`` (the family moved: the entry went to the new LA) or ``closed`` (no longer
eligible: on a school roll, moved abroad, past compulsory school age).

Names are found by ``search_key``: forename and surname casefolded with accents folded
(``fold``), kept on every write, so "zak" and "ŻAK" find Żak on SQLite and PostgreSQL alike
(SQL's LOWER() folds only ASCII on SQLite).
"""

from __future__ import annotations

import enum
import json
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.core.clock import SYSTEM, Clock
from gateway.core.errors import GatewayError
from gateway.store.base import Backend, Tx, sql_list


class EntryState(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    TRANSFERRED = "transferred"
    CLOSED = "closed"


E = EntryState
OPEN = (E.DRAFT, E.ACTIVE)

# Latin letters NFKD does not take apart (no combining mark to drop): folded by hand so that
# an officer without a Polish or Danish keyboard finds "Łukasz" as "lukasz".
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae",
                          "œ": "oe", "þ": "th", "ŀ": "l"})


def fold(text: str) -> str:
    """A name as it is searched: casefolded, accents folded (NFKD without combining marks),
    invisible format characters dropped, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed
                   if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return " ".join(kept.casefold().translate(_LETTERS).split())


def search_key(entry: dict[str, Any]) -> str:
    return f"{fold(entry['forename'])} {fold(entry['surname'])}"


def _unsearchable(text: str) -> bool:
    """A control character (NUL...) or a lone surrogate: no name holds one (no message could
    carry it), and PostgreSQL cannot even be asked about a NUL."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


@dataclass(frozen=True)
class EntryRow:
    entry_id: str
    state: str
    version: int
    entry: str
    surname: str
    forename: str
    dob: str
    source: str
    case_id: str | None
    transferred_to: str | None
    transfer_message_id: str | None
    received_message_id: str | None
    received_from: str | None
    received_conversation: str | None
    created_at: float
    updated_at: float
    search_key: str | None = None  # the folded names (fold); None until filled

    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.entry))

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items()
                   if k not in ("entry", "search_key")}, "entry": self.data()}


@dataclass(frozen=True)
class EntryVersion:
    version: int
    at: float
    actor: str
    action: str
    reason: str | None
    entry: dict[str, Any]


class Register:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    @staticmethod
    async def received(tx: Tx, sender: str, conversation: str) -> str | None:
        """The entry a RegisterTransfer in this conversation already made (a resend keeps
        the conversation), or None."""
        row = await tx.fetchone("SELECT entry_id FROM cnis_entries WHERE received_from = ? "
                                "AND received_conversation = ?", sender, conversation)
        return str(row["entry_id"]) if row else None

    async def add(self, tx: Tx, entry: dict[str, Any], actor: str, source: str,
                  state: EntryState = E.ACTIVE, reason: str | None = None,
                  received: tuple[str, str, str] | None = None, case_id: str | None = None
                  ) -> str | None:
        """A new entry. ``received``: (message id, sender, conversation) of the
        RegisterTransfer that brought it; None if that conversation already made one."""
        entry_id = str(uuid.uuid4())
        now = self.clock.time()
        text = json.dumps(entry, sort_keys=True)
        mid, sender, conversation = received or (None, None, None)
        row = await tx.fetchone(
            "INSERT INTO cnis_entries (entry_id, state, version, entry, surname, forename, dob, "
            "source, case_id, received_message_id, received_from, received_conversation, "
            "created_at, updated_at, search_key) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?) "
            "ON CONFLICT (received_from, received_conversation) DO NOTHING RETURNING entry_id",
            entry_id, state.value, text, entry["surname"], entry["forename"], entry["dob"],
            source, case_id, mid, sender, conversation, now, now, search_key(entry))
        if row is None:
            return None
        await self._version(tx, entry_id, 1, actor, "added", reason, text, now)
        return entry_id

    async def load(self, tx: Tx, entry_id: str) -> EntryRow:
        row = await tx.fetchone("SELECT * FROM cnis_entries WHERE entry_id = ?", entry_id)
        if row is None:
            raise GatewayError("not-found", f"no register entry {entry_id}")
        return EntryRow(**row)

    async def change(self, tx: Tx, entry_id: str, *, actor: str, action: str, reason: str,
                     entry: dict[str, Any] | None = None, state: EntryState | None = None,
                     allowed: tuple[EntryState, ...] = OPEN,
                     transferred_to: str | None = None,
                     transfer_message_id: str | None = None,
                     expect_version: int | None = None) -> EntryRow:
        """A new version: the entry changed, or its state (a reason is required).
        ``expect_version``: refuse if the entry changed since it was read."""
        if not reason.strip():
            raise GatewayError("bad-request", "say why the entry changes (a reason is required)")
        cur = await self.load(tx, entry_id)
        if expect_version is not None and cur.version != expect_version:
            raise GatewayError("cnis-entry-changed", f"version {expect_version} was read; the "
                               f"entry is at version {cur.version} now")
        if cur.state not in allowed:
            raise GatewayError("cnis-entry-state",
                               f"the entry is {cur.state}; this needs "
                               f"{' or '.join(s.value for s in allowed)}")
        text = json.dumps(entry, sort_keys=True) if entry is not None else cur.entry
        now = self.clock.time()
        version = cur.version + 1
        new = entry or cur.data()
        n = await tx.execute(
            "UPDATE cnis_entries SET state = ?, version = ?, entry = ?, surname = ?, "
            "forename = ?, dob = ?, search_key = ?, "
            "transferred_to = COALESCE(?, transferred_to), "
            "transfer_message_id = COALESCE(?, transfer_message_id), updated_at = ? "
            "WHERE entry_id = ? AND version = ?",
            (state or EntryState(cur.state)).value, version, text, new["surname"],
            new["forename"], new["dob"], search_key(new), transferred_to,
            transfer_message_id, now, entry_id, cur.version)
        if not n:
            raise GatewayError("cnis-entry-changed", "the entry changed meanwhile: look again")
        await self._version(tx, entry_id, version, actor, action, reason, text, now)
        return await self.load(tx, entry_id)

    @staticmethod
    async def _version(tx: Tx, entry_id: str, version: int, actor: str, action: str,
                       reason: str | None, text: str, now: float) -> None:
        await tx.execute(
            "INSERT INTO cnis_versions (entry_id, version, at, actor, action, reason, entry) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", entry_id, version, now, actor, action,
            reason[:500] if reason else None, text)

    async def get(self, entry_id: str) -> EntryRow | None:
        async def op(tx: Tx) -> EntryRow | None:
            row = await tx.fetchone("SELECT * FROM cnis_entries WHERE entry_id = ?", entry_id)
            return EntryRow(**row) if row else None
        return await self.backend.read(op)

    async def versions(self, entry_id: str) -> list[EntryVersion]:
        async def op(tx: Tx) -> list[EntryVersion]:
            rows = await tx.fetchall("SELECT version, at, actor, action, reason, entry FROM "
                                     "cnis_versions WHERE entry_id = ? ORDER BY version",
                                     entry_id)
            return [EntryVersion(**{**r, "entry": json.loads(r["entry"])}) for r in rows]
        return await self.backend.read(op)

    async def stranded(self) -> list[tuple[str, str, str, str | None]]:
        """Entries marked transferred whose RegisterTransfer never arrived (its outbox
        message failed, expired or was cancelled): (entry id, state of the message, LA,
        error code)."""
        async def op(tx: Tx) -> list[tuple[str, str, str, str | None]]:
            rows = await tx.fetchall(
                "SELECT e.entry_id, o.state, e.transferred_to, o.error_code FROM cnis_entries e "
                "JOIN outbound o ON o.message_id = e.transfer_message_id "
                f"WHERE e.state = '{E.TRANSFERRED}' AND o.state IN ('failed', 'expired', "
                "'cancelled')")
            return [(r["entry_id"], r["state"], r["transferred_to"], r["error_code"])
                    for r in rows]
        return await self.backend.read(op)

    async def listing(self, states: tuple[EntryState, ...] = OPEN, limit: int = 500
                      ) -> list[EntryRow]:
        async def op(tx: Tx) -> list[EntryRow]:
            rows = await tx.fetchall(
                f"SELECT * FROM cnis_entries WHERE state IN "
                f"({sql_list([s.value for s in states])}) ORDER BY surname, forename LIMIT ?",
                limit)
            return [EntryRow(**r) for r in rows]
        return await self.backend.read(op)

    async def fill_search_keys(self) -> int:
        """Give every entry written before migration 12 (or by a gateway not yet upgraded,
        during a rolling upgrade) its search key. Run at start-up; returns how many."""
        async def unfilled(tx: Tx) -> list[Any]:
            return list(await tx.fetchall("SELECT entry_id, surname, forename FROM "
                                          "cnis_entries WHERE search_key IS NULL"))
        rows = await self.backend.read(unfilled)
        if not rows:  # the usual start: nothing to write
            return 0

        async def op(tx: Tx) -> int:
            for r in rows:
                await tx.execute("UPDATE cnis_entries SET search_key = ? WHERE entry_id = ? "
                                 "AND search_key IS NULL", search_key(r), r["entry_id"])
            return len(rows)
        return await self.backend.write(op)

    async def search(self, states: tuple[EntryState, ...], text: str = "", offset: int = 0,
                     limit: int = 50) -> tuple[list[EntryRow], int]:
        """One page of entries in these states whose names contain every word of ``text``
        (any case, any accents, either name first: "zofia nowak", "nowak zofia", "nowa"), by
        name; and how many match in all (for the pages' pagination). A query holding a
        control character matches nothing (no name holds one)."""
        if _unsearchable(text):
            return [], 0
        where = f"state IN ({sql_list([s.value for s in states])})"
        args: list[object] = []
        for word in fold(text).split()[:20]:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            # a row not yet given its key (written by an older gateway) is still found by
            # its ASCII-folded names
            where += (" AND (search_key LIKE ? ESCAPE '\\' OR (search_key IS NULL AND "
                      "LOWER(forename || ' ' || surname) LIKE ? ESCAPE '\\'))")
            args += [like, like]

        async def op(tx: Tx) -> tuple[list[EntryRow], int]:
            total = await tx.fetchone(f"SELECT COUNT(*) AS n FROM cnis_entries WHERE {where}",
                                      *args)
            rows = await tx.fetchall(
                f"SELECT * FROM cnis_entries WHERE {where} ORDER BY surname, forename, "
                f"entry_id LIMIT ? OFFSET ?", *args, limit, offset)
            return [EntryRow(**r) for r in rows], int(total["n"]) if total else 0
        return await self.backend.read(op)
