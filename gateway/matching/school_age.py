"""Compulsory school age in England (Education Act 1996 s.8).

A child becomes of compulsory school age on the first prescribed day (31 December,
31 March or 31 August) on or after their fifth birthday (Education (Start of Compulsory
School Age) Order 1998), and stops on the school leaving date, the last Friday in June, of
the school year (1 September to 31 August) in which they turn 16 (Education (School
Leaving Date) Order 1997).
"""

from __future__ import annotations

import datetime as dt

from gateway.matching.normalise import PartialDate


def birthday(dob: dt.date, age: int) -> dt.date:
    """The date ``age`` years after ``dob``; 29 February birthdays fall on 1 March."""
    try:
        return dob.replace(year=dob.year + age)
    except ValueError:
        return dt.date(dob.year + age, 3, 1)


def csa_start(dob: dt.date) -> dt.date:
    fifth = birthday(dob, 5)
    y = fifth.year
    for day in (dt.date(y, 3, 31), dt.date(y, 8, 31), dt.date(y, 12, 31)):
        if day >= fifth:
            return day
    raise AssertionError("31 December is never before a date in the same year")


def last_friday_of_june(year: int) -> dt.date:
    d = dt.date(year, 6, 30)
    return d - dt.timedelta(days=(d.weekday() - 4) % 7)


def csa_end(dob: dt.date) -> dt.date:
    sixteenth = birthday(dob, 16)
    # The school year starting 1 September Y ends 31 August Y+1.
    end_year = sixteenth.year + 1 if sixteenth.month >= 9 else sixteenth.year
    return last_friday_of_june(end_year)


def is_compulsory_school_age(dob: dt.date, as_of: dt.date) -> bool:
    return csa_start(dob) <= as_of <= csa_end(dob)


def csa_status(dob: PartialDate | None, as_of: dt.date) -> str:
    """``"yes"``, ``"no"`` or ``"unknown"`` (no date of birth, or a partial one that
    straddles a boundary)."""
    if dob is None:
        return "unknown"
    if dob.is_full:
        full = dob.as_date()
        assert full is not None
        return "yes" if is_compulsory_school_age(full, as_of) else "no"
    if dob.month is None:
        earliest, latest = dt.date(dob.year, 1, 1), dt.date(dob.year, 12, 31)
    else:
        earliest = dt.date(dob.year, dob.month, 1)
        nxt = dt.date(dob.year + (dob.month == 12), dob.month % 12 + 1, 1)
        latest = nxt - dt.timedelta(days=1)
    first = is_compulsory_school_age(earliest, as_of)
    last = is_compulsory_school_age(latest, as_of)
    if first and last:
        return "yes"
    if not first and not last and (as_of < csa_start(latest) or as_of > csa_end(earliest)):
        return "no"
    return "unknown"
