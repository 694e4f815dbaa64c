"""When a reply to an enquiry is due, and which enquiries are overdue.

The store does not yet record a reply-due date: it is computed here, from the day the enquiry
was sent (in England) and ``reply_due_school_days`` school days on the LA's calendar. The case
workflow will store due dates and chase; until then this is the one place that says when a
reply is due, and the outbox page and its "overdue" filter both ask it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gateway.calendar import Calendar
from gateway.core.errors import GatewayError
from gateway.store import OutboundRow, OutboxState

ENGLAND = ZoneInfo("Europe/London")
AWAITING_REPLY = (OutboxState.DELIVERED,)  # delivered, no reply linked yet
ONE_DAY = dt.timedelta(days=1)


def local_day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, ENGLAND).date()


def day_start(day: dt.date) -> float:
    """The first instant of ``day`` in England, as UNIX seconds."""
    return dt.datetime.combine(day, dt.time(), ENGLAND).timestamp()


def reply_due(calendar: Calendar, school_days: int, sent_at: float) -> dt.date | None:
    """The last school day on which a reply to an enquiry sent at ``sent_at`` is in time:
    the ``school_days``-th school day after the day it was sent. None when the calendar does
    not cover those days (load the next school year's calendar)."""
    try:
        return calendar.add_school_days(local_day(sent_at), school_days)
    except GatewayError:
        return None


def is_overdue(row: OutboundRow, due: dt.date | None, today: dt.date) -> bool:
    return (row.message_type == "Enquiry" and row.state in AWAITING_REPLY
            and due is not None and due < today)


def overdue_sent_before(calendar: Calendar, school_days: int, today: dt.date) -> float | None:
    """Enquiries sent before this instant have a reply due date before ``today`` (due dates
    grow with the day sent). None when the calendar cannot tell."""
    day = today
    for _ in range(400):  # a school year and then some: due dates are weeks, not years
        due = reply_due(calendar, school_days, day_start(day))
        if due is None:
            return None
        if due < today:
            return day_start(day + ONE_DAY)
        day -= ONE_DAY
    return None
