"""The operator API (JSON, bearer token): outbox and inbox listings, send, reply, the sent
enquiries with each child's status (chase, review), cases, CTFs held for schools, and the Lost
Pupils Database through the hub.

Reading a received message's content is written to the audit log (DESIGN.md: every read of a
child's record is audited).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from datetime import date
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import dated, queue, readdress
from gateway.hub import relay
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.messages.load import Limits, load_unsigned
from gateway.store import OutboxState
from gateway.web.access import actor
from gateway.web.keys import GATEWAY
from gateway.web.partners import read_body
from gateway.workflow.answering import answer
from gateway.workflow.chasing import chase as make_chaser
from gateway.workflow.chasing import review as review_outcome
from gateway.workflow.chasing import views

routes = web.RouteTableDef()
MAX_JSON = 256 * 1024
STATES = ", ".join(s.value for s in OutboxState)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(text=json.dumps(obj, default=_json_default), status=status)


def _gw(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def _int_param(request: web.Request, name: str, default: int, top: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise GatewayError("bad-request", f"{name} must be a number") from None
    return max(1, min(value, top))


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request, MAX_JSON, _gw(request).settings.body_timeout_seconds)
    if len(raw) > MAX_JSON:
        raise GatewayError("body-too-large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's
        raise GatewayError("bad-request", "the body must be JSON, nested at most a few "
                           "levels") from None
    if not isinstance(data, dict):
        raise GatewayError("bad-request", "the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str) -> str | None:
    """A string field of a JSON body, or None when absent; anything else is bad-request."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise GatewayError("bad-request", f"{name} must be a string")
    if _NOT_XML.search(value):  # a lone surrogate or a control character: no XML holds it
        raise GatewayError("bad-request", f"{name} holds characters a message cannot carry")
    return value


# Characters XML 1.0 cannot carry (and the surrogates JSON's \u escapes can smuggle in).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# ---- outbox and inbox ----------------------------------------------------------------------

