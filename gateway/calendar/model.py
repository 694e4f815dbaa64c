"""School years, terms and school days, and the arithmetic on school days.

A **school day** is a weekday inside a term that is not in a half term, not an INSET day,
not another closure day of the LA's file and not a bank holiday in England. A ``Calendar``
is one or more school years (1 September to 31 August) of one LA; it answers only for the
years it holds, and refuses (``config-invalid``) a question about any other, because a
deadline counted over term dates nobody has configured would be a guess.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from gateway.core.errors import GatewayError

ONE_DAY = dt.timedelta(days=1)


def school_year_of(day: dt.date) -> int:
    """The year the school year holding ``day`` starts in (1 September to 31 August):
    2026 for any day from 2026-09-01 to 2027-08-31."""
    return day.year if day.month >= 9 else day.year - 1


def school_year_name(start_year: int) -> str:
    return f"{start_year}-{(start_year + 1) % 100:02d}"


@dataclass(frozen=True)
class Period:
    """A run of days, both ends included."""

    name: str
    start: dt.date
    end: dt.date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


@dataclass(frozen=True)
class Term(Period):
    half_terms: tuple[Period, ...] = ()

    def blocks(self) -> tuple[Period, ...]:
        """The term's half-term blocks: the runs of the term between its half terms
        (autumn 1 and autumn 2 for an autumn term with an October half term)."""
        parts: list[Period] = []
        start = self.start
        for n, ht in enumerate(self.half_terms, 1):
            parts.append(Period(f"{self.name} {n}", start, ht.start - ONE_DAY))
            start = ht.end + ONE_DAY
        parts.append(Period(f"{self.name} {len(self.half_terms) + 1}", start, self.end))
        return tuple(parts)


@dataclass(frozen=True)
class SchoolYear:
    """One school year of one LA, as its calendar file gives it (checked by the loader)."""

    start_year: int
    terms: tuple[Term, ...]
    inset: frozenset[dt.date]
    bank_holidays: Mapping[dt.date, str]
    closed: frozenset[dt.date] = frozenset()
    source: str = ""
    school_days: tuple[dt.date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = [d for term in self.terms for d in _days(term.start, term.end)
                if self._open(term, d)]
        object.__setattr__(self, "school_days", tuple(days))

    @property
    def name(self) -> str:
        return school_year_name(self.start_year)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.start_year, 9, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.start_year + 1, 8, 31)

    def _open(self, term: Term, day: dt.date) -> bool:
        return (day.weekday() < 5 and not any(day in ht for ht in term.half_terms)
                and day not in self.inset and day not in self.closed
                and day not in self.bank_holidays)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += ONE_DAY


class Calendar:
    """The school calendar of one LA: one or more school years, not necessarily adjacent."""

    def __init__(self, years: Iterable[SchoolYear]) -> None:
        by_start: dict[int, SchoolYear] = {}
        for year in years:
            if year.start_year in by_start:
                raise GatewayError("config-invalid", f"school calendar: two calendars for "
                                   f"{year.name} ({by_start[year.start_year].source}, "
                                   f"{year.source})")
            by_start[year.start_year] = year
        if not by_start:
            raise GatewayError("config-invalid", "school calendar: no school year")
        self.years: tuple[SchoolYear, ...] = tuple(by_start[y] for y in sorted(by_start))
        self._by_start = by_start
        self._days: tuple[dt.date, ...] = tuple(d for y in self.years for d in y.school_days)

    def __repr__(self) -> str:
        return f"Calendar({', '.join(y.name for y in self.years)})"

    @property
    def first_day(self) -> dt.date:
        return self.years[0].first_day

    @property
    def last_day(self) -> dt.date:
        return self.years[-1].last_day

    def covers(self, day: dt.date) -> bool:
        return school_year_of(day) in self._by_start

    def year(self, day: dt.date) -> SchoolYear:
        self.require(day, day)
        return self._by_start[school_year_of(day)]

    def require(self, start: dt.date, end: dt.date) -> None:
        """Refuse (``config-invalid``) unless every school year from ``start`` to ``end``
        is held."""
        for y in range(school_year_of(start), school_year_of(end) + 1):
            if y not in self._by_start:
                raise self.not_held(y)

    def not_held(self, start_year: int) -> GatewayError:
        """The refusal of a question about a school year this calendar does not hold."""
        held = ", ".join(year.name for year in self.years)
        return GatewayError("config-invalid",
                            f"the school calendar holds {held}, not {school_year_name(start_year)}"
                            f": add that year's term dates (setting calendar_file, "
                            f"docs/calendar.md)")

    def terms(self) -> Iterator[Term]:
        for year in self.years:
            yield from year.terms

    def is_school_day(self, day: dt.date) -> bool:
        self.require(day, day)
        i = bisect.bisect_left(self._days, day)
        return i < len(self._days) and self._days[i] == day

    def school_days(self, start: dt.date, end: dt.date) -> int:
        """How many school days there are from ``start`` to ``end``, both included
        (0 when ``start`` is after ``end``)."""
        if start > end:
            return 0
        self.require(start, end)
        return bisect.bisect_right(self._days, end) - bisect.bisect_left(self._days, start)

    def nth_school_day_from(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th school day counting from ``day`` itself (``n`` >= 1): ``day`` if it is
        a school day and ``n`` is 1."""
        if n < 1:
            raise ValueError("n counts school days from 1")
        self.require(day, day)
        i = bisect.bisect_left(self._days, day) + n - 1
        if i >= len(self._days):
            raise self.not_held(self.years[-1].start_year + 1)
        found = self._days[i]
        self.require(day, found)  # no missing school year in between
        return found

    def add_school_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th school day after ``day`` (``day`` itself not counted); ``day`` for 0.
        ``school_days(day + 1 day, add_school_days(day, n)) == n``."""
        if n < 0:
            raise ValueError("n must not be negative")
        return day if n == 0 else self.nth_school_day_from(day + ONE_DAY, n)

    def next_school_day(self, day: dt.date) -> dt.date:
        """``day`` if it is a school day, else the first school day after it."""
        return self.nth_school_day_from(day, 1)

    def blocks(self) -> Iterator[Period]:
        """Every half-term block of every term, in order."""
        for term in self.terms():
            yield from term.blocks()

    def last_school_day(self, period: Period) -> dt.date | None:
        """The last school day in ``period`` (None if it has none)."""
        i = bisect.bisect_right(self._days, period.end) - 1
        return self._days[i] if i >= 0 and self._days[i] >= period.start else None

    def first_school_day(self, period: Period) -> dt.date | None:
        i = bisect.bisect_left(self._days, period.start)
        return self._days[i] if i < len(self._days) and self._days[i] <= period.end else None
