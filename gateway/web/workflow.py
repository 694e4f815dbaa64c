"""The operator API for the CME workflow (JSON, same credentials as ``operator.py``): cases,
the officer's work queue, proposed replies to received enquiries, the watched children,
reviews due, reports and notifications.

Every response that shows a child's details is written to the audit log with the caller.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.core.parties import check_laestab
from gateway.messages import grounds
from gateway.messages import model as m
from gateway.store.cases import CaseFilter, CaseState, check_state
from gateway.store.watches import WatchState
from gateway.web.access import actor
from gateway.web.operator import _gw, _int_param, _json, _json_body, _outcomes, _text
from gateway.workflow import answering, monitoring, reports
from gateway.workflow import cases as wf

routes = web.RouteTableDef()


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise GatewayError("bad-request", f"{name} must be true or false")
    return value


def _date(text: str | None, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise GatewayError("bad-request", f"{name} must be a date, YYYY-MM-DD") from None


# ---- cases ---------------------------------------------------------------------------------

@routes.get("/v1/admin/cases")
async def cases(request: web.Request) -> web.Response:
    q = request.query
    category = None
    if "category" in q:
        if q["category"] not in tuple("123456789"):
            raise GatewayError("bad-request", "category must be 1 to 9")
        category = int(q["category"])
    states = tuple(check_state(s) for s in q.getall("state", []))
    rows = await _gw(request).store.cases.find(CaseFilter(
        states=states, category=category, urgent_only=q.get("urgent") == "true",
        open_only=q.get("all") != "true", limit=_int_param(request, "limit", 100, 1000)))
    await _gw(request).store.audit.add(actor(request), "read-cases", None,
                                       f"{len(rows)} cases")
    return _json({"items": [r.to_json() for r in rows]})


@routes.post("/v1/admin/cases")
async def open_case(request: web.Request) -> web.Response:
    """Open a case from a referral: the fields of the seed's CME referral form."""
    data = await _json_body(request)
    case_id = await wf.open_referral(_gw(request), data, actor(request))
    return _json({"case_id": case_id}, status=201)


@routes.get("/v1/admin/cases/{id}")
async def case(request: web.Request) -> web.Response:
    gw = _gw(request)
    cid = request.match_info["id"]
    row = await gw.store.cases.get(cid)
    if row is None:
        raise GatewayError("not-found", f"no case {cid}")
    await gw.store.audit.add(actor(request), "read-case", None, f"case {cid}")
    return _json({**row.to_json(),
                  "events": [e.__dict__ for e in await gw.store.cases.events(cid)],
                  "messages": [{"message_id": mid, "direction": d, "at": at}
                               for mid, d, at in await gw.store.cases.messages(cid)]})


@routes.post("/v1/admin/cases/{id}/move")
async def move(request: web.Request) -> web.Response:
    data = await _json_body(request)
    row = await wf.move(_gw(request), request.match_info["id"],
                        check_state(_text(data, "state") or ""), actor(request),
                        _text(data, "why") or "", _flag(data, "override"))
    return _json(row.to_json())