@routes.get("/v1/admin/outbox")
async def outbox(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state is not None and state not in OutboxState.__members__.values():
        raise GatewayError("bad-request", f"state must be one of {STATES}")
    before = None
    if "before" in request.query:
        ts, _, mid = request.query["before"].partition("_")
        try:
            before = (float(ts), mid)
        except ValueError:
            raise GatewayError("bad-request", "before must be <created_at>_<id>") from None
    rows = await _gw(request).store.outbox.recent(
        state=OutboxState(state) if state else None,
        recipient=request.query.get("recipient") or None,
        limit=_int_param(request, "limit", 50, 500), before=before)
    nxt = f"{rows[-1].created_at}_{rows[-1].message_id}" if rows else None
    return web.json_response({"items": [r.to_json() for r in rows], "next": nxt})


@routes.get("/v1/admin/outbox/{id}")
async def outbox_item(request: web.Request) -> web.Response:
    store = _gw(request).store
    mid = request.match_info["id"]
    row = await store.outbox.get(mid)
    if row is None:
        raise GatewayError("not-found", f"no outbound message {mid}")
    events = [dataclasses.asdict(e) for e in await store.outbox.events(mid)]
    return web.json_response({**row.to_json(), "events": events})


@routes.get("/v1/admin/inbox")
async def inbox(request: web.Request) -> web.Response:
    rows = await _gw(request).store.inbox.recent(
        limit=_int_param(request, "limit", 50, 500),
        message_type=request.query.get("type") or None)
    return web.json_response({"items": [r.summary() for r in rows]})


@routes.get("/v1/admin/inbox/{id}")
async def inbox_item(request: web.Request) -> web.Response:
    store = _gw(request).store
    mid = request.match_info["id"]
    row = await store.inbox.get(mid)
    if row is None:
        raise GatewayError("not-found", f"no inbound message {mid}")
    await store.audit.add(actor(request), "read-inbound", mid)
    message = mx.parse_stored(row.body)
    chased = await store.chasing.chased(mid)
    return _json({"message_id": mid, "sender": row.sender, "type": row.message_type,
                  "replied_by": row.replied_by, "message": dataclasses.asdict(message),
                  "matches": [dataclasses.asdict(r)
                              for r in await store.records.results(mid)],
                  "chased": {"times": chased.times, "last_at": chased.last_at,
                             "last_number": chased.last_number}})


@routes.post("/v1/admin/messages")
async def send(request: web.Request) -> web.Response:
    gw = _gw(request)
    limits = Limits.of(gw.settings)
    message = load_unsigned(await read_body(request, limits.max_bytes,
                                            gw.settings.body_timeout_seconds), limits)
    to = request.query.get("to")
    message = readdress(gw, message, to) if to else dated(gw, message)
    row = await queue(gw, message, validate=False)
    await gw.store.audit.add(actor(request), "send", row.message_id)
    return web.json_response(row.to_json(), status=202)


def _outcomes(data: dict[str, Any]) -> list[m.ChildOutcome]:
    try:
        items = data["outcomes"]
        if not isinstance(items, list) or not all(isinstance(o, dict) for o in items):
            raise TypeError("outcomes")
        out = []
        for o in items:
            school = o.get("school")
            if school is not None and not (isinstance(school, dict) and all(
                    isinstance(v, str) for v in school.values())):
                raise TypeError("school")
            if school:
                for field in school:
                    _text(school, field)
            out.append(m.ChildOutcome(child_ref=str(o["child_ref"]),
                                      outcome=m.Outcome(o["outcome"]),
                                      school=m.School(**school) if school else None,
                                      comments=_text(o, "comments")))
        return out
    except GatewayError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise GatewayError("bad-request",
                           f"expected {{outcomes: [{{child_ref, outcome, school?, comments?}}], "
                           f"comments?}} ({type(exc).__name__})") from None


@routes.post("/v1/admin/inbox/{id}/reply")
async def reply(request: web.Request) -> web.Response:
    data = await _json_body(request)
    partial = data.get("partial", False)
    if not isinstance(partial, bool):
        raise GatewayError("bad-request", "partial must be true or false")
    row = await answer(_gw(request), request.match_info["id"], _outcomes(data),
                       _text(data, "comments"), actor=actor(request), partial=partial)
    return web.json_response(row.to_json(), status=202)


# ---- sent enquiries: each child's status, chasing ----------------------------------------

@routes.get("/v1/admin/enquiries")
async def enquiries(request: web.Request) -> web.Response:
    """Sent enquiries, newest first, each with its children (names: audited), outcomes,
    due date, chasers and escalation."""
    gw = _gw(request)
    sent = await gw.store.chasing.recent(_int_param(request, "limit", 50, 500))
    items = await views(gw.store, gw.settings, [e.message_id for e in sent], gw.clock.time())
    await gw.store.audit.add(actor(request), "read-enquiries", None, f"{len(items)} enquiries")
    return _json({"items": [items[e.message_id] for e in sent if e.message_id in items]})


@routes.get("/v1/admin/enquiries/{id}")
async def enquiry(request: web.Request) -> web.Response:
    gw = _gw(request)
    mid = request.match_info["id"]
    found = await views(gw.store, gw.settings, [mid], gw.clock.time())
    if mid not in found:
        raise GatewayError("not-found", f"no enquiry {mid[:40]} sent by this gateway")
    await gw.store.audit.add(actor(request), "read-enquiry", mid)
    chasers = [dataclasses.asdict(c) for c in await gw.store.chasing.chasers(mid)]
    return _json({**found[mid], "chasers_sent": chasers})


@routes.post("/v1/admin/enquiries/{id}/chase")
async def chase(request: web.Request) -> web.Response:
    data = await _json_body(request) if request.can_read_body else {}
    row = await make_chaser(_gw(request), request.match_info["id"], actor(request),
                            _text(data, "comments"))
    return web.json_response(row.to_json(), status=202)


@routes.post("/v1/admin/enquiries/{id}/children/{ref}/review")
async def review(request: web.Request) -> web.Response:
    """Accept or reject a later not-known held for review: ``{"decision": "accept" |
    "reject", "reason": "..."}``."""
    data = await _json_body(request)
    decision = data.get("decision")
    if decision not in ("accept", "reject"):
        raise GatewayError("bad-request", "decision must be accept or reject")
    child = await review_outcome(_gw(request), request.match_info["id"],
                                 request.match_info["ref"], decision == "accept",
                                 actor(request), _text(data, "reason") or "")
    return _json(child.to_json())


# ---- CTFs held for schools ----------------------------------------------------------------

_HELD_FIELDS = ("transfer_id", "sender", "purpose", "version", "source_lea", "source_estab",
                "for_school", "pupils", "flagged", "size_bytes", "received_at", "state",
                "collected_at")


@routes.get("/v1/admin/schools/{laestab}/ctf")
async def held(request: web.Request) -> web.Response:
    rows = await _gw(request).store.transfers.held(request.match_info["laestab"])
    return web.json_response({"items": [{f: getattr(r, f) for f in _HELD_FIELDS}
                                        for r in rows]})


# No HEAD: collecting marks the CTF collected and is audited; only a GET does that.
@routes.get("/v1/admin/schools/{laestab}/ctf/{id}", allow_head=False)
async def collect(request: web.Request) -> web.StreamResponse:
    """The CTF, streamed from wherever the store keeps it (one chunk in memory at a time).
    Audited before the first byte leaves (a download cut short has still taken pupils'
    records), and again with the bytes sent if it is cut short; it counts as collected
    only once every byte has been sent."""
    store = _gw(request).store
    school, tid = request.match_info["laestab"], request.match_info["id"]
    row = await store.transfers.get(tid)
    if row is None or row.for_school != school or row.state not in ("held", "collected"):
        raise GatewayError("not-found", f"no CTF {tid} held for school {school}")
    opened = await store.payloads.open(row.path)  # ctf-payload-missing before any byte
    who = actor(request)
    await store.audit.add(who, "collect-ctf-started", tid,
                          f"for school {school}, {opened.size} bytes")
    sent = 0
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        response.content_length = opened.size
        await response.prepare(request)
        async for chunk in opened:
            await response.write(chunk)
            sent += len(chunk)
    except (ConnectionError, asyncio.CancelledError):
        await asyncio.shield(store.audit.add(
            who, "collect-ctf-cut-short", tid,
            f"for school {school}, {sent} of {opened.size} bytes written"))
        raise
    finally:
        await opened.aclose()
    await store.transfers.mark_collected(tid)
    await store.audit.add(who, "collect-ctf", tid, f"for school {school}")
    await response.write_eof()
    return response


@routes.get("/v1/admin/transfers/{id}")
async def transfer(request: web.Request) -> web.Response:
    store = _gw(request).store
    tid = request.match_info["id"]
    row = await store.transfers.get(tid)
    if row is None:
        raise GatewayError("not-found", f"no transfer {tid}")
    pupils = [{**dataclasses.asdict(p), "flags": list(p.flags)}
              for p in await store.transfers.pupils(tid)]
    lpd = await store.transfers.lpd_entry(tid)
    history = await store.transfers.lpd_history(tid) if lpd else []
    await store.audit.add(actor(request), "read-transfer", tid)
    return web.json_response({**row.public(), "pupils": pupils,
                              "lpd": dataclasses.asdict(lpd) if lpd else None,
                              "history": [dataclasses.asdict(h) for h in history]})


# ---- the Lost Pupils Database, through the hub ---------------------------------------------

@routes.post("/v1/admin/lpd/search")
async def lpd_search(request: web.Request) -> web.Response:
    data = await _json_body(request)
    given = _text(data, "dob")
    try:
        dob = date.fromisoformat(given) if given else None
    except ValueError:
        raise GatewayError("bad-request", "dob must be YYYY-MM-DD") from None
    found = await relay.search(_gw(request), _text(data, "reason") or "",
                               upn=_text(data, "upn"), surname=_text(data, "surname"),
                               forename=_text(data, "forename"), dob=dob,
                               sex=_text(data, "sex"), actor=actor(request))
    return _json({"candidates": found})


@routes.post("/v1/admin/lpd/claim")
async def lpd_claim(request: web.Request) -> web.Response:
    data = await _json_body(request)
    claim_id = await relay.claim(_gw(request), _text(data, "transfer_id") or "",
                                 _text(data, "for_school") or "", _text(data, "reason") or "",
                                 actor=actor(request))
    return web.json_response({"claim_id": claim_id, "state": "claimed"})
