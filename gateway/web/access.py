"""Who may call the operator API, and what each caller may do.

Two kinds of credential, both sent as ``Authorization: Bearer <token>``:
- the gateway's ``api_token`` setting: the operator's, with every right (as before);
- an API client's token (``cme-gateway clients add``): one per system that calls the API,
  each with a scope, stored only as a hash, revocable, and every call audited.

Scopes: ``operator`` (every ``/v1/admin/`` route) and ``school:<LAESTAB>`` (a school's MIS:
only the CTFs held for that school, ``GET /v1/admin/schools/<LAESTAB>/ctf[/<id>]``).

A request with no ``Authorization`` header may instead carry a web session (a signed-in
person's cookie, ``gateway.accounts``), with that person's role: an officer may use every
route; a manager may only read the outbox, diagnostics and reports (which carry no child's
name); an administrator only diagnostics. A POST with a session must also send the session's
CSRF token in ``X-CSRF-Token``.

Why SHA-256 and not argon2 for the stored secret: a client secret is 256 random bits, so no
guessing attack can use a fast hash against it; a slow password hash would only cost CPU on
every API call. (Officers' passwords, which people choose, are a different matter.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from aiohttp import web

from gateway.accounts import csrf_ok, session_for
from gateway.core.errors import GatewayError
from gateway.core.parties import check_laestab
from gateway.store import Role, Store, Tx
from gateway.store.clients import ClientRow
from gateway.web.errors import Handler
from gateway.web.keys import GATEWAY


def cookie_name(secure: bool) -> str:
    """The web session's cookie. The __Host- prefix makes a browser refuse it unless it is
    Secure, for this host only and every path: nobody on a sibling domain or plain http can
    plant one."""
    return "__Host-cme_session" if secure else "cme_session"

PREFIX = "cme_"
_TOKEN = re.compile(r"cme_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})")
_SCHOOL_CTF = re.compile(r"/v1/admin/schools/([0-9]{7})/ctf(?:/[^/]+)?")


@dataclass(frozen=True)
class Caller:
    actor: str  # written to the audit log: "api" (the operator token) or "client:<name>"
    scope: str
    client_id: str | None = None


CALLER = web.RequestKey("caller", Caller)
OPERATOR = Caller(actor="api", scope="operator")


def check_scope(text: str) -> str:
    """``operator`` or ``school:<LAESTAB>`` (``school:381/2001`` is read as 3812001)."""
    if text == "operator":
        return text
    kind, _, school = text.partition(":")
    if kind == "school" and school:
        return f"school:{check_laestab(school)}"
    raise GatewayError("bad-request", f"scope {text[:40]!r}: use operator or school:<LAESTAB>")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_client(store: Store, name: str, scope: str) -> tuple[ClientRow, str]:
    """Make a client; returns its row and its token (shown once, never stored)."""
    client_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = await store.clients.add(client_id, name, check_scope(scope), _digest(secret))
    await store.audit.add("cli", "client-add", None, f"client {client_id} ({name}) {row.scope}")
    return row, f"{PREFIX}{client_id}_{secret}"


async def authenticate(store: Store, token: str) -> Caller:
    """The caller a client token names, or ``unauthorized``."""
    found = _TOKEN.fullmatch(token)
    row = await store.clients.get(found.group(1)) if found else None
    # Compare even when there is no such client, so that timing tells nothing.
    expected = row.secret_hash if row else _digest("")
    given = _digest(found.group(2)) if found else ""
    if not hmac.compare_digest(expected.encode(), given.encode()) or row is None \
            or row.revoked_at is not None:
        raise GatewayError("unauthorized", "unknown or revoked client token")
    return Caller(actor=f"client:{row.name}", scope=row.scope, client_id=row.client_id)


def allowed(caller: Caller, request: web.Request) -> bool:
    if caller.scope == "operator":
        return True
    school = _SCHOOL_CTF.fullmatch(request.path)
    return (request.method in ("GET", "HEAD") and school is not None
            and caller.scope == f"school:{school.group(1)}")


@web.middleware
async def require_access(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/admin/"):
        return await handler(request)
    gw = request.app[GATEWAY]
    given = request.headers.get("Authorization", "")
    if not given and request.cookies.get(cookie_name(gw.settings.cookie_secure)):
        request[CALLER] = await _session_caller(request)
        return await handler(request)
    token = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
    if token.startswith(PREFIX):
        caller = await authenticate(gw.store, token)
        if not allowed(caller, request):
            raise GatewayError("scope-forbidden", f"scope {caller.scope}")
        await _audit_use(gw.store, caller, request)
    else:
        operator_token = gw.settings.api_token
        if not operator_token:
            raise GatewayError("admin-api-disabled")
        if not hmac.compare_digest(given.encode(), f"Bearer {operator_token}".encode()):
            raise GatewayError("unauthorized")
        caller = OPERATOR
    request[CALLER] = caller
    return await handler(request)


# Counts and the termly return name no child: managers read them too.
_MANAGER_READS = re.compile(r"/v1/admin/(?:outbox(?:/[^/]+)?|diagnostics|reports(?:/termly)?)")
_ADMIN_READS = re.compile(r"/v1/admin/diagnostics")


def session_allowed(role: Role, method: str, path: str) -> bool:
    """What a signed-in person's role may do on the operator API."""
    if role is Role.OFFICER:
        return True
    reads = _MANAGER_READS if role is Role.MANAGER else _ADMIN_READS
    return method in ("GET", "HEAD") and reads.fullmatch(path) is not None


async def _session_caller(request: web.Request) -> Caller:
    gw = request.app[GATEWAY]
    session = await session_for(gw.store, gw.clock, gw.settings,
                                request.cookies.get(cookie_name(gw.settings.cookie_secure), ""))
    role = session.user.role
    if not session_allowed(role, request.method, request.path):
        raise GatewayError("role-forbidden", f"role {role.value}")
    if request.method not in ("GET", "HEAD") and not csrf_ok(
            session, request.headers.get("X-CSRF-Token")):
        raise GatewayError("csrf-invalid")
    return Caller(actor=f"user:{session.user.username}", scope=f"role:{role.value}")


async def _audit_use(store: Store, caller: Caller, request: web.Request) -> None:
    assert caller.client_id is not None
    client_id = caller.client_id

    async def op(tx: Tx) -> None:
        await store.clients.used(client_id, tx)
        await store.audit.add(caller.actor, "api-call", None,
                              f"{request.method} {request.path}", tx=tx)
    await store.backend.write(op)


def actor(request: web.Request) -> str:
    """Who is calling, for the audit log."""
    return request.get(CALLER, OPERATOR).actor

