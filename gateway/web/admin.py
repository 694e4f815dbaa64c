"""The operator API (JSON, bearer token): outbox and inbox listings, send, reply.

Reading a received message's content is written to the audit log (DESIGN.md: every read of a
child's record is audited).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.exchange.gateway import Gateway
from gateway.hub import relay
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store.store import STATES

MAX_JSON = 256 * 1024


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (m.MessageType, m.Outcome)):
        return value.value
    raise TypeError(type(value).__name__)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default)


def add_routes(app: web.Application, key: web.AppKey[Gateway]) -> None:
    def gw(request: web.Request) -> Gateway:
        return request.app[key]

    def int_param(request: web.Request, name: str, default: int, top: int) -> int:
        try:
            value = int(request.query.get(name, default))
        except ValueError:
            raise GatewayError("bad-request", f"{name} must be a number") from None
        return max(1, min(value, top))

    async def outbox(request: web.Request) -> web.Response:
        state = request.query.get("state") or None
        if state is not None and state not in STATES:
            raise GatewayError("bad-request", f"state must be one of {', '.join(STATES)}")
        before = None
        if "before" in request.query:
            ts, _, mid = request.query["before"].partition("_")
            try:
                before = (float(ts), mid)
            except ValueError:
                raise GatewayError("bad-request", "before must be <created_at>_<id>") from None
        rows = await gw(request).store.list_outbound(
            state=state, recipient=request.query.get("recipient") or None,
            limit=int_param(request, "limit", 50, 500), before=before)
        items = [r.to_json() for r in rows]
        nxt = f"{rows[-1].created_at}_{rows[-1].message_id}" if rows else None
        return web.json_response({"items": items, "next": nxt})

    async def outbox_item(request: web.Request) -> web.Response:
        mid = request.match_info["id"]
        row = await gw(request).store.get_outbound(mid)
        if row is None:
            raise GatewayError("not-found", f"no outbound message {mid}")
        events = await gw(request).store.events(mid)
        return web.json_response({**row.to_json(), "events": events})

    async def inbox(request: web.Request) -> web.Response:
        rows = await gw(request).store.list_inbound(
            limit=int_param(request, "limit", 50, 500),
            message_type=request.query.get("type") or None)
        return web.json_response({"items": [
            {k: v for k, v in dataclasses.asdict(r).items() if k not in ("body", "receipt")}
            for r in rows]})

    async def inbox_item(request: web.Request) -> web.Response:
        g = gw(request)
        mid = request.match_info["id"]
        row = await g.store.get_inbound(mid)
        if row is None:
            raise GatewayError("not-found", f"no inbound message {mid}")
        await g.store.audit("api", "read-inbound", mid)
        message = mx.parse_stored(row.body)
        body = {"message_id": mid, "sender": row.sender, "type": row.message_type,
                "replied_by": row.replied_by, "message": dataclasses.asdict(message),
                "matches": await g.store.records.results(mid)}
        return web.json_response(text=_dumps(body))

    async def send(request: web.Request) -> web.Response:
        g = gw(request)
        to = request.query.get("to")
        data = await read_limited(request.content, g.settings.max_body_bytes)
        if len(data) > g.settings.max_body_bytes:
            raise GatewayError("body-too-large")
        root = xmlsafe.parse(data, max_depth=g.settings.max_depth,
                             max_elements=g.settings.max_elements)
        schemas.validate(root)
        message = mx.parse(root)
        if to:
            message = g.readdress(message, to)
        row = await g.queue(message)
        await g.store.audit("api", "send", row.message_id)
        return web.json_response(row.to_json(), status=202)

    async def reply(request: web.Request) -> web.Response:
        g = gw(request)
        raw = await read_limited(request.content, MAX_JSON)
        if len(raw) > MAX_JSON:
            raise GatewayError("body-too-large")
        try:
            data = json.loads(raw)
            outcomes = [
                m.ChildOutcome(child_ref=str(o["child_ref"]), outcome=m.Outcome(o["outcome"]),
                               school=m.School(**o["school"]) if o.get("school") else None,
                               comments=o.get("comments"))
                for o in data["outcomes"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError("bad-request",
                               f"expected {{outcomes: [{{child_ref, outcome, school?, "
                               f"comments?}}], comments?}} ({type(exc).__name__})") from None
        row = await g.reply(request.match_info["id"], outcomes, data.get("comments"),
                            actor="api")
        return web.json_response(row.to_json(), status=202)

    async def cases(request: web.Request) -> web.Response:
        rows = await gw(request).store.ctf.cases(int_param(request, "limit", 100, 1000))
        await gw(request).store.audit("api", "read-cases", None, f"{len(rows)} cases")
        return web.json_response({"items": rows})

    async def held(request: web.Request) -> web.Response:
        school = request.match_info["laestab"]
        return web.json_response({"items": await gw(request).store.ctf.held(school)})

    async def collect(request: web.Request) -> web.Response:
        g = gw(request)
        school, tid = request.match_info["laestab"], request.match_info["id"]
        row = await g.store.ctf.transfer(tid)
        if row is None or row["for_school"] != school or row["state"] not in ("held",
                                                                               "collected"):
            raise GatewayError("not-found", f"no CTF {tid} held for school {school}")
        data = await asyncio.to_thread(Path(row["path"]).read_bytes)
        await g.store.ctf.mark(tid, "collected_at")
        await g.store.audit("api", "collect-ctf", tid, f"for school {school}")
        return web.Response(body=data, content_type="application/xml")

    async def transfer(request: web.Request) -> web.Response:
        g = gw(request)
        tid = request.match_info["id"]
        row = await g.store.ctf.transfer(tid)
        if row is None:
            raise GatewayError("not-found", f"no transfer {tid}")
        pupils = await g.store.ctf.pupils(tid)
        lpd = await g.store.ctf.lpd_entry(tid)
        history = await g.store.ctf.lpd_history(tid) if lpd else []
        await g.store.audit("api", "read-transfer", tid)
        for p in pupils:
            p["flags"] = p["flags"].split("\n") if p["flags"] else []
        return web.json_response({**{k: v for k, v in row.items() if k != "path"},
                                  "pupils": pupils, "lpd": lpd, "history": history})

    async def json_body(request: web.Request) -> dict[str, Any]:
        raw = await read_limited(request.content, MAX_JSON)
        if len(raw) > MAX_JSON:
            raise GatewayError("body-too-large")
        try:
            data = json.loads(raw)
        except ValueError:
            raise GatewayError("bad-request", "the body must be JSON") from None
        if not isinstance(data, dict):
            raise GatewayError("bad-request", "the body must be a JSON object")
        return data

    async def lpd_search(request: web.Request) -> web.Response:
        data = await json_body(request)
        try:
            dob = date.fromisoformat(data["dob"]) if data.get("dob") else None
        except ValueError:
            raise GatewayError("bad-request", "dob must be YYYY-MM-DD") from None
        try:
            found = await relay.search(gw(request), str(data.get("reason") or ""),
                                       upn=data.get("upn"), surname=data.get("surname"),
                                       forename=data.get("forename"), dob=dob,
                                       sex=data.get("sex"))
        except relay.HubRefused as exc:
            return web.json_response({"code": exc.code, "error": exc.text}, status=exc.status)
        return web.json_response(text=_dumps({"candidates": found}))

    async def lpd_claim(request: web.Request) -> web.Response:
        data = await json_body(request)
        try:
            claim_id = await relay.claim(gw(request), str(data.get("transfer_id") or ""),
                                         str(data.get("for_school") or ""),
                                         str(data.get("reason") or ""))
        except relay.HubRefused as exc:
            return web.json_response({"code": exc.code, "error": exc.text}, status=exc.status)
        return web.json_response({"claim_id": claim_id, "state": "claimed"})

    app.router.add_get("/v1/admin/cases", cases)
    app.router.add_get("/v1/admin/schools/{laestab}/ctf", held)
    app.router.add_get("/v1/admin/schools/{laestab}/ctf/{id}", collect)
    app.router.add_get("/v1/admin/transfers/{id}", transfer)
    app.router.add_post("/v1/admin/lpd/search", lpd_search)
    app.router.add_post("/v1/admin/lpd/claim", lpd_claim)
    app.router.add_get("/v1/admin/outbox", outbox)
    app.router.add_get("/v1/admin/outbox/{id}", outbox_item)
    app.router.add_get("/v1/admin/inbox", inbox)
    app.router.add_get("/v1/admin/inbox/{id}", inbox_item)
    app.router.add_post("/v1/admin/messages", send)
    app.router.add_post("/v1/admin/inbox/{id}/reply", reply)
