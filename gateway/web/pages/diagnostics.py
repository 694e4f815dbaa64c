"""``/diagnostics`` (managers and administrators), and the same as JSON at
``GET /v1/admin/diagnostics``: one row per partner with its reachability (last delivery, last
failure and its reason), this process's circuit breaker for it, its certificates' expiry
(amber under 60 days, red when expired), the messages waiting for it and its recent errors;
and this gateway's own certificate and its expiry.

Clock skew: each partner's messages show how long before arriving they were created
(``Inbox.clocks``: transit and retries included, negative when the partner's clock is
ahead); the smallest of the last day estimates the skew, amber beyond half the allowed
``clock_skew_seconds``. A message beyond it is refused (``message-from-future``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

from aiohttp import web

from gateway.crypto import directory
from gateway.crypto.keys import fingerprint, load_certificate
from gateway.store import Role
from gateway.web.frame import allow, render
from gateway.web.keys import GATEWAY, SENDER

routes = web.RouteTableDef()
AMBER_DAYS = 60


def expiry_status(not_after: dt.datetime, now: dt.datetime) -> str:
    """``red`` when expired, ``amber`` under 60 days to go, else ``green``."""
    if not_after <= now:
        return "red"
    return "amber" if not_after - now < dt.timedelta(days=AMBER_DAYS) else "green"


def _certificates(folder: Any, now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in directory.list_certificates(folder):
        out.setdefault(e.party, []).append({
            "fingerprint": e.fingerprint[:16], "key_type": e.key_type,
            "not_after": e.not_after.timestamp(), "status": expiry_status(e.not_after, now)})
    return out


def _own(path: Any, now: dt.datetime) -> dict[str, Any]:
    try:
        cert = load_certificate(path)
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {path}: {type(exc).__name__}"}
    return {"fingerprint": fingerprint(cert)[:16], "not_after":
            cert.not_valid_after_utc.timestamp(),
            "status": expiry_status(cert.not_valid_after_utc, now)}


def _skew(clock: dict[str, float] | None, allowed: int) -> dict[str, Any] | None:
    if clock is None:
        return None
    est = clock["min_delay"]
    return {**clock, "estimate": round(est, 1),
            "status": "amber" if est < -allowed / 2 else "green"}


async def gather(app: web.Application) -> dict[str, Any]:
    """Everything the diagnostics page shows, as plain data."""
    gw = app[GATEWAY]
    s = gw.settings
    now = gw.clock.now()
    certs = await asyncio.to_thread(_certificates, s.path(s.partners_dir), now)
    own = await asyncio.to_thread(_own, s.path(s.cert_file), now)
    summary = {r["party"]: r for r in await gw.store.outbox.partner_summary()}
    clocks = await gw.store.inbox.clocks()
    sender = app.get(SENDER)
    parties = sorted(set(s.endpoints) | set(certs) | set(summary) | set(clocks))
    rows = []
    for party in parties:
        info = summary.get(party, {})
        breaker = sender.breakers.get(party) if sender is not None else None
        rows.append({
            "party": party, "endpoint": s.endpoints.get(party),
            "last_success_at": info.get("last_success_at"),
            "last_failure_at": info.get("last_failure_at"),
            "last_error_code": info.get("last_error_code"),
            "last_error": info.get("last_error"),
            "recent_errors": info.get("recent_errors", []),
            "breaker": (breaker.state(gw.clock.time(), s.breaker_threshold)
                        if breaker is not None else ("closed" if sender is not None
                                                     else "not running")),
            "consecutive_failures": breaker.failures if breaker is not None else 0,
            "certificates": certs.get(party, []),
            "queue_depth": info.get("queue_depth", 0),
            "clock_skew": _skew(clocks.get(party), s.clock_skew_seconds),
        })
    # CTFs taken on here and not passed on (a forward, an LPD claim's delivery that failed
    # or expired): ids, kind and parties only, never a child's data.
    undelivered = [dataclasses.asdict(u) for u in await gw.store.transfers.undelivered()]
    return {"party": gw.party, "own_certificate": own, "partners": rows,
            "undelivered_ctfs": undelivered, "checked_at": gw.clock.time()}


@routes.get("/diagnostics")
@allow(Role.MANAGER, Role.ADMIN)
async def diagnostics_page(request: web.Request) -> web.Response:
    return render(request, "diagnostics.html", await gather(request.app))


@routes.get("/v1/admin/diagnostics")
async def diagnostics_json(request: web.Request) -> web.Response:
    return web.json_response(await gather(request.app))
