"""The CME time rules, counted on an LA's school calendar (docs/calendar.md).

Sources: the seed (``shared/domain/cme-guidelines-and-procedures.txt``, Salford's CME
guidelines and procedures, 2011), named by its section, and the newer statutory notes
(``shared/reference``), which win where the two disagree on a current duty.

Weeks are counted in school time, five school days a week: a child is missing *education*
only on days there is education to miss, so a holiday neither adds to nor breaks a run of
weeks out of provision or of non-attendance. The regulations count the same periods in
school days (20 school days is the "four weeks" of the removal-from-roll ground). In an
ordinary run of term, four school weeks from a Monday end on the Monday four weeks later,
just as four calendar weeks would.

Two kinds of date come back:

- a **threshold** ("from"): the first school day on which the condition already holds,
  i.e. the school day after the N-th school day counted from the start (the start counted
  when it is itself a school day);
- a **deadline** ("due by"): the N-th school day after an event (the event's day not
  counted), the last day on which acting is in time.
"""

from __future__ import annotations

import datetime as dt

from gateway.calendar.age import last_friday_in_june
from gateway.calendar.model import Calendar, school_year_of

SCHOOL_WEEK = 5  # school days in a school week


def school_weeks(weeks: int) -> int:
    return weeks * SCHOOL_WEEK


def after_school_days(calendar: Calendar, since: dt.date, n: int) -> dt.date:
    """The first school day by which ``n`` school days counted from ``since`` (included
    when it is a school day) are over: the (``n`` + 1)-th school day from ``since``."""
    return calendar.nth_school_day_from(since, n + 1)


def cme_from(calendar: Calendar, out_of_provision_since: dt.date) -> dt.date:
    """The day a child of compulsory school age, out of any educational provision from
    ``out_of_provision_since`` (the first day without it), becomes a child missing
    education: once four weeks (20 school days) out of provision are behind them.

    Seed, "Definitions for Child Missing from Education": "... out of any educational
    provision for a substantial period of time (usually agreed as four weeks or more)"."""
    return after_school_days(calendar, out_of_provision_since, school_weeks(4))


def long_term_non_attender_from(calendar: Calendar, absent_since: dt.date) -> dt.date:
    """The day a child who has not attended their provision since ``absent_since`` (the
    first school day missed) becomes a long-term non-attender: six consecutive weeks (30
    school days) of non-attendance behind them.

    Seed, "Definitions for Child Missing from Education" ("Long-term non-attenders (defined
    as those who have not attended school for 6 consecutive weeks)") and "Identifying a
    child missing education or at risk of doing so" ("... not attended their allocated
    provision for a period of six consecutive weeks will be deemed to be long term
    non-attenders")."""
    return after_school_days(calendar, absent_since, school_weeks(6))


CTF_DUE_SCHOOL_DAYS = 15
REMOVAL_SCHOOL_DAYS = 20


def ctf_due_by(calendar: Calendar, left_roll_on: dt.date) -> dt.date:
    """The last day for the old school to send a pupil's CTF: the 15th school day after
    ``left_roll_on`` (the day the pupil came off the roll). When the destination is still
    unknown by then, it is a "lost" CTF to XXXXXXX, for the Lost Pupils Database.

    shared/reference/ctf-notes.md 2.2 (Education (Pupil Information) (England) Regulations
    2005: "within 15 school days of the pupil leaving") and 2.1 (S2S overview: "an unknown
    destination waits 15 school days and then uses XXXXXXX"); statutory-notes.md "CTF".
    The seed's "Missing Pupils" section gave the school 4 weeks to post the pupil on S2S;
    the statutory 15 school days is newer and shorter, and wins."""
    return calendar.add_school_days(left_roll_on, CTF_DUE_SCHOOL_DAYS)


def removal_from_roll_from(calendar: Calendar, absent_since: dt.date) -> dt.date:
    """The first day a school may take a pupil whose whereabouts are unknown off its roll
    (and send a lost CTF): once 20 school days of continuous absence from ``absent_since``
    are behind them, and only if the school and the LA have jointly made reasonable
    enquiries and failed to find the child.

    Seed, "What should we do if we believe a pupil to be missing?" ("If on completion of
    [the remove no trace checklist] the pupil has not been located and 4 weeks have
    elapsed the school should remove the child's name from their roll and complete the
    'lost' CTF"); ctf-notes.md 2.1 (Durham: "after 20 school days of failed tracing");
    statutory-notes.md "Whereabouts unknown" (the joint enquiries)."""
    return after_school_days(calendar, absent_since, REMOVAL_SCHOOL_DAYS)


def half_termly_reviews(calendar: Calendar, start: dt.date,
                        count: int | None = None) -> list[dt.date]:
    """Review dates of a case opened (or a child placed) on ``start``: the last school day
    of every half-term block after ``start`` (autumn 1, autumn 2, spring 1, ...), the first
    being the end of the half term ``start`` falls in. ``count`` reviews, or every one the
    calendar holds when ``count`` is None.

    The reviews follow the calendar's half terms rather than six weeks from each start
    date because the seed's CME officer reviews the whole caseload at once: "Identifying a
    child missing education or at risk of doing so" ("checks via access to EMS on a half
    termly basis") and the Referral Process Flowchart ("Review ½ termly")."""
    calendar.year(start)  # refuses a start the calendar does not hold
    reviews: list[dt.date] = []
    for block in calendar.blocks():
        last = calendar.last_school_day(block)
        if last is not None and last > start:
            calendar.require(start, last)  # no school year missing in between
            reviews.append(last)
            if len(reviews) == count:
                return reviews
    if count is not None:
        raise calendar.not_held(calendar.years[-1].start_year + 1)
    return reviews


def monitoring_ends(calendar: Calendar, placed_on: dt.date) -> dt.date:
    """The last day of monitoring of a child placed with an education provider on
    ``placed_on`` (their first day there): the last school day of their first full term,
    the first term whose first school day is on or after ``placed_on``. A child placed in
    the middle of a term is monitored for the rest of it and the whole of the next.

    Seed, "Maintaining contact": "Once the child has been placed with an educational
    provider, their attendance should be monitored for a term ... track the placement for
    a period of one term"; Referral Process Flowchart: "CME Officer Tracks & Monitors for 1
    term". Attendance is judged over a whole term, so the term is a full one."""
    calendar.year(placed_on)
    for term in calendar.terms():
        first = calendar.first_school_day(term)
        last = calendar.last_school_day(term)
        if first is not None and last is not None and first >= placed_on:
            calendar.require(placed_on, last)
            return last
    raise calendar.not_held(calendar.years[-1].start_year + 1)


def year11_cover_ends(on: dt.date) -> dt.date:
    """The last day a Year 11 pupil in the school year holding ``on`` is covered by the CME
    policy: the last Friday in June of that school year. Seed, the footnote to "Category
    Definitions": "Year 11 pupils are covered by this policy until the last Friday in June
    of their last year at school". It is the statutory school leaving date too (Education
    (School Leaving Date) Order 1997), the day compulsory school age ends for Year 11."""
    return last_friday_in_june(school_year_of(on) + 1)
