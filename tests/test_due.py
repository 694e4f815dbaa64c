"""Reply-due dates and overdue enquiries (gateway/exchange/due.py), on the shipped 2026-27
calendar: counted in school days from the day after sending, in England's time."""

from __future__ import annotations

import datetime as dt

from gateway.calendar import example_calendar
from gateway.exchange.due import day_start, local_day, overdue_sent_before, reply_due

CAL = example_calendar()


def counted(sent: dt.date, n: int) -> dt.date:
    """The n-th school day after ``sent``, counted one day at a time."""
    day, seen = sent, 0
    while seen < n:
        day += dt.timedelta(days=1)
        seen += CAL.is_school_day(day)
    return day


def test_ten_school_days_skip_weekends_and_the_christmas_holiday() -> None:
    for sent in (dt.date(2026, 11, 2), dt.date(2026, 12, 14), dt.date(2027, 2, 10)):
        due = reply_due(CAL, 10, day_start(sent) + 3600)
        assert due == counted(sent, 10)
    # Sent on 14 December, the holiday lies between: well over two calendar weeks.
    assert reply_due(CAL, 10, day_start(dt.date(2026, 12, 14))) > dt.date(2027, 1, 1)


def test_the_day_sent_is_englands() -> None:
    # 23:30 UTC on 31 May 2027 is already 1 June in England (BST).
    late = dt.datetime(2027, 5, 31, 23, 30, tzinfo=dt.UTC).timestamp()
    assert local_day(late) == dt.date(2027, 6, 1)


def test_overdue_cutoff_is_the_first_sending_day_not_yet_overdue() -> None:
    today = dt.date(2026, 11, 25)
    cutoff = overdue_sent_before(CAL, 10, today)
    assert cutoff is not None
    before = local_day(cutoff - 1)
    assert reply_due(CAL, 10, cutoff - 1) < today  # sent the day before: overdue
    assert reply_due(CAL, 10, cutoff) >= today  # sent on the cut-off day: not yet
    assert before < local_day(cutoff)


def test_a_calendar_that_does_not_cover_the_dates_gives_no_due_date() -> None:
    assert reply_due(CAL, 10, day_start(dt.date(2030, 1, 7))) is None
    assert overdue_sent_before(CAL, 10, dt.date(2030, 1, 7)) is None
