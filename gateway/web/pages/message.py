"""``/outbox/<id>``: one sent message: its details, the children it names (officers only;
every view is audited), the timeline of every state it went through, the receipt, the
replies linked to it, the error code and its sentence on failure, and the signed XML to
download (officers). Actions, each behind a confirm page and audited: resend a failed or
expired message (a new id, linked to this one), cancel one not yet delivered, chase an
overdue enquiry (a signed Chaser in its conversation, ``gateway.workflow.chasing.chase``);
and, for a child whose later "not known" is held over a "known", the officer's decision
(accept it or keep the known outcome, with the reason: ``chasing.review``).

A sent Enquiry also shows each child's status from the chasing tracking (the one source of
its due date): the outcome and school, who answered and when, a later answer held for review;
and the enquiry's due date, how overdue it is, the chasers sent and any escalation. Managers
see the same without the children's names."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.exchange.actions import CANCELLABLE, RESENDABLE, cancel, resend
from gateway.exchange.due import local_day
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store import OutboundRow, OutboxEvent, Role
from gateway.store.outbox import DELIVERED_STATES
from gateway.web.frame import EVERYONE, actor, allow, render, user_role
from gateway.web.keys import CALENDAR, GATEWAY
from gateway.web.views import view
from gateway.workflow import chasing

routes = web.RouteTableDef()
ID = r"{id:[0-9a-f-]{36}}"


async def _row(request: web.Request, with_body: bool = True) -> OutboundRow:
    mid = request.match_info["id"]
    row = await request.app[GATEWAY].store.outbox.get(mid, with_body=with_body)
    if row is None:
        raise GatewayError("not-found", f"no sent message {mid}")
    return row


# No HEAD for the pages that show or give out a child's details: each GET is audited.
@routes.get(f"/outbox/{ID}", allow_head=False)
@allow(*EVERYONE)
async def message_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    row = await _row(request)
    officer = user_role(request) is Role.OFFICER
    today = local_day(gw.clock.time())  # in England, as the due dates are
    tracked = await _tracked(gw, row)
    v = view(row, request.app[CALENDAR], gw.settings.reply_due_school_days, today, row.body,
             names=officer, tracked=tracked)
    if tracked is not None and not officer:
        tracked = {**tracked, "children": [_nameless(c) for c in tracked["children"]]}
    if v.kids:
        await gw.store.audit.add(actor(request), "read-outbound", row.message_id,
                                 f"{len(v.kids)} children's names shown")
    resent_from, resent_as = await gw.store.outbox.resends(row.message_id)
    chasers = await gw.store.chasing.chasers(row.message_id) if tracked else []
    return render(request, "message.html", {
        "v": v, "row": row, "timeline": await timeline(gw, row),
        "resent_from": resent_from, "resent_as": resent_as, "officer": officer,
        "tracked": tracked, "chasers": chasers, "chased": request.query.get("chased") == "1",
        "can_resend": officer and row.state in RESENDABLE and row.payload_path is None,
        "can_cancel": officer and row.state in CANCELLABLE,
        "can_chase": officer and _chaseable(row, tracked)})


async def _tracked(gw: Gateway, row: OutboundRow) -> dict[str, Any] | None:
    if row.message_type != m.MessageType.ENQUIRY.value:
        return None
    return (await chasing.views(gw.store, gw.settings, [row.message_id], gw.clock.time())
            ).get(row.message_id)


NAMES = ("surname", "forename", "middle_names", "dob")


def _nameless(child: dict[str, Any]) -> dict[str, Any]:
    """A child's status without what identifies the child (for managers)."""
    return {k: v for k, v in child.items() if k not in NAMES}


def _chaseable(row: OutboundRow, tracked: dict[str, Any] | None) -> bool:
    """Chasing is offered for an overdue enquiry: delivered, a child still awaiting an
    answer after the due day."""
    return bool(tracked and tracked["overdue"] and row.state in DELIVERED_STATES)


