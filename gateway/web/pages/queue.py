"""``/queue`` (officers): what waits for an officer, most pressing first: urgent
(safeguarding) cases, watched children with a match or a possible match, received enquiries
awaiting a reply, referrals to triage. ``/queue/enquiries/<id>``: the reply form, each child
with the proposed outcome and the match explanation field by field, to approve as proposed
or to edit child by child (a child left out needs the partial-reply confirmation).
``/monitoring`` is the watch list; ``/monitoring/<id>/approve`` and ``/dismiss`` act on a
finding after a confirm step.

Everything here is the workflow's (``gateway.workflow.answering`` and ``monitoring``); the
pages only read forms and show what it says. Every page that shows a child is audited."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.messages import model as m
from gateway.store import Role
from gateway.store.cases import CaseFilter, CaseRow, CaseState
from gateway.store.watches import PENDING, WatchRow, WatchState
from gateway.web.frame import actor, allow, render
from gateway.web.keys import GATEWAY
from gateway.web.pages.forms import by_field, error, text, unsendable
from gateway.workflow import answering, monitoring

routes = web.RouteTableDef()
ID = r"{id:[0-9a-f-]{36}}"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OUTCOMES = [(o.value, label) for o, label in (
    (m.Outcome.KNOWN_ON_ROLL, "Known, on roll at a school"),
    (m.Outcome.KNOWN_NOT_ON_ROLL, "Known, not on a school roll"),
    (m.Outcome.NOT_KNOWN, "Not known"),
    (m.Outcome.NOT_KNOWN_MONITORING, "Not known, and we will keep monitoring"))]
LEAVE_OUT = "leave-out"
MAX_REASON = 500


def child_name(case: CaseRow) -> str:
    return f"{case.forename} {case.surname.upper()}"


async def _cases_by_id(request: web.Request, ids: set[str]) -> dict[str, CaseRow]:
    store = request.app[GATEWAY].store
    out = {}
    for cid in ids:
        row = await store.cases.get(cid)
        if row is not None:
            out[cid] = row
    return out


@routes.get("/queue", allow_head=False)
@allow(Role.OFFICER)
async def queue_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    urgent = await gw.store.cases.find(CaseFilter(urgent_only=True, open_only=True))
    found = await gw.store.watches.listing(PENDING)
    referred = [c for c in await gw.store.cases.find(CaseFilter(states=(CaseState.REFERRED,)))
                if not c.urgent]
    awaiting = await answering.awaiting(gw)
    cases = await _cases_by_id(request, {w.case_id for w in found if w.case_id})
    shown = len(urgent) + len(found) + len(referred)
    await gw.store.audit.add(actor(request), "read-queue", None,
                             f"{shown} children's names shown")
    return render(request, "queue.html", {
        "urgent": urgent, "found": [(w, w.found(), cases.get(w.case_id or "")) for w in found],
        "awaiting": awaiting, "referred": referred, "name": child_name,
        "sent": sent if UUID.fullmatch(sent := request.query.get("sent", "")) else ""})


# ---- the reply form ------------------------------------------------------------------------

async def _reply_page(request: web.Request, *, errors: list[dict[str, str]] | None = None,
                      typed: dict[str, Any] | None = None, partial_asked: bool = False,
                      status: int = 200) -> web.Response:
    gw = request.app[GATEWAY]
    mid = request.match_info["id"]
    proposals = await answering.propose(gw, mid)
    row = await gw.store.inbox.get(mid)
    await gw.store.audit.add(actor(request), "read-proposal", mid,
                             f"{len(proposals)} children's names shown")
    errors = errors or []
    return render(request, "reply.html", {
        "enquiry_id": mid, "sender": row.sender if row else "", "proposals": proposals,
        "outcomes": OUTCOMES, "leave_out": LEAVE_OUT, "typed": typed or {},
        "errors": errors, "field_errors": by_field(errors), "partial_asked": partial_asked,
        "waiting": [p for p in proposals if p.answered is None]}, status=status)


@routes.get(f"/queue/enquiries/{ID}", allow_head=False)
@allow(Role.OFFICER)
async def reply_form(request: web.Request) -> web.Response:
    return await _reply_page(request)


def _chosen(form: Any, proposals: list[answering.Proposal]
            ) -> tuple[list[m.ChildOutcome], list[str], dict[str, Any], list[dict[str, str]]]:
    """The officer's outcome per child from the form: (outcomes, children left out, what was
    typed, errors)."""
    outcomes: list[m.ChildOutcome] = []
    left_out: list[str] = []
    typed: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    valid = {v for v, _ in OUTCOMES}
    for i, p in enumerate(proposals, 1):
        key = f"outcome-{i}"
        value = text(form, key, 40)
        school = text(form, f"school-{i}", 200)
        laestab = text(form, f"laestab-{i}", 7)
        comments = text(form, f"comments-{i}", 2000)
        typed[key], typed[f"school-{i}"], typed[f"laestab-{i}"] = value, school, laestab
        typed[f"comments-{i}"] = comments
        if value == LEAVE_OUT or (not value and p.answered is not None):
            if p.answered is None:
                left_out.append(p.child_ref)
            continue
        if value not in valid:
            errors.append(error(f"Choose an outcome for child {p.child_ref}, or leave the "
                                f"child out", key))
            continue
        outcome = m.Outcome(value)
        sch = None
        if outcome is m.Outcome.KNOWN_ON_ROLL:
            if not school:
                errors.append(error(f"Enter the school child {p.child_ref} is on roll at",
                                    f"school-{i}"))
                continue
            if laestab and not (laestab.isascii() and laestab.isdigit() and len(laestab) == 7):
                errors.append(error("A LAESTAB is 7 digits, like 3524001", f"laestab-{i}"))
                continue
            sch = m.School(name=school, laestab=laestab or None)
        if len(comments) > 2000:
            errors.append(error("Comments must be 2,000 characters or fewer",
                                f"comments-{i}"))
            continue
        outcomes.append(m.ChildOutcome(p.child_ref, outcome, sch, comments or None))
    return outcomes, left_out, typed, errors


@routes.post(f"/queue/enquiries/{ID}")
@allow(Role.OFFICER)
async def reply_post(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    mid = request.match_info["id"]
    form = await request.post()
    who = actor(request)
    comments = text(form, "comments", 2000) or None
    bad = unsendable(form)
    if comments is not None and len(comments) > 2000:  # (``text`` keeps one over, to tell)
        bad = [*bad, error("Comments must be 2,000 characters or fewer", "comments")]
    if bad:
        return await _reply_page(request, errors=bad, status=400)
    if form.get("action") == "approve":
        try:
            chosen = await answering.approved(gw, mid)
            row = await answering.answer(gw, mid, chosen, comments, who)
        except GatewayError as exc:
            waiting = any(p.answered is None for p in await answering.propose(gw, mid))
            return await _reply_page(request, errors=[
                error(exc.text, "approve" if waiting else "outcome-1")], status=exc.status)
        raise web.HTTPSeeOther(f"/queue?sent={row.message_id}")
    proposals = await answering.propose(gw, mid)
    outcomes, left_out, typed, errors = _chosen(form, proposals)
    typed["comments"] = comments or ""
    partial = form.get("partial") == "yes"
    if not errors and not outcomes:
        errors.append(error("Choose an outcome for at least one child", "outcome-1"))
    if not errors and left_out and not partial:
        errors.append(error(f"Child {', '.join(left_out)} has no outcome: answer every "
                            f"child, or confirm that you are sending a partial reply",
                            "partial"))
        return await _reply_page(request, errors=errors, typed=typed, partial_asked=True,
                                 status=400)
    if errors:
        return await _reply_page(request, errors=errors, typed=typed,
                                 partial_asked=bool(left_out), status=400)
    try:
        row = await answering.answer(gw, mid, outcomes, comments, who, partial=partial)
    except GatewayError as exc:
        return await _reply_page(request, errors=[error(exc.text, "outcome-1")], typed=typed,
                                 partial_asked=exc.code == "reply-incomplete",
                                 status=exc.status)
    raise web.HTTPSeeOther(f"/queue?sent={row.message_id}")


# ---- the watch list and its findings ----------------------------------------------------------

@routes.get("/monitoring", allow_head=False)
@allow(Role.OFFICER)
async def monitoring_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    state = request.query.get("state", "")
    errors = []
    states: tuple[WatchState, ...] = (WatchState.WATCHING, *PENDING)
    if state:
        try:
            states = (WatchState(state),)
        except ValueError:
            errors.append(error("Choose a state from the list", "state"))
    rows = [] if errors else await gw.store.watches.listing(states, 1000)
    cases = await _cases_by_id(request, {w.case_id for w in rows if w.case_id})
    await gw.store.audit.add(actor(request), "read-monitoring", None,
                             f"{len(rows)} watched children shown")
    return render(request, "monitoring.html", {
        "rows": [(w, cases.get(w.case_id or "")) for w in rows], "state": state,
        "states": [s.value for s in WatchState], "errors": errors, "name": child_name},
        status=400 if errors else 200)


async def _watch(request: web.Request) -> tuple[WatchRow, CaseRow | None]:
    gw = request.app[GATEWAY]
    wid = request.match_info["id"]
    w = await gw.store.watches.get(wid)
    if w is None:
        raise GatewayError("not-found", f"no watched child {wid}")
    case = await gw.store.cases.get(w.case_id) if w.case_id else None
    return w, case


async def _watch_confirm(request: web.Request, action: str, *,
                         errors: list[dict[str, str]] | None = None,
                         typed: dict[str, str] | None = None, status: int = 200
                         ) -> web.Response:
    w, case = await _watch(request)
    if w.state not in PENDING:
        raise GatewayError("watch-state", f"watch {w.watch_id} is {w.state}: only a found or "
                           f"possible match can be approved or dismissed")
    await request.app[GATEWAY].store.audit.add(actor(request), "read-watch", w.enquiry_id,
                                               f"watch {w.watch_id}")
    errors = errors or []
    return render(request, "watch_confirm.html", {
        "w": w, "found": w.found(), "case": case, "action": action,
        "name": child_name(case) if case else f"child {w.child_ref}",
        "errors": errors, "field_errors": by_field(errors), "typed": typed or {},
        "outcomes": OUTCOMES[:2]}, status=status)


@routes.get(f"/monitoring/{ID}/approve", allow_head=False)
@allow(Role.OFFICER)
async def approve_confirm(request: web.Request) -> web.Response:
    return await _watch_confirm(request, "approve")


@routes.post(f"/monitoring/{ID}/approve")
@allow(Role.OFFICER)
async def approve_post(request: web.Request) -> web.Response:
    form = await request.post()
    chosen = text(form, "outcome", 40)
    typed = {"outcome": chosen, "comments": text(form, "comments", 2000)}
    if unsendable(form):
        return await _watch_confirm(request, "approve", typed=typed, status=400,
                                    errors=unsendable(form))
    if len(typed["comments"]) > 2000:  # (``text`` keeps one character over, to tell)
        return await _watch_confirm(request, "approve", typed=typed, status=400, errors=[
            error("Comments must be 2,000 characters or fewer", "comments")])
    if chosen not in ("", *(v for v, _ in OUTCOMES[:2])):
        return await _watch_confirm(request, "approve", typed=typed, status=400, errors=[
            error("Choose known on roll or known not on roll", "outcome")])
    try:
        await monitoring.report(request.app[GATEWAY], request.match_info["id"],
                                actor(request), m.Outcome(chosen) if chosen else None,
                                comments=typed["comments"] or None)
    except GatewayError as exc:
        if exc.code == "watch-state":
            raise
        return await _watch_confirm(request, "approve", typed=typed, status=exc.status,
                                    errors=[error(exc.text, "outcome")])
    raise web.HTTPSeeOther("/queue")


@routes.get(f"/monitoring/{ID}/dismiss", allow_head=False)
@allow(Role.OFFICER)
async def dismiss_confirm(request: web.Request) -> web.Response:
    return await _watch_confirm(request, "dismiss")


@routes.post(f"/monitoring/{ID}/dismiss")
@allow(Role.OFFICER)
async def dismiss_post(request: web.Request) -> web.Response:
    form = await request.post()
    reason = text(form, "reason", MAX_REASON)
    errors = unsendable(form)
    if not errors and (not reason or len(reason) > MAX_REASON):
        errors = [error(f"Say why this is not the child (at most {MAX_REASON} characters)",
                        "reason")]
    if errors:
        return await _watch_confirm(request, "dismiss", typed={"reason": reason}, status=400,
                                    errors=errors)
    await monitoring.dismiss(request.app[GATEWAY], request.match_info["id"], reason,
                             actor(request))
    raise web.HTTPSeeOther("/queue")
