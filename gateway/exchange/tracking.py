"""Tracking the Enquiries this gateway sends: when each reply is due, and each child's status.

``queue()`` (``outgoing.py``) calls ``track`` for every Enquiry, so the operator API, the
``send`` command and the outbox spool folder all record one: the enquiry with its due date
(``reply_due_school_days`` school days after the day it was sent, on the LA's school
calendar) and one row per child with what the officer needs to see. Replies update the
children (``ReplyArrived`` in ``handlers.py``); chasing and escalation are the workflow's
(``gateway.workflow.chasing``).

Deadlines count in school days. When the calendar does not hold a date (next year's term
dates not configured yet) the count is **estimated**, never refused: an enquiry about a
missing child must still go, and still be chased. The estimate takes a school week as a
calendar week (10 school days = 14 days), is logged as a WARNING naming the message id, and
is shown as estimated.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

from gateway.calendar import Calendar, calendar_for
from gateway.core.clock import local_date
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store import Step, Tx
from gateway.store.chasing import SentChild, SentEnquiry

log = logging.getLogger(__name__)

_calendars: dict[Path | None, tuple[float, Calendar | None]] = {}


def calendar(settings: Settings) -> Calendar | None:
    """The LA's school calendar, loaded once per change of its file; None (logged) if it
    cannot be loaded (start-up refuses such a file; this covers a CLI with a broken one)."""
    path = settings.path(settings.calendar_file) if settings.calendar_file else None
    try:
        mtime = path.stat().st_mtime if path is not None else 0.0
    except OSError:
        mtime = -1.0
    cached = _calendars.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        cal: Calendar | None = calendar_for(settings)
    except GatewayError as exc:
        log.warning("school calendar cannot be loaded; deadlines are estimated: %s", exc.code)
        cal = None
    _calendars[path] = (mtime, cal)
    return cal


def add_school_days(settings: Settings, day: dt.date, n: int,
                    message_id: str) -> tuple[dt.date, bool]:
    """The ``n``-th school day after ``day`` and False; or, if the calendar does not hold
    those dates, an estimate (``n`` school weeks as calendar weeks) and True."""
    cal = calendar(settings)
    if cal is not None:
        try:
            return cal.add_school_days(day, n), False
        except GatewayError:
            pass
    days = math.ceil(n * 7 / 5)
    log.warning("school calendar does not hold the dates for message=%s: deadline estimated "
                "as %d calendar days", message_id, days)
    return day + dt.timedelta(days=days), True


def school_days_after(settings: Settings, day: dt.date, until: dt.date) -> tuple[int, bool]:
    """School days after ``day`` up to ``until`` included (how overdue a reply is), and
    whether that is an estimate (weekdays, when the calendar does not hold the dates)."""
    if until <= day:
        return 0, False
    cal = calendar(settings)
    if cal is not None:
        try:
            return cal.school_days(day + dt.timedelta(days=1), until), False
        except GatewayError:
            pass
    weekdays = sum(1 for i in range(1, (until - day).days + 1)
                   if (day + dt.timedelta(days=i)).weekday() < 5)
    return weekdays, True


def _school(s: m.School | None) -> str | None:
    if s is None:
        return None
    return f"{s.name} ({s.laestab})" if s.laestab else s.name


def track(gw: Gateway, enquiry: m.Enquiry, sent_at: float) -> Step:
    """The step that records a sent Enquiry and its children, with its reply's due date."""
    h = enquiry.header
    sent_on = local_date(sent_at)
    due, estimated = add_school_days(gw.settings, sent_on, gw.settings.reply_due_school_days,
                                     h.message_id)
    row = SentEnquiry(message_id=h.message_id, recipient=h.recipient,
                      conversation_id=h.conversation_id, sent_at=sent_at,
                      sent_on=sent_on.isoformat(), due_on=due.isoformat(),
                      due_estimated=int(estimated), chase_after=due.isoformat())
    children = [SentChild(message_id=h.message_id, child_ref=c.child_ref, surname=c.surname,
                          forename=c.forename, middle_names=c.middle_names,
                          dob=c.dob.isoformat() if c.dob else None,
                          school_last_attended=_school(c.school_last_attended))
                for c in enquiry.children]

    async def step(tx: Tx) -> None:
        await gw.store.chasing.track(tx, row, children)

    return step