@routes.get(f"/outbox/{ID}/signed.xml", allow_head=False)
@allow(Role.OFFICER)
async def signed_xml(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    row = await _row(request)
    await gw.store.audit.add(actor(request), "download-outbound", row.message_id)
    return web.Response(body=row.body, content_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{row.message_id}.xml"'})


def _moved(e: OutboxEvent) -> dict[str, Any]:
    what = f"{e.from_state} → {e.to_state}" if e.from_state else f"made and {e.to_state}"
    if e.from_state == e.to_state == "answered":
        what = "answer updated"
    ref = e.reason.removeprefix("reply ") if e.reason and e.reason.startswith("reply ") else None
    return {"at": e.at, "what": what, "detail": None if ref else (e.reason or ""), "ref": ref}


async def timeline(gw: Gateway, row: OutboundRow) -> list[dict[str, Any]]:
    """Every state the message went through, the receipt, and every message received in
    reply to it, in time order."""
    items = [_moved(e) for e in await gw.store.outbox.events(row.message_id)]
    if row.delivered_at is not None:
        items.append({"at": row.delivered_at, "what": "signed receipt verified",
                      "detail": "the partner's receipt names this message and its digest",
                      "ref": None})
    for r in await gw.store.inbox.answers_to(row.conversation_id, row.message_id):
        items.append({"at": r.received_at, "what": f"{r.message_type} received",
                      "detail": None, "ref": r.message_id})
    return sorted(items, key=lambda i: i["at"])


ACTIONS = {
    "resend": ("Resend this message?", "Resend message",
               "It is signed again and sent under a new message id, linked to this one. "
               "Check first that the partner is reachable again (Diagnostics)."),
    "cancel": ("Cancel this message?", "Cancel message",
               "It will not be sent. If a delivery attempt is under way you will be asked to "
               "try again in a minute. This cannot be undone; you can send it again later."),
    "chase": ("Chase this enquiry?", "Send a chaser",
              "A signed Chaser goes to the partner in the enquiry's conversation, naming the "
              "children still awaiting an answer. It is counted towards escalation."),
}


async def _confirm(request: web.Request, action: str) -> web.Response:
    row = await _row(request, with_body=False)
    if action == "chase":
        await _check_chaseable(request, row)
    else:
        allowed = RESENDABLE if action == "resend" else CANCELLABLE
        if row.state not in allowed:
            raise GatewayError("invalid-state", f"the message is {row.state.value}")
    title, button, warning = ACTIONS[action]
    return render(request, "confirm.html", {"row": row, "action": action, "title": title,
                                            "button": button, "warning": warning})


@routes.get(f"/outbox/{ID}/resend")
@allow(Role.OFFICER)
async def resend_confirm(request: web.Request) -> web.Response:
    return await _confirm(request, "resend")


@routes.post(f"/outbox/{ID}/resend")
@allow(Role.OFFICER)
async def resend_post(request: web.Request) -> web.Response:
    new = await resend(request.app[GATEWAY], request.match_info["id"], actor(request))
    raise web.HTTPSeeOther(f"/outbox/{new.message_id}")


@routes.get(f"/outbox/{ID}/cancel")
@allow(Role.OFFICER)
async def cancel_confirm(request: web.Request) -> web.Response:
    return await _confirm(request, "cancel")


@routes.post(f"/outbox/{ID}/cancel")
@allow(Role.OFFICER)
async def cancel_post(request: web.Request) -> web.Response:
    mid = request.match_info["id"]
    await cancel(request.app[GATEWAY], mid, actor(request))
    raise web.HTTPSeeOther(f"/outbox/{mid}")


async def _check_chaseable(request: web.Request, row: OutboundRow) -> None:
    if not _chaseable(row, await _tracked(request.app[GATEWAY], row)):
        raise GatewayError("enquiry-not-chaseable", f"enquiry {row.message_id} is not overdue "
                           f"(a delivered enquiry with a child still awaiting an answer after "
                           f"its due day)")


@routes.get(f"/outbox/{ID}/chase")
@allow(Role.OFFICER)
async def chase_confirm(request: web.Request) -> web.Response:
    return await _confirm(request, "chase")


@routes.post(f"/outbox/{ID}/chase")
@allow(Role.OFFICER)
async def chase_post(request: web.Request) -> web.Response:
    """The chaser is audited by ``chasing.chase`` (with the officer), in its transaction."""
    row = await _row(request, with_body=False)
    await _check_chaseable(request, row)
    await chasing.chase(request.app[GATEWAY], row.message_id, actor(request))
    raise web.HTTPSeeOther(f"/outbox/{row.message_id}?chased=1")


@routes.post(f"/outbox/{ID}/children/{{ref}}/review")
@allow(Role.OFFICER)
async def review_post(request: web.Request) -> web.Response:
    """An officer's decision on a child's later "not known" held over a "known" (accept it,
    or keep the known outcome); ``chasing.review`` audits it with the reason."""
    row = await _row(request, with_body=False)
    form = await request.post()
    decision, reason = form.get("decision"), form.get("reason")
    if decision not in ("accept", "reject"):
        raise GatewayError("bad-request", "choose to accept the later answer or keep the "
                           "earlier one")
    await chasing.review(request.app[GATEWAY], row.message_id, request.match_info["ref"],
                         decision == "accept", actor(request),
                         reason if isinstance(reason, str) else "")
    raise web.HTTPSeeOther(f"/outbox/{row.message_id}")
