"""The school calendar and the CME time rules: every boundary from both sides.

The example year (gateway/calendar/example-2026-27.toml) has these edges, used throughout:

- autumn: term Tue 1 Sep 2026 (INSET 1 and 2 Sep) to Fri 18 Dec; October half term 26-30
  Oct, then INSET Mon 2 Nov; the Christmas holiday 19 Dec 2026 to 3 Jan 2027 spans the year
  end (Christmas, Boxing Day observed on Mon 28 Dec, New Year's Day);
- spring: Mon 4 Jan 2027 (INSET) to Thu 25 Mar; February half term 15-19 Feb;
- summer: Mon 12 Apr to Wed 21 Jul (INSET); the early May bank holiday Mon 3 May is in
  term; May half term 31 May (the spring bank holiday) to 4 Jun.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import calendar as cal
from gateway.calendar import (
    Calendar,
    cme_from,
    compulsory_school_age,
    ctf_due_by,
    half_termly_reviews,
    load_calendar,
    long_term_non_attender_from,
    monitoring_ends,
    of_compulsory_age,
    parse_school_year,
    removal_from_roll_from,
    year11_cover_ends,
)
from gateway.core.config import load_settings
from gateway.core.errors import GatewayError
from gateway.matching import school_age

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ROOT / "gateway" / "calendar" / cal.EXAMPLE
EXAMPLE_TEXT = PACKAGED.read_text(encoding="utf-8")
C = cal.example_calendar()
D = dt.date
FIRST, LAST = D(2026, 9, 1), D(2027, 8, 31)


# ---- a reference: the definition, day by day, from the dates written out by hand ----------

TERMS = [(D(2026, 9, 1), D(2026, 12, 18)), (D(2027, 1, 4), D(2027, 3, 25)),
         (D(2027, 4, 12), D(2027, 7, 21))]
HALF_TERMS = [(D(2026, 10, 26), D(2026, 10, 30)), (D(2027, 2, 15), D(2027, 2, 19)),
              (D(2027, 5, 31), D(2027, 6, 4))]
INSET = {D(2026, 9, 1), D(2026, 9, 2), D(2026, 11, 2), D(2027, 1, 4), D(2027, 7, 21)}
BANK = {D(2026, 12, 25), D(2026, 12, 28), D(2027, 1, 1), D(2027, 3, 26), D(2027, 3, 29),
        D(2027, 5, 3), D(2027, 5, 31), D(2027, 8, 30)}


def ref_school_day(d: dt.date) -> bool:
    return (d.weekday() < 5 and any(a <= d <= b for a, b in TERMS)
            and not any(a <= d <= b for a, b in HALF_TERMS) and d not in INSET
            and d not in BANK)


def ref_count(a: dt.date, b: dt.date) -> int:
    return sum(ref_school_day(a + dt.timedelta(i)) for i in range((b - a).days + 1))


days = st.dates(min_value=FIRST, max_value=LAST)


# ---- the example ---------------------------------------------------------------------------

def test_example_is_a_full_english_school_year() -> None:
    # 190 days (380 sessions) is what a maintained school must meet in a school year.
    assert len(C.years[0].school_days) == 190
    assert [C.school_days(t.start, t.end) for t in C.terms()] == [71, 53, 66]
    assert [t.name for t in C.terms()] == ["Autumn", "Spring", "Summer"]
    assert BANK <= set(C.years[0].bank_holidays)


def test_published_example_is_the_packaged_one() -> None:
    assert (ROOT / "examples" / "calendar-2026-27.toml").read_bytes() == PACKAGED.read_bytes()


def test_bank_holidays_are_englands_for_the_school_year() -> None:
    bank = cal.england_bank_holidays(2026)
    assert set(bank) == BANK | {D(2026, 12, 26)}  # Boxing Day (a Saturday) and its Monday
    assert min(bank) >= FIRST and max(bank) <= LAST
    assert D(2026, 8, 31) not in bank  # the summer bank holiday before the year starts


def test_reference_matches_the_calendar_on_every_day() -> None:
    for i in range((LAST - FIRST).days + 1):
        d = FIRST + dt.timedelta(i)
        assert C.is_school_day(d) == ref_school_day(d), d


# ---- what a school day is, on each side of every boundary -----------------------------------

@pytest.mark.parametrize(("day", "open_", "why"), [
    (D(2026, 9, 1), False, "first day of term, INSET"),
    (D(2026, 9, 2), False, "INSET"),
    (D(2026, 9, 3), True, "first school day of the autumn term"),
    (D(2026, 9, 4), True, "Friday"),
    (D(2026, 9, 5), False, "Saturday"),
    (D(2026, 9, 6), False, "Sunday"),
    (D(2026, 9, 7), True, "Monday"),
    (D(2026, 10, 23), True, "Friday before the October half term"),
    (D(2026, 10, 26), False, "first day of the half term"),
    (D(2026, 10, 30), False, "last day of the half term"),
    (D(2026, 11, 2), False, "INSET after the half term"),
    (D(2026, 11, 3), True, "first school day after it"),
    (D(2026, 12, 18), True, "last day of the autumn term"),
    (D(2026, 12, 21), False, "Christmas holiday, a Monday"),
    (D(2026, 12, 28), False, "Boxing Day observed"),
    (D(2027, 1, 1), False, "New Year's Day"),
    (D(2027, 1, 4), False, "first day of the spring term, INSET"),
    (D(2027, 1, 5), True, "first school day of the spring term"),
    (D(2027, 2, 12), True, "Friday before the February half term"),
    (D(2027, 2, 15), False, "February half term"),
    (D(2027, 2, 19), False, "February half term, Friday"),
    (D(2027, 2, 22), True, "Monday after it"),
    (D(2027, 3, 25), True, "last day of the spring term"),
    (D(2027, 3, 26), False, "Good Friday, the day after term"),
    (D(2027, 4, 9), False, "Easter holiday"),
    (D(2027, 4, 12), True, "first day of the summer term"),
    (D(2027, 4, 30), True, "Friday before the early May bank holiday"),
    (D(2027, 5, 3), False, "early May bank holiday, in term"),
    (D(2027, 5, 4), True, "Tuesday after it"),
    (D(2027, 5, 28), True, "Friday before the May half term"),
    (D(2027, 5, 31), False, "spring bank holiday, first day of the half term"),
    (D(2027, 6, 7), True, "Monday after the May half term"),
    (D(2027, 7, 20), True, "last school day of the summer term"),
    (D(2027, 7, 21), False, "last day of term, INSET"),
    (D(2027, 7, 22), False, "summer holiday"),
    (D(2027, 8, 31), False, "last day of the school year"),
])
def test_school_day(day: dt.date, open_: bool, why: str) -> None:
    assert C.is_school_day(day) is open_, why


@pytest.mark.parametrize(("start", "end", "n"), [
    (D(2026, 9, 3), D(2026, 9, 3), 1),     # one school day, both ends included
    (D(2026, 9, 1), D(2026, 9, 2), 0),     # INSET only
    (D(2026, 9, 1), D(2026, 9, 3), 1),
    (D(2026, 9, 5), D(2026, 9, 6), 0),     # a weekend
    (D(2026, 9, 4), D(2026, 9, 7), 2),     # Friday to Monday
    (D(2026, 10, 23), D(2026, 11, 3), 2),  # across the half term and its INSET day
    (D(2026, 10, 24), D(2026, 11, 2), 0),
    (D(2026, 12, 18), D(2027, 1, 5), 2),   # across the year end
    (D(2026, 12, 19), D(2027, 1, 4), 0),
    (D(2027, 2, 12), D(2027, 2, 22), 2),
    (D(2027, 4, 30), D(2027, 5, 4), 2),    # across the early May bank holiday
    (D(2027, 5, 3), D(2027, 5, 3), 0),
    (D(2027, 7, 20), D(2027, 8, 31), 1),
    (D(2026, 9, 1), D(2027, 8, 31), 190),
    (D(2026, 9, 7), D(2026, 9, 4), 0),     # start after end: an empty range
])
def test_school_days_between(start: dt.date, end: dt.date, n: int) -> None:
    assert C.school_days(start, end) == n


@pytest.mark.parametrize(("day", "n", "found"), [
    (D(2026, 8, 31), 1, D(2026, 9, 3)),    # from the day before the calendar starts
    (D(2026, 9, 3), 0, D(2026, 9, 3)),
    (D(2026, 9, 3), 1, D(2026, 9, 4)),
    (D(2026, 9, 4), 1, D(2026, 9, 7)),     # over a weekend
    (D(2026, 9, 5), 1, D(2026, 9, 7)),     # from a Saturday
    (D(2026, 10, 22), 1, D(2026, 10, 23)),
    (D(2026, 10, 23), 1, D(2026, 11, 3)),  # over the half term and the INSET day
    (D(2026, 10, 28), 1, D(2026, 11, 3)),  # from inside the half term
    (D(2026, 12, 17), 1, D(2026, 12, 18)),
    (D(2026, 12, 18), 1, D(2027, 1, 5)),   # over the Christmas holiday and the year end
    (D(2026, 12, 18), 2, D(2027, 1, 6)),
    (D(2027, 2, 12), 1, D(2027, 2, 22)),
    (D(2027, 4, 30), 1, D(2027, 5, 4)),    # over the early May bank holiday
    (D(2027, 3, 25), 1, D(2027, 4, 12)),   # over Easter
    (D(2027, 7, 19), 1, D(2027, 7, 20)),
    (D(2026, 9, 2), 190, D(2027, 7, 20)),  # the whole year
])
def test_add_school_days(day: dt.date, n: int, found: dt.date) -> None:
    assert C.add_school_days(day, n) == found


def test_add_school_days_past_the_calendar_is_refused() -> None:
    with pytest.raises(GatewayError) as e:
        C.add_school_days(D(2027, 7, 20), 1)  # the last school day of the year it holds
    assert e.value.code == "config-invalid" and "2027-28" in str(e.value.detail)
    with pytest.raises(ValueError):
        C.add_school_days(D(2026, 9, 3), -1)


@pytest.mark.parametrize("args", [(D(2026, 8, 31), D(2026, 9, 30)),
                                  (D(2027, 7, 1), D(2027, 9, 1)),
                                  (D(2025, 1, 1), D(2025, 1, 1))])
def test_days_outside_the_calendar_are_refused(args: tuple[dt.date, dt.date]) -> None:
    with pytest.raises(GatewayError) as e:
        C.school_days(*args)
    assert e.value.code == "config-invalid" and "calendar_file" in str(e.value.detail)
    with pytest.raises(GatewayError):
        C.is_school_day(args[0] if not C.covers(args[0]) else args[1])


@settings(max_examples=300, deadline=None)
@given(days, days, days)
def test_school_days_add_up(a: dt.date, b: dt.date, c: dt.date) -> None:
    a, b, c = sorted((a, b, c))
    assert C.school_days(a, b) + C.school_days(b + dt.timedelta(1), c) == C.school_days(a, c)
    assert C.school_days(a, c) == ref_count(a, c)


@settings(max_examples=300, deadline=None)
@given(days, st.integers(0, 120))
def test_add_school_days_is_the_inverse_of_counting(day: dt.date, n: int) -> None:
    left = C.school_days(day + dt.timedelta(1), LAST)
    if n > left:
        with pytest.raises(GatewayError):
            C.add_school_days(day, n)
        return
    found = C.add_school_days(day, n)
    assert C.school_days(day + dt.timedelta(1), found) == n
    if n:
        assert found > day and ref_school_day(found)
        assert C.add_school_days(day, n - 1) < found


# ---- the CME rules ------------------------------------------------------------------------

@pytest.mark.parametrize(("since", "cme"), [
    (D(2026, 9, 7), D(2026, 10, 5)),   # a plain run of term: four calendar weeks later
    (D(2026, 9, 5), D(2026, 10, 5)),   # from a Saturday: the weeks start on Monday
    (D(2026, 9, 1), D(2026, 10, 1)),   # from INSET: the first school day is 3 Sep
    (D(2026, 9, 3), D(2026, 10, 1)),
    (D(2026, 9, 4), D(2026, 10, 2)),
    (D(2026, 10, 5), D(2026, 11, 10)),  # the half term and INSET do not count
    (D(2026, 11, 30), D(2027, 1, 12)),  # nor does the Christmas holiday
    (D(2027, 4, 19), D(2027, 5, 18)),   # nor the early May bank holiday
])
def test_cme_after_four_weeks_out_of_provision(since: dt.date, cme: dt.date) -> None:
    assert cme_from(C, since) == cme
    before = cme - dt.timedelta(1)
    assert C.school_days(since, before) == 20  # the day before, 20 school days are behind
    assert C.is_school_day(cme)


def test_long_term_non_attender_after_six_weeks() -> None:
    assert long_term_non_attender_from(C, D(2026, 9, 7)) == D(2026, 10, 19)
    assert long_term_non_attender_from(C, D(2026, 9, 21)) == D(2026, 11, 10)  # half term
    assert long_term_non_attender_from(C, D(2026, 11, 23)) == D(2027, 1, 19)  # year end
    assert C.school_days(D(2026, 9, 21), D(2026, 11, 9)) == 30


@pytest.mark.parametrize(("left", "due"), [
    (D(2026, 9, 4), D(2026, 9, 25)),    # a Friday: three weeks of school later
    (D(2026, 9, 5), D(2026, 9, 25)),    # left on a Saturday
    (D(2026, 10, 16), D(2026, 11, 16)),  # half term and INSET not counted
    (D(2026, 12, 11), D(2027, 1, 18)),
    (D(2026, 12, 18), D(2027, 1, 25)),  # the last day of the autumn term
    (D(2027, 4, 23), D(2027, 5, 17)),   # the early May bank holiday not counted
])
def test_ctf_due_within_15_school_days(left: dt.date, due: dt.date) -> None:
    assert ctf_due_by(C, left) == due
    assert C.school_days(left + dt.timedelta(1), due) == 15 and C.is_school_day(due)


def test_removal_from_roll_after_20_school_days() -> None:
    assert removal_from_roll_from(C, D(2027, 4, 19)) == D(2027, 5, 18)  # bank holiday
    assert removal_from_roll_from(C, D(2027, 4, 12)) == D(2027, 5, 11)
    assert C.school_days(D(2027, 4, 19), D(2027, 5, 17)) == 20
    assert removal_from_roll_from(C, D(2027, 6, 7)) == D(2027, 7, 5)
    with pytest.raises(GatewayError):  # runs into the summer: the next year is not held
        removal_from_roll_from(C, D(2027, 7, 1))


ENDS = [D(2026, 10, 23), D(2026, 12, 18), D(2027, 2, 12), D(2027, 3, 25), D(2027, 5, 28),
        D(2027, 7, 20)]


@pytest.mark.parametrize(("start", "first"), [
    (D(2026, 9, 1), 0), (D(2026, 10, 22), 0),
    (D(2026, 10, 23), 1),   # on the last school day of a half term: the next one
    (D(2026, 10, 27), 1),   # in the half term
    (D(2026, 12, 18), 2), (D(2026, 12, 25), 2), (D(2027, 1, 5), 2),
    (D(2027, 5, 27), 4), (D(2027, 5, 28), 5), (D(2027, 7, 19), 5),
])
def test_half_termly_reviews(start: dt.date, first: int) -> None:
    assert half_termly_reviews(C, start) == ENDS[first:]
    assert half_termly_reviews(C, start, count=1) == ENDS[first:first + 1]


def test_half_termly_reviews_beyond_the_calendar() -> None:
    assert half_termly_reviews(C, D(2027, 7, 20)) == []
    with pytest.raises(GatewayError):
        half_termly_reviews(C, D(2027, 5, 28), count=2)
    with pytest.raises(GatewayError):
        half_termly_reviews(C, D(2026, 8, 1))


@pytest.mark.parametrize(("placed", "until"), [
    (D(2026, 9, 1), D(2026, 12, 18)),
    (D(2026, 9, 3), D(2026, 12, 18)),   # the first school day: still a full term
    (D(2026, 9, 4), D(2027, 3, 25)),    # a day in: the rest of autumn and all of spring
    (D(2026, 12, 18), D(2027, 3, 25)),
    (D(2026, 12, 28), D(2027, 3, 25)),  # over the year end
    (D(2027, 1, 5), D(2027, 3, 25)),    # spring's first school day (4 Jan is INSET)
    (D(2027, 1, 6), D(2027, 7, 20)),    # summer ends on INSET: its last school day
    (D(2027, 4, 12), D(2027, 7, 20)),
])
def test_monitoring_for_a_term(placed: dt.date, until: dt.date) -> None:
    assert monitoring_ends(C, placed) == until


def test_monitoring_outside_the_calendar_is_refused() -> None:
    with pytest.raises(GatewayError) as e:
        monitoring_ends(C, D(2027, 4, 13))
    assert "2027-28" in str(e.value.detail)
    with pytest.raises(GatewayError) as e:  # a placement in the summer before: hold 2025-26
        monitoring_ends(C, D(2026, 8, 20))
    assert "2025-26" in str(e.value.detail)


@pytest.mark.parametrize(("on", "until"), [
    (D(2026, 9, 1), D(2027, 6, 25)), (D(2027, 6, 25), D(2027, 6, 25)),
    (D(2027, 8, 31), D(2027, 6, 25)), (D(2027, 9, 1), D(2028, 6, 30)),  # 30 June a Friday
    (D(2025, 8, 31), D(2025, 6, 27)),
])
def test_year11_covered_until_the_last_friday_in_june(on: dt.date, until: dt.date) -> None:
    assert year11_cover_ends(on) == until
    assert until.weekday() == 4 and until.month == 6 and (until + dt.timedelta(7)).month == 7


# ---- compulsory school age -----------------------------------------------------------------

@pytest.mark.parametrize(("dob", "start"), [
    (D(2021, 3, 30), D(2026, 3, 31)),
    (D(2021, 3, 31), D(2026, 3, 31)),   # fifth birthday on a prescribed day: that day
    (D(2021, 4, 1), D(2026, 8, 31)),
    (D(2021, 8, 31), D(2026, 8, 31)),
    (D(2021, 9, 1), D(2026, 12, 31)),
    (D(2021, 12, 31), D(2026, 12, 31)),
    (D(2022, 1, 1), D(2027, 3, 31)),
    (D(2020, 2, 29), D(2025, 3, 31)),   # 29 February: fifth birthday in a common year
    (D(2019, 2, 28), D(2024, 3, 31)),
])
def test_compulsory_from(dob: dt.date, start: dt.date) -> None:
    assert cal.compulsory_from(dob) == start


@pytest.mark.parametrize(("dob", "until"), [
    (D(2010, 8, 31), D(2026, 6, 26)),   # turns 16 on 31 August: leaves the June before
    (D(2010, 9, 1), D(2027, 6, 25)),    # turns 16 on 1 September: the June after
    (D(2011, 6, 25), D(2027, 6, 25)),   # turns 16 on the leaving date itself
    (D(2011, 6, 26), D(2027, 6, 25)),   # the day after it, still the same school year
    (D(2012, 2, 29), D(2028, 6, 30)),   # 29 February, turning 16 in a leap year
    (D(2084, 2, 29), D(2100, 6, 25)),   # 29 February, turning 16 in 2100 (a common year)
])
def test_compulsory_until(dob: dt.date, until: dt.date) -> None:
    assert cal.compulsory_until(dob) == until


def test_of_compulsory_age_at_both_ends() -> None:
    dob = D(2021, 4, 1)
    start, end = compulsory_school_age(dob)
    assert (start, end) == (D(2026, 8, 31), D(2037, 6, 26))
    assert not of_compulsory_age(dob, start - dt.timedelta(1))
    assert of_compulsory_age(dob, start) and of_compulsory_age(dob, end)
    assert not of_compulsory_age(dob, end + dt.timedelta(1))


@settings(max_examples=500, deadline=None)
@given(st.dates(min_value=D(1990, 1, 1), max_value=D(2099, 12, 31)))
def test_agrees_with_the_matchers_school_age(dob: dt.date) -> None:
    assert compulsory_school_age(dob) == (school_age.csa_start(dob), school_age.csa_end(dob))
    on = dob + dt.timedelta(days=365 * 11)
    assert of_compulsory_age(dob, on) == school_age.is_compulsory_school_age(dob, on)


def _csa_with_28_february(dob: dt.date) -> tuple[dt.date, dt.date]:
    """Compulsory school age if a 29 February child turned a year older on 28 February."""
    def turns(age: int) -> dt.date:
        try:
            return dob.replace(year=dob.year + age)
        except ValueError:
            return dt.date(dob.year + age, 2, 28)
    fifth, sixteenth = turns(5), turns(16)
    start = min(d for d in (D(fifth.year, 3, 31), D(fifth.year, 8, 31), D(fifth.year, 12, 31))
                if d >= fifth)
    return start, cal.last_friday_in_june(cal.school_year_of(sixteenth) + 1)


@pytest.mark.parametrize("year", [*range(1992, 2100, 4), 2084])
def test_29_february_either_way_gives_the_same(year: int) -> None:
    dob = D(year, 2, 29)
    assert compulsory_school_age(dob) == _csa_with_28_february(dob)
    assert cal.birthday(dob, 5) == D(year + 5, 3, 1)


# ---- the file format and its errors -------------------------------------------------------

def variant(*subs: tuple[str, str]) -> str:
    text = EXAMPLE_TEXT
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def refused(text: str) -> str:
    with pytest.raises(GatewayError) as e:
        parse_school_year(text, "la.toml")
    assert e.value.code == "config-invalid"
    return str(e.value.detail)


def line_of(text: str, fragment: str, nth: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1)
             if line.lstrip().startswith(fragment.strip())]
    return lines[nth - 1]


def test_end_before_start() -> None:
    text = variant(("end = 2027-03-25", "end = 2027-01-01"))
    detail = refused(text)
    assert detail == (f"la.toml: line {line_of(text, 'end = 2027-01-01')}: [[term]] 2 (Spring): "
                      f"end 2027-01-01 is before start 2027-01-04")


def test_overlapping_terms() -> None:
    text = variant(("start = 2027-01-04", "start = 2026-12-14"))
    detail = refused(text)
    assert f"line {line_of(text, '[[term]]', 2)}:" in detail
    assert "[[term]] Spring (2026-12-14 to 2027-03-25) overlaps Autumn" in detail


def test_date_outside_the_school_year() -> None:
    text = variant(("end = 2027-07-21", "end = 2027-09-03"))
    detail = refused(text)
    assert f"line {line_of(text, 'end = 2027-09-03')}:" in detail
    assert "end 2027-09-03 is outside the school year 2026-09-01 to 2027-08-31" in detail
    text = variant(("  2026-11-02,", "  2025-11-02,"))
    assert f"line {line_of(text, '2025-11-02')}: inset: 2025-11-02 is outside" in refused(text)


@pytest.mark.parametrize(("day", "problem"), [
    ("2026-09-05", "(Saturday) is a weekend"),
    ("2026-10-27", "is in a half term"),
    ("2026-12-21", "is not in a term"),
    ("2027-05-03", "is a bank holiday ("),
    ("2026-09-02", "is listed twice"),
])
def test_bad_inset_days(day: str, problem: str) -> None:
    text = variant(("  2026-11-02,", f"  {day},"))
    detail = refused(text)
    line = line_of(text, f"  {day},", 2 if problem == "is listed twice" else 1)
    assert detail.startswith(f"la.toml: line {line}: inset: {day}")
    assert problem in detail


def test_half_term_outside_a_term() -> None:
    text = variant(("start = 2026-10-26", "start = 2026-12-14"), ("end = 2026-10-30",
                                                                   "end = 2026-12-22"))
    detail = refused(text)
    assert f"line {line_of(text, '[[half_term]]')}:" in detail and "is not inside a term" in detail
    # on a term's first day: then the term starts later; say so rather than guess
    text = variant(("start = 2026-10-26", "start = 2026-09-01"))
    assert "is not inside a term" in refused(text)


@pytest.mark.parametrize(("subs", "expect"), [
    (("school_year = \"2026-27\"", "school_year = \"2026-28\""), "line 11: school_year must"),
    (("school_year = \"2026-27\"", "school_year = 2026"), "school_year must name one"),
    (("start = 2026-09-01 ", "strat = 2026-09-01 "), "unknown field strat"),
    (("start = 2026-09-01 ", "start = 2026-09-01T08:30:00 "), "must be a date such as"),
    (("start = 2026-09-01 ", "start = \"1 Sep 2026\" "), "must be a date such as"),
    (("closed = []", "closed = 3"), "closed must be a list of dates"),
    (("closed = []", "holidays = []"), "unknown setting holidays"),
    (("name = \"Autumn\"", "name = \"\""), "name must be a non-empty string"),
])
def test_other_mistakes(subs: tuple[str, str], expect: str) -> None:
    assert expect in refused(variant(subs))


def test_a_toml_syntax_error_names_its_line() -> None:
    text = variant(("end = 2026-10-30", "end = 2026-10-30\nend = 2026-10-31"))
    assert f"(at line {line_of(text, 'end = 2026-10-31')}, column" in refused(text)


def test_a_missing_field_and_no_terms() -> None:
    assert "[[term]] 1 (Autumn): start is missing" in refused(
        variant(("start = 2026-09-01 ", "")))
    assert "no [[term]]" in refused("school_year = \"2026-27\"\n")


def test_dates_may_be_strings() -> None:
    year = parse_school_year(variant(("start = 2026-09-01 ", "start = \"2026-09-01\" ")))
    assert year.terms[0].start == D(2026, 9, 1) and len(year.school_days) == 190


# ---- several years, and the setting -------------------------------------------------------

NEXT_YEAR = """school_year = "2027-28"
inset = [2027-09-01]

