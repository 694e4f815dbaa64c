"""Who may sign in to the web pages, and how: users with one role each, argon2 password
hashes, the lock after repeated failures, and sessions with idle and absolute time-outs.

Everything here is audited through the store's audit log (``sign-in``, ``sign-in-failed``,
``account-locked``, ``sign-out``, ``user-add``, ``user-disable``, ``user-reset``); details
name user names and roles, never a password.

Imports only ``gateway.store``, ``gateway.core`` and argon2-cffi (the CLI uses it without the
web server).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.core.clock import Clock
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.store import Role, SessionRow, Store, Tx, UserRow

LOCK_AFTER = 5  # failed sign-ins in a row that lock an account (issue 13)
MIN_PASSWORD, MAX_PASSWORD = 12, 256
MAX_USERNAME = 64
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# Only refresh a session's last-seen time when it is this old: a page view is then a read,
# and the idle time-out is still honoured to within a minute.
TOUCH_EVERY = 60.0

_hasher = PasswordHasher()  # argon2id with the library's current RFC 9106 "low memory" profile


@functools.cache
def _absent() -> str:
    """Verified against when there is no such user, so a missing name costs the same time
    (made on first use: hashing costs a CPU-tenth of a second)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_username(text: str) -> str:
    name = text.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise GatewayError("bad-request", f"a user name is 1 to {MAX_USERNAME} of a-z, 0-9 and "
                           ". _ @ -, starting with a letter or digit (e.g. j.smith)")
    return name


def check_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise GatewayError("bad-request", "role must be officer, manager or admin") from None


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise GatewayError("password-weak")
    return password


def generate_password() -> str:
    """A random passphrase-strength password (about 128 bits), easy to copy."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def add_user(store: Store, username: str, role: Role, password: str,
                   actor: str = "cli") -> UserRow:
    name = check_username(username)
    hashed = await asyncio.to_thread(hash_password, password)
    row = await store.users.add(name, role, hashed)
    if row is None:
        raise GatewayError("user-exists", name)
    await store.audit.add(actor, "user-add", None, f"user {name} role {role.value}")
    return row


async def reset_user(store: Store, username: str, password: str, actor: str = "cli") -> None:
    name = check_username(username)
    hashed = await asyncio.to_thread(hash_password, password)
    if not await store.users.set_password(name, hashed):
        raise GatewayError("not-found", f"no user {name}; 'cme-gateway users list' shows them")
    await store.audit.add(actor, "user-reset", None, f"user {name} new password, unlocked")


async def disable_user(store: Store, username: str, actor: str = "cli") -> None:
    name = check_username(username)
    if not await store.users.disable(name):
        raise GatewayError("not-found", f"no active user {name}; 'cme-gateway users list' "
                           "shows them")
    await store.audit.add(actor, "user-disable", None, f"user {name}")


@dataclass(frozen=True)
class Session:
    """A signed-in user's session: ``session_id`` goes in the cookie (only its hash is
    stored); ``csrf_token`` goes in every form."""

    user: UserRow
    session_id: str
    csrf_token: str
    created_at: float


async def sign_in(store: Store, clock: Clock, username: str, password: str,
                  peer: str | None = None) -> Session:
    """Check a user name and password; on success a new session. A failure counts towards
    the lock (``LOCK_AFTER`` in a row); a locked account is refused whatever the password."""
    name = username.strip().lower()[:MAX_USERNAME + 1]
    password = password[:MAX_PASSWORD + 1]
    user = await store.users.get(name) if _USERNAME.fullmatch(name) else None
    now = clock.time()
    where = f" from {peer}" if peer else ""

    # The attempt is counted before the (slow) password check: attempts made at once are
    # counted one by one, and those beyond the limit are refused unchecked.
    async def counted(tx: Tx) -> int | None:
        return await store.users.attempt(tx, name) if user is not None else None
    count = await store.backend.write(counted)
    over = count is not None and count > LOCK_AFTER
    good = False if over else await asyncio.to_thread(
        _verify, user.password_hash if user else _absent(), password)
    if good and user is not None and user.disabled_at is None and count is not None:
        async def opened_ok(tx: Tx) -> bool:
            return await store.users.succeeded(tx, name, now)
        good = await store.backend.write(opened_ok)
    else:
        good = False
    if not good:
        async def failed(tx: Tx) -> None:
            why = ("unknown user" if user is None else "account locked" if count is None
                   else "account disabled" if user.disabled_at is not None
                   else "too many attempts at once" if over else "wrong password")
            await store.audit.add(f"user:{name}" if user else "web", "sign-in-failed", None,
                                  f"{why}{where}", tx=tx)
            if count is not None and count >= LOCK_AFTER and await store.users.lock(
                    tx, name, now):
                await store.audit.add(f"user:{name}", "account-locked", None,
                                      f"after {LOCK_AFTER} failed sign-ins", tx=tx)
        await store.backend.write(failed)
        # The same answer for a wrong password, an unknown user and a locked account: the
        # lock must not tell which user names exist (the sentence says it may be locked).
        raise GatewayError("sign-in-failed")
    assert user is not None
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)

    async def opened(tx: Tx) -> None:
        await store.sessions.add(tx, SessionRow(_digest(session_id), name, csrf, now, now))
        await store.audit.add(f"user:{name}", "sign-in", None, f"role {user.role.value}{where}",
                              tx=tx)
    await store.backend.write(opened)
    return Session(user, session_id, csrf, now)


async def session_for(store: Store, clock: Clock, settings: Settings,
                      session_id: str) -> Session:
    """The live session a cookie names, or ``session-expired``. A session past its idle or
    absolute time-out, or whose user is disabled or locked, is ended here."""
    if not session_id or len(session_id) > 100:
        raise GatewayError("session-expired")
    id_hash = _digest(session_id)
    row = await store.sessions.get(id_hash)
    if row is None:
        raise GatewayError("session-expired")
    now = clock.time()
    user = await store.users.get(row.username)
    expired = (now - row.last_seen_at > settings.session_idle_seconds
               or now - row.created_at > settings.session_absolute_seconds)
    if expired or user is None or user.disabled_at is not None or user.locked_at is not None:
        await store.sessions.end(id_hash)
        raise GatewayError("session-expired")
    if now - row.last_seen_at >= TOUCH_EVERY:
        await store.sessions.touch(id_hash, now)
    return Session(user, session_id, row.csrf_token, row.created_at)


def csrf_ok(session: Session, given: str | None) -> bool:
    """The form's token is the session's (compared in constant time)."""
    return bool(given) and hmac.compare_digest(session.csrf_token.encode(),
                                               (given or "").encode())


async def sign_out(store: Store, session: Session) -> None:
    await store.sessions.end(_digest(session.session_id))
    await store.audit.add(f"user:{session.user.username}", "sign-out")
