"""Report data for managers and elected members, and the termly CME return.

``counts``: cases by category, state, year group and month opened, and the outcomes this LA
gave to other authorities' enquiries. Counts only: no child is named.

``termly_return``: shaped like DfE's children missing education data collection: the children
missing education on the census date, those who became missing education during the term,
and those who stopped being missing education during it, with the reason (what the case
moved to). A case counts as *missing education* while it is in one of ``CME_STATES``: from
the referral until the child is placed, found receiving education, or the case is closed.
A state at a date is read from the case's timeline (``case_events``), so a report for a past
term is what was true then, not what is true now.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from gateway.calendar import calendar_for
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.store.cases import CaseState

C = CaseState
CME_STATES = frozenset({C.REFERRED, C.LOGGED, C.UNKNOWN, C.WHEREABOUTS_UNKNOWN, C.LOCATED,
                        C.KEY_WORKER_ASSIGNED})
LONDON = ZoneInfo("Europe/London")
CATEGORY_NAMES = {1: "1 no provision", 2: "2 part-time under 25 hours",
                  3: "3 full time, not mainstream", 4: "4 SEN awaiting placement",
                  5: "5 offered provision closed", 6: "6 long-term non-attender",
                  7: "7 whereabouts unknown", 8: "8 in custody", 9: "9 other"}


def _day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, LONDON).date()


async def counts(gw: Gateway) -> dict[str, dict[str, int]]:
    cases = await gw.store.cases.all_for_report()
    open_cases = [c for c in cases if c.state is not C.CLOSED]
    answered = await gw.store.inbox.answer_counts()
    return {
        "open cases by category": dict(sorted(Counter(
            CATEGORY_NAMES.get(c.category, str(c.category)) for c in open_cases).items())),
        "cases by state": {s.value: n for s in CaseState
                           if (n := sum(1 for c in cases if c.state is s))},
        "open cases by year group": dict(sorted(Counter(
            c.year_group or "not given" for c in open_cases).items())),
        "cases opened by month": dict(sorted(Counter(
            _day(c.opened_at).strftime("%Y-%m") for c in cases).items())),
        "urgent open cases": {"urgent": sum(1 for c in open_cases if c.urgent)},
        "outcomes given to enquiries": answered,
    }


def count_rows(data: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The counts as CSV rows: measure, value, count."""
    return [{"measure": name, "value": k, "count": n}
            for name, table in data.items() for k, n in table.items()]


async def termly_return(gw: Gateway, term_name: str,
                        census: dt.date | None = None) -> dict[str, Any]:
    """The termly return for the term named like "autumn 2026" on the school calendar. The
    census date is the term's last school day unless given."""
    cal = calendar_for(gw.settings)
    wanted = " ".join(term_name.lower().split())
    term = next((t for t in cal.terms() if f"{t.name.lower()} {t.start.year}" == wanted
                 or t.name.lower() == wanted), None)
    if term is None:
        names = ", ".join(f"{t.name.lower()} {t.start.year}" for t in cal.terms())
        raise GatewayError("bad-request", f"no term {term_name[:40]!r} in the school "
                           f"calendar; it holds {names}")
    census = census or cal.last_school_day(term) or term.end
    timelines: dict[str, list[tuple[dt.date, CaseState, str | None]]] = {}
    for case_id, at, _frm, to in await gw.store.cases.moves():
        if to is not None:
            timelines.setdefault(case_id, []).append((_day(at), CaseState(to), None))
    cases = {c.case_id: c for c in await gw.store.cases.all_for_report()}

    def state_on(line: list[tuple[dt.date, CaseState, str | None]], day: dt.date
                 ) -> CaseState | None:
        now = None
        for when, state, _ in line:
            if when <= day:
                now = state
        return now

    rows = []
    totals = Counter[str]()
    for case_id, line in timelines.items():
        case = cases.get(case_id)
        if case is None:
            continue
        on_census = state_on(line, census) in CME_STATES
        before = state_on(line, term.start - dt.timedelta(days=1)) in CME_STATES
        became = stopped = False
        reason = ""
        prev = before
        for when, state, _ in line:
            if term.start <= when <= term.end:
                now = state in CME_STATES
                if now and not prev:
                    became = True
                if prev and not now:
                    stopped, reason = True, state.value
                prev = now
        if not (on_census or became or stopped):
            continue
        totals["cme on census date"] += on_census
        totals["became cme during term"] += became
        totals["stopped being cme during term"] += stopped
        if stopped:
            totals[f"stopped: {reason}"] += 1
        rows.append({"case_id": case_id, "category": case.category,
                     "year_group": case.year_group or "", "cme_on_census_date": on_census,
                     "became_cme_during_term": became, "stopped_being_cme": stopped,
                     "reason_stopped": reason})
    return {"term": f"{term.name} {term.start.year}", "from": term.start.isoformat(),
            "to": term.end.isoformat(), "census_date": census.isoformat(),
            "totals": dict(totals), "rows": rows}


def csv_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for a CSV file that a spreadsheet opens: a text cell starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so that it is never run
    as a formula (free text from a referral form reaches these reports)."""
    def cell(v: Any) -> Any:
        return f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") \
            else v
    return [{k: cell(v) for k, v in r.items()} for r in rows]
