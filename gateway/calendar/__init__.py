"""The school calendar of an LA (terms, half terms, INSET days, bank holidays in England)
and the CME time rules that count on it (docs/calendar.md).

Imports only ``gateway.core``, the standard library and ``holidays``.
"""

from gateway.calendar.age import (
    EARLIEST_BIRTH_YEAR,
    birth_possible,
    birthday,
    compulsory_from,
    compulsory_school_age,
    compulsory_until,
    last_friday_in_june,
    of_compulsory_age,
)
from gateway.calendar.loader import (
    EXAMPLE,
    calendar_for,
    england_bank_holidays,
    example_calendar,
    load_calendar,
    load_school_year,
    parse_school_year,
)
from gateway.calendar.model import Calendar, Period, SchoolYear, Term, school_year_of
from gateway.calendar.rules import (
    after_school_days,
    cme_from,
    ctf_due_by,
    half_termly_reviews,
    long_term_non_attender_from,
    monitoring_ends,
    removal_from_roll_from,
    year11_cover_ends,
)

__all__ = [
    "EARLIEST_BIRTH_YEAR", "EXAMPLE", "Calendar", "Period", "SchoolYear", "Term",
    "after_school_days", "birth_possible", "birthday",
    "calendar_for", "cme_from", "compulsory_from", "compulsory_school_age",
    "compulsory_until", "ctf_due_by", "england_bank_holidays", "example_calendar",
    "half_termly_reviews", "last_friday_in_june", "load_calendar", "load_school_year",
    "long_term_non_attender_from", "monitoring_ends", "of_compulsory_age",
    "parse_school_year", "removal_from_roll_from", "school_year_of", "year11_cover_ends",
]
