"""``/outbox``: every message this gateway sent, newest first, one row each: partner, type,
children (a count; names for officers), created, state (``overdue`` derived from the reply-due
date), attempts, next retry, receipt time and reply due. Filters by state, partner, type and
date sent; search by message id or, for officers, by a child's name (audited, never the name
itself). Keyset pagination on the store's listing."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.core.parties import PARTY_RE
from gateway.exchange.due import day_start, local_day, overdue_sent_before
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store import OutboundRow, OutboxState, Role
from gateway.web.frame import EVERYONE, actor, allow, render, user_role
from gateway.web.keys import CALENDAR, GATEWAY
from gateway.web.views import STATES, View, matches, may_name, view
from gateway.workflow import chasing

routes = web.RouteTableDef()
PAGE = 50
MAX_SEARCH = 100
NAME_SCAN = 2000  # messages read per page of a name search (each body is read, see may_name)
NAME_BATCH = 250
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CURSOR = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)_([0-9a-f-]{36})")
TYPES = [t.value for t in (m.MessageType.ENQUIRY, m.MessageType.REPLY, m.MessageType.REFERRAL,
                           m.MessageType.TRANSFER, m.MessageType.CTF_NOTICE,
                           m.MessageType.LPD_SEARCH, m.MessageType.LPD_CLAIM)]


@dataclass(frozen=True)
class Filters:
    state: str = ""
    partner: str = ""
    mtype: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""
    before: tuple[float, str] | None = None

    def query(self, **changes: Any) -> str:
        f = replace(self, **changes)
        pairs: list[tuple[str, str]] = [(k, v) for k, v in (
            ("state", f.state), ("partner", f.partner), ("type", f.mtype), ("q", f.q)) if v]
        for name, d in (("from", f.date_from), ("to", f.date_to)):
            if d:
                pairs += [(f"{name}-day", str(d.day)), (f"{name}-month", str(d.month)),
                          (f"{name}-year", str(d.year))]
        if f.before:
            pairs.append(("before", f"{f.before[0]!r}_{f.before[1]}"))
        return "?" + urlencode(pairs) if pairs else ""


def _date(query: Any, name: str, label: str, errors: list[dict[str, str]]
          ) -> tuple[dt.date | None, dict[str, str]]:
    parts = {p: str(query.get(f"{name}-{p}", "")).strip()[:4] for p in ("day", "month", "year")}
    if not any(parts.values()):
        return None, parts
    try:
        if not all(v.isascii() and v.isdigit() for v in parts.values()):
            raise ValueError("digits")
        day = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        if not 2000 <= day.year <= 2100:
            raise ValueError("year")
        return day, parts
    except ValueError:
        errors.append({"text": f"{label} must be a real date between 2000 and 2100, like "
                               f"27 3 2026", "href": f"#{name}-day"})
        return None, parts


def parse_filters(query: Any, role: Role | None) -> tuple[Filters, list[dict[str, str]],
                                                          dict[str, Any]]:
    """The filters asked for, the errors to show (GOV.UK error summary), and what the user
    typed (to show it back)."""
    errors: list[dict[str, str]] = []
    state = str(query.get("state", ""))
    if state and state not in STATES:
        errors.append({"text": "Choose a state from the list", "href": "#state"})
        state = ""
    partner = str(query.get("partner", "")).strip()
    if partner and not PARTY_RE.match(partner):
        errors.append({"text": "Partner must be a party id, like 352", "href": "#partner"})
        partner = ""
    mtype = str(query.get("type", ""))
    if mtype and mtype not in TYPES:
        errors.append({"text": "Choose a message type from the list", "href": "#type"})
        mtype = ""
    date_from, typed_from = _date(query, "from", "Sent from", errors)
    date_to, typed_to = _date(query, "to", "Sent to", errors)
    if date_from and date_to and date_from > date_to:
        errors.append({"text": "Sent from must be on or before sent to", "href": "#from-day"})
    q = str(query.get("q", "")).strip()
    if len(q) > MAX_SEARCH:
        errors.append({"text": f"Search must be {MAX_SEARCH} characters or fewer",
                       "href": "#q"})
        q = ""
    elif q and not _UUID.fullmatch(q) and role is not Role.OFFICER:
        errors.append({"text": "Search by message id (only officers may search by a "
                       "child's name)", "href": "#q"})
        q = ""
    before = None
    cursor = str(query.get("before", ""))
    if cursor:
        found = _CURSOR.fullmatch(cursor)
        if not found:
            errors.append({"text": "The page link is not valid; start again from the newest",
                           "href": "#q"})
        else:
            before = (float(found.group(1)), found.group(2))
    return (Filters(state, partner, mtype, date_from, date_to, q, before), errors,
            {"from": typed_from, "to": typed_to})


async def listing(request: web.Request, f: Filters) -> tuple[list[View], str | None, int]:
    """One page of the outbox for these filters: the views, the next page's cursor, and how
    many messages a name search read."""
    gw = request.app[GATEWAY]
    calendar = request.app[CALENDAR]
    school_days = gw.settings.reply_due_school_days
    today = local_day(gw.clock.time())  # in England, as the due dates are
    names = user_role(request) is Role.OFFICER
    state: OutboxState | None = None
    mtype = f.mtype or None
    until = day_start(f.date_to + dt.timedelta(days=1)) if f.date_to else None
    if f.state == "overdue":
        cutoff = overdue_sent_before(calendar, school_days, today)
        if cutoff is None or (mtype and mtype != m.MessageType.ENQUIRY.value):
            return [], None, 0
        state, mtype = OutboxState.DELIVERED, m.MessageType.ENQUIRY.value
        until = cutoff if until is None else min(until, cutoff)
    elif f.state:
        state = OutboxState(f.state)
    search_id = f.q if _UUID.fullmatch(f.q) else None
    words = f.q.casefold().split() if f.q and not search_id else []
    kw: dict[str, Any] = {"state": state, "recipient": f.partner or None,
                          "message_type": mtype, "message_id": search_id,
                          "created_from": day_start(f.date_from) if f.date_from else None,
                          "created_until": until}
    store = gw.store.outbox
    if not words:
        rows = await store.recent(limit=PAGE + 1, before=f.before, with_body=True, **kw)
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        tracked = await tracking(gw, rows)
        views = [_shown(view(r, calendar, school_days, today, r.body, names,
                             tracked.get(r.message_id)), f.state) for r in rows]
        nxt = _cursor(rows[-1]) if more and rows else None
        return [v for v in views if v is not None], nxt, 0
    # A name search reads bodies (names are only in the signed XML), newest first, at most
    # NAME_SCAN a page; "next" carries on from where it stopped.
    found: list[View] = []
    scanned = 0
    before = f.before
    last: OutboundRow | None = None
    exhausted = False
    while len(found) < PAGE and scanned < NAME_SCAN:
        want = min(NAME_BATCH, NAME_SCAN - scanned)
        batch = await store.recent(limit=want, before=before, with_body=True, **kw)
        tracked = await tracking(gw, batch)
        for r in batch:
            scanned += 1
            last = r
            if not may_name(r.body, words):
                continue
            v = view(r, calendar, school_days, today, r.body, names=True,
                     tracked=tracked.get(r.message_id))
            if matches(v.kids, words) and _shown(v, f.state) is not None:
                found.append(v)
                if len(found) == PAGE:
                    break
        if len(batch) < want and (not batch or last is batch[-1]):
            exhausted = True
            break
        if last is not None:
            before = _key(last)
    nxt = _cursor(last) if last is not None and not exhausted else None
    await gw.store.audit.add(actor(request), "search-child-name", None,
                             f"{len(found)} found in {scanned} messages read")
    return found, nxt, scanned


async def tracking(gw: Gateway, rows: list[OutboundRow]) -> dict[str, dict[str, Any]]:
    """The chasing view (due date, overdue, children's answers) of the enquiries among
    ``rows``: the one source of their due dates (``gateway.workflow.chasing.views``)."""
    ids = [r.message_id for r in rows if r.message_type == m.MessageType.ENQUIRY.value]
    if not ids:
        return {}
    return await chasing.views(gw.store, gw.settings, ids, gw.clock.time())


def _shown(v: View, wanted: str) -> View | None:
    """Delivered enquiries past their due date are shown (and filtered) as overdue. The
    ``overdue`` filter selects by the computed due date; a row whose tracked due date says
    otherwise (an estimated one) is left out, so the filter never lists a row not tagged
    overdue."""
    if wanted == "delivered" and v.shown_state == "overdue":
        return None
    if wanted == "overdue" and v.shown_state != "overdue":
        return None
    return v


def _key(row: OutboundRow) -> tuple[float, str]:
    return (row.created_at, row.message_id)


def _cursor(row: OutboundRow) -> str:
    return f"{row.created_at!r}_{row.message_id}"


@routes.get("/outbox")
@allow(*EVERYONE)
async def outbox_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    role = user_role(request)
    f, errors, typed = parse_filters(request.query, role)
    views: list[View] = []
    nxt: str | None = None
    scanned = 0
    if not errors:
        views, nxt, scanned = await listing(request, f)
        named = sum(1 for v in views if v.kids)
        if named:
            await gw.store.audit.add(actor(request), "read-outbox", None,
                                     f"{named} messages shown with children's names")
    next_query = None
    if nxt:
        ts, _, mid = nxt.partition("_")
        next_query = f.query(before=(float(ts), mid))
    return render(request, "outbox.html", {
        "views": views, "filters": f, "typed": typed, "errors": errors,
        "partner_options": [(p, p) for p in await gw.store.outbox.recipients()],
        "type_options": [(t, t) for t in TYPES],
        "state_options": [(s, s.capitalize()) for s in STATES],
        "next_query": next_query, "newest_query": f.query(before=None) if f.before else None,
        "scanned": scanned, "name_search": bool(f.q and not _UUID.fullmatch(f.q)),
        "names": role is Role.OFFICER, "reply_days": gw.settings.reply_due_school_days},
        status=400 if errors else 200)