[[term]]
name = "Autumn"
start = 2027-09-01
end = 2027-12-17

[[half_term]]
start = 2027-10-25
end = 2027-10-29
"""


def test_a_folder_of_years(tmp_path: Path) -> None:
    (tmp_path / "2026-27.toml").write_text(EXAMPLE_TEXT)
    (tmp_path / "2027-28.toml").write_text(NEXT_YEAR)
    both = load_calendar(tmp_path)
    assert [y.name for y in both.years] == ["2026-27", "2027-28"]
    # the summer holiday and the summer bank holiday (30 Aug) are not counted
    assert both.add_school_days(D(2027, 7, 20), 1) == D(2027, 9, 2)
    assert removal_from_roll_from(both, D(2027, 7, 1)) == D(2027, 9, 10)
    assert both.school_days(D(2027, 7, 1), D(2027, 9, 30)) == 14 + 21
    assert half_termly_reviews(both, D(2027, 7, 20), count=1) == [D(2027, 10, 22)]
    assert monitoring_ends(both, D(2027, 4, 13)) == D(2027, 12, 17)


def test_a_missing_year_between_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(EXAMPLE_TEXT)
    (tmp_path / "c.toml").write_text(NEXT_YEAR.replace("2027", "2028").replace("2028-28",
                                                                             "2028-29"))
    gap = load_calendar(tmp_path)
    with pytest.raises(GatewayError) as e:
        gap.add_school_days(D(2027, 7, 20), 1)
    assert "not 2027-28" in str(e.value.detail)
    with pytest.raises(GatewayError):
        gap.school_days(D(2027, 7, 1), D(2028, 9, 30))


def test_two_files_for_one_year_and_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(EXAMPLE_TEXT)
    (tmp_path / "b.toml").write_text(EXAMPLE_TEXT)
    with pytest.raises(GatewayError, match="two calendars for 2026-27"):
        load_calendar(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GatewayError, match="no"):
        load_calendar(empty)
    with pytest.raises(GatewayError) as e:
        load_calendar(tmp_path / "missing.toml")
    assert e.value.code == "config-invalid"


def test_the_setting(tmp_path: Path) -> None:
    (tmp_path / "terms.toml").write_text(NEXT_YEAR)
    default = load_settings(env={}, party="355")
    assert default.calendar_file is None and cal.calendar_for(default) is C
    mine = load_settings(env={"CME_GATEWAY_CALENDAR_FILE": "terms.toml"}, party="355",
                         home=str(tmp_path))
    assert mine.calendar_file == Path("terms.toml")
    assert [y.name for y in cal.calendar_for(mine).years] == ["2027-28"]


def test_the_calendar_imports_only_core_stdlib_and_holidays() -> None:
    for py in (ROOT / "gateway" / "calendar").glob("*.py"):
        for m in re.finditer(r"^(?:from|import) ([\w.]+)", py.read_text(), re.M):
            name = m[1]
            if name.startswith("gateway"):
                assert name.startswith(("gateway.core.", "gateway.calendar.")), (py.name, name)
            else:
                assert name.split(".")[0] not in ("aiohttp", "lxml", "rapidfuzz"), (py.name, name)


def test_calendar_repr_and_coverage() -> None:
    assert repr(C) == "Calendar(2026-27)" and C.first_day == FIRST and C.last_day == LAST
    assert isinstance(C, Calendar) and C.covers(LAST) and not C.covers(LAST + dt.timedelta(1))
