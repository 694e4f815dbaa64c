"""Compulsory school age in England (Education Act 1996 s.8).

It begins on the first prescribed day (31 December, 31 March or 31 August) on or after the
fifth birthday: s.8(2), the Education (Start of Compulsory School Age) Order 1998. A child
whose fifth birthday *is* a prescribed day begins that day (s.8(2)(a)).

It ends at the end of the school leaving date, the last Friday in June (Education (School
Leaving Date) Order 1997), of the school year in which the child turns 16, the school year
running 1 September to 31 August: s.8(3). So a child who turns 16 on 31 August leaves in the
June before (aged 15), and one who turns 16 on 1 September leaves the June after.

This needs no term dates. It gives the same answers as ``gateway.matching.school_age``
(which the matcher uses and may not import the calendar); tests/test_calendar.py checks it.
"""

from __future__ import annotations

import datetime as dt

from gateway.calendar.model import school_year_of

PRESCRIBED_DAYS = ((3, 31), (8, 31), (12, 31))  # (month, day), in calendar order
# The earliest year of birth a form or a school's return may give for a child: anything
# before is a mistyped year (1016 for 2016), which no one could match or count an age from.
EARLIEST_BIRTH_YEAR = 1990


def birth_possible(dob: dt.date, today: dt.date) -> bool:
    """A child's date of birth that can be true: from ``EARLIEST_BIRTH_YEAR``, not after
    today."""
    return EARLIEST_BIRTH_YEAR <= dob.year and dob <= today


def birthday(dob: dt.date, age: int) -> dt.date:
    """The day a child born on ``dob`` turns ``age`` (at its start: Family Law Reform Act
    1969 s.9). Someone born on 29 February is taken to turn a year older on 1 March in a
    common year, as ``gateway.matching.school_age`` does; the statute does not settle it,
    but no boundary of compulsory school age falls on 28 February or 1 March, so 28
    February would give the same results (a test checks it)."""
    try:
        return dob.replace(year=dob.year + age)
    except ValueError:
        return dt.date(dob.year + age, 3, 1)


def last_friday_in_june(year: int) -> dt.date:
    end = dt.date(year, 6, 30)
    return end - dt.timedelta(days=(end.weekday() - 4) % 7)


def compulsory_from(dob: dt.date) -> dt.date:
    fifth = birthday(dob, 5)
    return next(d for m, day in PRESCRIBED_DAYS if (d := dt.date(fifth.year, m, day)) >= fifth)


def compulsory_until(dob: dt.date) -> dt.date:
    """The last day of compulsory school age: the last Friday in June of the school year
    in which the child turns 16 (included)."""
    return last_friday_in_june(school_year_of(birthday(dob, 16)) + 1)


def compulsory_school_age(dob: dt.date) -> tuple[dt.date, dt.date]:
    """``(compulsory_from, compulsory_until)``: the first and the last day on which a child
    born on ``dob`` is of compulsory school age, both included."""
    return compulsory_from(dob), compulsory_until(dob)


def of_compulsory_age(dob: dt.date, on: dt.date) -> bool:
    start, end = compulsory_school_age(dob)
    return start <= on <= end
