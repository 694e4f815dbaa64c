"""People who sign in to the web pages, and their sessions.

A user has one role (``officer``, ``manager`` or ``admin``), an argon2 password hash, a count
of failed sign-ins in a row and, once that reaches the limit, a lock. A session is stored by
the SHA-256 of its id (the cookie's value is never stored), with its CSRF token and the times
that its idle and absolute time-outs are counted from. The rules (hashing, the limit, the
time-outs) live in ``gateway.accounts``; this is their storage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.store.base import Backend, Tx


class Role(enum.StrEnum):
    OFFICER = "officer"  # works cases, sends, replies; sees children's names
    MANAGER = "manager"  # reads: reports, dashboards, the outbox without names
    ADMIN = "admin"  # users, partners, keys, settings


@dataclass(frozen=True)
class UserRow:
    username: str
    role: Role
    password_hash: str
    created_at: float
    disabled_at: float | None = None
    failed_sign_ins: int = 0
    locked_at: float | None = None
    last_sign_in_at: float | None = None

    @property
    def status(self) -> str:
        if self.disabled_at is not None:
            return "disabled"
        return "locked" if self.locked_at is not None else "active"


@dataclass(frozen=True)
class SessionRow:
    id_hash: str
    username: str
    csrf_token: str
    created_at: float
    last_seen_at: float


def _user(row: dict[str, object]) -> UserRow:
    return UserRow(**{**row, "role": Role(str(row["role"]))})  # type: ignore[arg-type]


class Users:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, username: str, role: Role, password_hash: str) -> UserRow | None:
        """A new user; None when the name is taken."""
        row = UserRow(username, role, password_hash, self.clock.time())

        async def op(tx: Tx) -> bool:
            done = await tx.fetchone(
                "INSERT INTO users (username, role, password_hash, created_at) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING username",
                row.username, row.role.value, row.password_hash, row.created_at)
            return done is not None
        return row if await self.backend.write(op) else None

    async def get(self, username: str) -> UserRow | None:
        async def op(tx: Tx) -> UserRow | None:
            row = await tx.fetchone("SELECT * FROM users WHERE username = ?", username)
            return _user(row) if row else None
        return await self.backend.read(op)

    async def all(self) -> list[UserRow]:
        async def op(tx: Tx) -> list[UserRow]:
            return [_user(r) for r in await tx.fetchall("SELECT * FROM users ORDER BY username")]
        return await self.backend.read(op)

    async def signed_in(self, tx: Tx, username: str, now: float) -> None:
        await tx.execute("UPDATE users SET failed_sign_ins = 0, last_sign_in_at = ? "
                         "WHERE username = ?", now, username)

    @staticmethod
    async def attempt(tx: Tx, username: str) -> int | None:
        """Count a sign-in attempt *before* its password is checked (so that attempts made
        at once cannot outrun the lock); the attempts counted so far, or None for a user who
        does not exist or is locked."""
        row = await tx.fetchone(
            "UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE username = ? AND "
            "locked_at IS NULL RETURNING failed_sign_ins", username)
        return int(row["failed_sign_ins"]) if row else None

    @staticmethod
    async def lock(tx: Tx, username: str, now: float) -> bool:
        n = await tx.execute("UPDATE users SET locked_at = ? WHERE username = ? AND "
                             "locked_at IS NULL", now, username)
        return bool(n)

    @staticmethod
    async def succeeded(tx: Tx, username: str, now: float) -> bool:
        """The password was right: the attempts are forgotten, unless the account was locked
        meanwhile (then False: no session)."""
        n = await tx.execute("UPDATE users SET failed_sign_ins = 0, last_sign_in_at = ? "
                             "WHERE username = ? AND locked_at IS NULL AND disabled_at IS NULL",
                             now, username)
        return bool(n)

    async def failed(self, tx: Tx, username: str, lock_after: int, now: float) -> UserRow | None:
        """Count one failed sign-in; lock the account when the count reaches ``lock_after``.
        Returns the user as it now is (None if there is no such user)."""
        await tx.execute(
            "UPDATE users SET failed_sign_ins = failed_sign_ins + 1, "
            "locked_at = CASE WHEN locked_at IS NULL AND failed_sign_ins + 1 >= ? THEN ? "
            "ELSE locked_at END WHERE username = ?", lock_after, now, username)
        row = await tx.fetchone("SELECT * FROM users WHERE username = ?", username)
        return _user(row) if row else None

    async def set_password(self, username: str, password_hash: str) -> bool:
        """A new password, unlocked and with no failures counted (``users reset``); the
        user's sessions end."""
        async def op(tx: Tx) -> bool:
            n = await tx.execute("UPDATE users SET password_hash = ?, failed_sign_ins = 0, "
                                 "locked_at = NULL WHERE username = ?", password_hash, username)
            await tx.execute("DELETE FROM web_sessions WHERE username = ?", username)
            return bool(n)
        return await self.backend.write(op)

    async def disable(self, username: str) -> bool:
        """Disable a user and end their sessions. False if there is no such active user."""
        async def op(tx: Tx) -> bool:
            n = await tx.execute("UPDATE users SET disabled_at = ? WHERE username = ? AND "
                                 "disabled_at IS NULL", self.clock.time(), username)
            await tx.execute("DELETE FROM web_sessions WHERE username = ?", username)
            return bool(n)
        return await self.backend.write(op)


class Sessions:
    def __init__(self, backend: Backend, clock: Clock = SYSTEM) -> None:
        self.backend = backend
        self.clock = clock

    async def add(self, tx: Tx, row: SessionRow) -> None:
        await tx.execute("INSERT INTO web_sessions (id_hash, username, csrf_token, created_at, "
                         "last_seen_at) VALUES (?, ?, ?, ?, ?)", row.id_hash, row.username,
                         row.csrf_token, row.created_at, row.last_seen_at)

    async def get(self, id_hash: str) -> SessionRow | None:
        async def op(tx: Tx) -> SessionRow | None:
            row = await tx.fetchone("SELECT * FROM web_sessions WHERE id_hash = ?", id_hash)
            return SessionRow(**row) if row else None
        return await self.backend.read(op)

    async def touch(self, id_hash: str, now: float) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?",
                             now, id_hash)
        await self.backend.write(op)

    async def end(self, id_hash: str) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", id_hash)
        await self.backend.write(op)

    async def purge(self, idle_before: float, created_before: float) -> int:
        """Delete sessions past either time-out."""
        async def op(tx: Tx) -> int:
            return await tx.execute("DELETE FROM web_sessions WHERE last_seen_at < ? OR "
                                    "created_at < ?", idle_before, created_before)
        return await self.backend.write(op)
