"""``cme-gateway age`` and ``cme-gateway schooldays``: the school calendar's rules, by hand.

``age`` needs no gateway (the law is the same everywhere); ``schooldays`` counts on the
configured calendar (``calendar_file``), or the shipped example when there is no config.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.calendar import calendar_for, compulsory_school_age, example_calendar
from gateway.calendar import of_compulsory_age as of_age
from gateway.cli import checks
from gateway.cli.settings import optional_settings
from gateway.core.clock import SYSTEM
from gateway.core.errors import GatewayError


def cmd_age(args: argparse.Namespace) -> int:
    dob = checks.date(args.dob, "--dob")
    on = checks.date(args.on, "--on") if args.on else SYSTEM.today()
    start, until = compulsory_school_age(dob)
    print(f"compulsory_from={start.isoformat()}")
    print(f"compulsory_until={until.isoformat()}")
    print(f"of_compulsory_age={'yes' if of_age(dob, on) else 'no'}")
    return 0


def cmd_schooldays(args: argparse.Namespace) -> int:
    start = checks.date(args.start, "--from")
    end = checks.date(args.end, "--to")
    if start > end:
        raise GatewayError("bad-request", "--from must not be after --to")
    found = optional_settings(args)
    calendar = calendar_for(found[0]) if found else example_calendar()
    print(f"school_days={calendar.school_days(start, end)}")
    return 0


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("age", help="compulsory school age for a date of birth (s.8 EA 1996)")
    sp.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    sp.add_argument("--on", help="the day to answer for (default today)")
    sp.set_defaults(func=cmd_age)
    sp = sub.add_parser("schooldays", help="school days between two dates, both included")
    sp.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    sp.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD")
    sp.set_defaults(func=cmd_schooldays)