@routes.post("/v1/admin/cases/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    data = await _json_body(request)
    row = await wf.assign(_gw(request), request.match_info["id"],
                          _text(data, "key_worker") or "", actor(request))
    return _json(row.to_json())


@routes.post("/v1/admin/cases/{id}/events")
async def event(request: web.Request) -> web.Response:
    data = await _json_body(request)
    await wf.add_event(_gw(request), request.match_info["id"], _text(data, "kind") or "",
                       _text(data, "text") or "", actor(request),
                       _date(_text(data, "due_on"), "due_on"))
    return _json({"ok": True}, status=201)


@routes.post("/v1/admin/cases/{id}/flag")
async def flag(request: web.Request) -> web.Response:
    data = await _json_body(request)
    why = _text(data, "why") or ""
    if why not in ("child-protection plan", "looked after"):
        raise GatewayError("bad-request", "why must be 'child-protection plan' or "
                           "'looked after'")
    done = await wf.flag(_gw(request), request.match_info["id"], why, actor(request))
    return _json({"escalated": done})


# ---- the work queue and answering enquiries --------------------------------------------------

@routes.get("/v1/admin/queue")
async def queue(request: web.Request) -> web.Response:
    """What waits for an officer, most pressing first: urgent cases, watched children with a
    match or a possible match, enquiries awaiting a reply, referrals to triage."""
    gw = _gw(request)
    urgent = await gw.store.cases.find(CaseFilter(urgent_only=True, open_only=True))
    found = await gw.store.watches.listing((WatchState.FOUND, WatchState.POSSIBLE))
    referred = await gw.store.cases.find(CaseFilter(states=(CaseState.REFERRED,)))
    await gw.store.audit.add(actor(request), "read-queue", None)
    return _json({"urgent_cases": [r.to_json() for r in urgent],
                  "watched_found": [{**w.summary(), "found": w.found()} for w in found],
                  "enquiries_awaiting_reply": await answering.awaiting(gw),
                  "referrals_to_triage": [r.to_json() for r in referred if not r.urgent]})


@routes.get("/v1/admin/inbox/{id}/proposal")
async def proposal(request: web.Request) -> web.Response:
    gw = _gw(request)
    mid = request.match_info["id"]
    items = await answering.propose(gw, mid)
    await gw.store.audit.add(actor(request), "read-proposal", mid)
    return _json({"enquiry_id": mid, "children": [p.to_json() for p in items]})


@routes.post("/v1/admin/inbox/{id}/answer")
async def answer(request: web.Request) -> web.Response:
    """``{"approve": true}`` sends the proposal for the children not answered yet;
    ``{"outcomes": [...]}`` sends the officer's own (a child left out, and not answered
    before, needs ``"partial": true``)."""
    gw = _gw(request)
    mid = request.match_info["id"]
    data = await _json_body(request)
    if _flag(data, "approve"):
        if "outcomes" in data:
            raise GatewayError("bad-request", "give approve or outcomes, not both")
        chosen = await answering.approved(gw, mid)
    else:
        chosen = _outcomes(data)
    row = await answering.answer(gw, mid, chosen, _text(data, "comments"), actor(request),
                                 partial=_flag(data, "partial"))
    return _json(row.to_json(), status=202)


# ---- monitoring ------------------------------------------------------------------------------

@routes.get("/v1/admin/monitoring")
async def watches(request: web.Request) -> web.Response:
    try:
        states = tuple(WatchState(s) for s in request.query.getall("state", []))
    except ValueError:
        raise GatewayError("bad-request", "state must be one of " +
                           ", ".join(s.value for s in WatchState)) from None
    rows = await _gw(request).store.watches.listing(states,
                                                    _int_param(request, "limit", 500, 5000))
    return _json({"items": [{**w.summary(), "found": w.found()} for w in rows]})


@routes.post("/v1/admin/monitoring/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    data = await _json_body(request)
    outcome = _text(data, "outcome")
    if outcome not in (None, "known-on-roll", "known-not-on-roll"):
        raise GatewayError("bad-request", "outcome must be known-on-roll or known-not-on-roll")
    reply_id = await monitoring.report(_gw(request), request.match_info["id"], actor(request),
                                       m.Outcome(outcome) if outcome else None,
                                       comments=_text(data, "comments"))
    return _json({"reply_id": reply_id}, status=202)


@routes.post("/v1/admin/monitoring/{id}/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    data = await _json_body(request)
    await monitoring.dismiss(_gw(request), request.match_info["id"],
                             _text(data, "reason") or "", actor(request))
    return _json({"state": WatchState.WATCHING.value})


# ---- reviews, reports, notifications ----------------------------------------------------

@routes.get("/v1/admin/reviews")
async def reviews(request: web.Request) -> web.Response:
    within = _int_param(request, "within", 14, 366)
    return _json({"items": await wf.reviews_due(_gw(request), within)})


@routes.get("/v1/admin/reports")
async def report(request: web.Request) -> web.Response:
    data = await reports.counts(_gw(request))
    if request.query.get("format") == "csv":
        return _csv(reports.count_rows(data), "cme-counts.csv")
    return _json(data)


@routes.get("/v1/admin/reports/termly")
async def termly(request: web.Request) -> web.Response:
    term = request.query.get("term", "")
    data = await reports.termly_return(_gw(request), term,
                                       _date(request.query.get("census"), "census"))
    if request.query.get("format") == "csv":
        return _csv(data["rows"], f"cme-termly-{data['term'].replace(' ', '-')}.csv")
    return _json(data)


def _csv(rows: list[dict[str, Any]], name: str) -> web.Response:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["none"])
    w.writeheader()
    w.writerows(reports.csv_safe(rows))
    return web.Response(text=out.getvalue(), content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/v1/admin/notifications")
async def notifications(request: web.Request) -> web.Response:
    rows = await _gw(request).store.notifications.recent(_int_param(request, "limit", 100, 1000))
    return _json({"items": [n.__dict__ for n in rows]})


# ---- schools' returns --------------------------------------------------------------------

@routes.get("/v1/admin/school-returns")
async def school_returns(request: web.Request) -> web.Response:
    """Schools' returns as received, newest first; a deletion's ground with its letter of
    SI 2024/208 regulation 9(1) and the regulation's words (paraphrased)."""
    q = request.query
    school = check_laestab(q["school"]) if q.get("school") else None
    rows = await _gw(request).store.school_notices.recent(
        q.get("late") == "true", school, _int_param(request, "limit", 100, 1000))
    items = []
    for r in rows:
        code = r.ground()
        items.append({**{k: v for k, v in r.__dict__.items() if k != "detail"},
                      "ground": grounds.ground(code).as_json() if code else None})
    return _json({"items": items})


@routes.get("/v1/admin/deletion-grounds")
async def deletion_grounds(request: web.Request) -> web.Response:
    """The closed list of deletion grounds, each with its regulation 9(1) letter and sources."""
    return _json({"regulation": "School Attendance (Pupil Registration) (England) "
                                "Regulations 2024 (SI 2024/208), regulation 9(1)",
                  "sources": list(grounds.SOURCES),
                  "items": [g.as_json() for g in grounds.GROUNDS.values()]})
