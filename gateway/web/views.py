"""What the outbox pages show of a stored message: its children (from the signed body), its
state as the officer sees it (``overdue`` is derived), its reply-due date, and times in
England. Shared by the outbox list and the message page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.calendar import Calendar
from gateway.core.errors import ERRORS, GatewayError
from gateway.exchange.due import AWAITING_REPLY, ENGLAND, is_overdue, local_day, reply_due
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboundRow, OutboxState

OPEN = (OutboxState.QUEUED, OutboxState.SENDING)
# GOV.UK tag colours (govuk-tag--<colour>) per state shown.
TAG = {"queued": "grey", "sending": "light-blue", "delivered": "blue", "answered": "green",
       "closed": "grey", "overdue": "orange", "failed": "red", "expired": "red",
       "cancelled": "grey"}
STATES = ("queued", "sending", "delivered", "answered", "overdue", "failed", "expired",
          "cancelled", "closed")


@dataclass(frozen=True)
class Child:
    ref: str
    forename: str
    surname: str

    @property
    def name(self) -> str:
        return f"{self.forename} {self.surname.upper()}"


def children(body: bytes) -> list[Child]:
    """The children a stored message names (an Enquiry's, a Referral's one), else none."""
    try:
        message = mx.parse_stored(body)
    except (GatewayError, ValueError):
        return []
    if isinstance(message, m.Enquiry):
        return [Child(c.child_ref, c.forename, c.surname) for c in message.children]
    if isinstance(message, m.Referral):
        return [Child("1", message.child.forename, message.child.surname)]
    return []


def may_name(body: bytes, words: list[str]) -> bool:
    """A quick look at the raw XML before parsing it: every word appears somewhere in it (any
    case). Only a message that passes is parsed and checked child by child (``matches``), so
    a search reads thousands of messages without parsing each."""
    text = body.decode("utf-8", "replace").casefold()
    return all(w in text for w in words)


def matches(kids: list[Child], words: list[str]) -> bool:
    """Every word of the search is in one child's forename or surname (any case)."""
    return any(all(w in f"{c.forename} {c.surname}".casefold() for w in words) for c in kids)


@dataclass(frozen=True)
class View:
    row: OutboundRow
    kids: list[Child]  # empty unless the viewer may see names (officers)
    count: int  # how many children the message names
    due: dt.date | None
    shown_state: str

    @property
    def tag(self) -> str:
        return TAG.get(self.shown_state, "grey")

    @property
    def next_retry(self) -> float | None:
        return self.row.next_attempt_at if self.row.state in OPEN else None

    @property
    def error_sentence(self) -> str | None:
        code = self.row.error_code
        if code is None:
            return None
        if code == "expired":
            return ("No receipt came back before the message expired; check the partner "
                    "is reachable (Diagnostics), then resend it.")
        if code == "cancelled":
            return "An officer cancelled the message before it was delivered."
        known = ERRORS.get(code)
        return known[1] if known else None


def view(row: OutboundRow, calendar: Calendar, school_days: int, today: dt.date,
         body: bytes | None = None, names: bool = False,
         tracked: dict[str, Any] | None = None) -> View:
    """``names``: keep the children's names (only for officers); else only their count.

    ``tracked``: the chasing view of a sent Enquiry (``gateway.workflow.chasing.views``), the
    one source of its due date and of whether it is overdue (a child still awaiting an
    answer after the due day). Only an enquiry the gateway never tracked (sent before
    tracking existed) has its due date computed here, from the calendar."""
    if tracked is not None:
        due: dt.date | None = dt.date.fromisoformat(tracked["due_on"])
        late = tracked["overdue"] and row.state in AWAITING_REPLY
    else:
        due = (reply_due(calendar, school_days, row.created_at)
               if row.message_type == m.MessageType.ENQUIRY.value else None)
        late = is_overdue(row, due, today)
    shown = "overdue" if late else row.state.value
    kids = children(body) if body else []
    return View(row, kids if names else [], len(kids), due, shown)


def when(ts: float | None) -> str:
    """A time as England reads it: ``5 Dec 2026, 14:03``."""
    if ts is None:
        return ""
    t = dt.datetime.fromtimestamp(ts, ENGLAND)
    return f"{t.day} {t:%b %Y, %H:%M}"


def day(d: dt.date | float | None) -> str:
    if d is None:
        return ""
    d = local_day(d) if isinstance(d, float) else d
    return f"{d.day} {d:%b %Y}"
