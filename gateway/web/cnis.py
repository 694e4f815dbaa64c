"""The operator API for the Children Not in School register (off unless ``cnis_register =
"on"``): list, read (audited), add, change, activate, close, transfer."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.store.cnis import EntryState
from gateway.web.access import actor
from gateway.web.operator import _gw, _int_param, _json, _json_body, _text
from gateway.workflow import cnis

routes = web.RouteTableDef()


@routes.get("/v1/admin/cnis")
async def entries(request: web.Request) -> web.Response:
    gw = _gw(request)
    cnis.require_on(gw)
    try:
        states = tuple(EntryState(s) for s in request.query.getall("state", [])) or \
            (EntryState.DRAFT, EntryState.ACTIVE)
    except ValueError:
        raise GatewayError("bad-request", "state must be one of " +
                           ", ".join(s.value for s in EntryState)) from None
    rows = await gw.store.register.listing(states, _int_param(request, "limit", 500, 5000))
    await gw.store.audit.add(actor(request), "cnis-read", None, f"{len(rows)} entries")
    return _json({"items": [r.to_json() for r in rows]})


@routes.post("/v1/admin/cnis")
async def add(request: web.Request) -> web.Response:
    data = await _json_body(request)
    entry_id = await cnis.add(_gw(request), data, actor(request))
    return _json({"entry_id": entry_id}, status=201)


@routes.get("/v1/admin/cnis/{id}")
async def entry(request: web.Request) -> web.Response:
    gw = _gw(request)
    cnis.require_on(gw)
    eid = request.match_info["id"]
    row = await gw.store.register.get(eid)
    if row is None:
        raise GatewayError("not-found", f"no register entry {eid}")
    await gw.store.audit.add(actor(request), "cnis-read", None, f"entry {eid}")
    return _json({**row.to_json(), "versions": [v.__dict__ for v in
                                                await gw.store.register.versions(eid)]})


@routes.post("/v1/admin/cnis/{id}")
async def change(request: web.Request) -> web.Response:
    """``{"entry": {...}, "reason": "...", "version": n}``: the entry as it now stands;
    ``version`` (optional) the one it was read at (``cnis-entry-changed`` if another change
    came first)."""
    data = await _json_body(request)
    new = data.get("entry")
    if not isinstance(new, dict):
        raise GatewayError("bad-request", "expected {entry: {...}, reason}")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise GatewayError("bad-request", "version must be the entry's version number")
    row = await cnis.update(_gw(request), request.match_info["id"], new, actor(request),
                            _text(data, "reason") or "", expect_version=version)
    return _json(row.to_json())


@routes.post("/v1/admin/cnis/{id}/{action:activate|close}")
async def state(request: web.Request) -> web.Response:
    data = await _json_body(request)
    to = EntryState.ACTIVE if request.match_info["action"] == "activate" else EntryState.CLOSED
    row = await cnis.set_state(_gw(request), request.match_info["id"], to, actor(request),
                               _text(data, "reason") or "")
    return _json(row.to_json())


@routes.post("/v1/admin/cnis/{id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    data = await _json_body(request)
    mid = await cnis.transfer(_gw(request), request.match_info["id"], _text(data, "to") or "",
                              actor(request), _text(data, "reason") or "")
    return _json({"message_id": mid}, status=202)
