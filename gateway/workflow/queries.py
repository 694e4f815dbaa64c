"""The matcher queries a received message asks: one child, or several, each searched at every
address the message gives.

An Enquiry's child has two addresses: the one while resident with the enquiring LA and the
new one, which is where the receiving LA's records hold the child. Each address is a query of
its own, and a child's result is the best candidate over both (``best_of``): a record found
through either address is a candidate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from gateway.matching import Candidate, Matcher, Record
from gateway.matching.normalise import coerce_date
from gateway.messages import model as m


def _record(ref: str, child: m.EnquiryChild | m.ReferralChild, address: m.Address | None,
            middle: str = "") -> Record:
    return Record(record_id=ref, upn=child.upn or "", nhs_number=child.nhs_number or "",
                  surname=child.surname,
                  forename=child.forename, middle_names=middle, dob=coerce_date(child.dob),
                  sex=child.gender or "",
                  postcode=(address.postcode or "") if address else "",
                  address=" ".join(address.lines) if address else "")


def _addresses(child: m.EnquiryChild | m.ReferralChild) -> list[m.Address | None]:
    given: list[m.Address | None] = [a for a in (child.new_address,
                                                 child.address_while_resident) if a]
    return given or [None]  # still search by name and date of birth alone


def child_queries(child: m.EnquiryChild | m.ReferralChild, ref: str | None = None
                  ) -> list[Record]:
    """One query per address of the child (new address first)."""
    if ref is None:
        ref = child.child_ref if isinstance(child, m.EnquiryChild) else "child"
    middle = child.middle_names or "" if isinstance(child, m.EnquiryChild) else ""
    return [_record(ref, child, a, middle) for a in _addresses(child)]


def queries(message: m.Message) -> dict[str, list[Record]]:
    """The queries of every child a message asks about, keyed by child reference."""
    if isinstance(message, (m.Enquiry, m.TravellerMove)):
        return {c.child_ref: child_queries(c) for c in message.children}
    if isinstance(message, m.Referral):
        return {"child": child_queries(message.child, "child")}
    return {}


def best_of(matcher: Matcher, asked: Sequence[Record], limit: int = 5) -> list[Candidate]:
    """The candidates of several queries for one child, merged: each record once, with its
    best result, best first."""
    found: dict[str, Candidate] = {}
    for q in asked:
        for c in matcher.match(q, limit=limit):
            old = found.get(c.record_id)
            if old is None or _rank(c) > _rank(old):
                found[c.record_id] = c
    return sorted(found.values(), key=_rank, reverse=True)[:limit]


_BAND_RANK = {"match": 2, "possible": 1}


def _rank(c: Candidate) -> tuple[int, float]:
    return _BAND_RANK.get(c.band, 0), c.score


def stored(queries_json: dict[str, Any]) -> list[Record]:
    """The queries kept with a watched child (``{"queries": [Record.to_dict(), ...]}``)."""
    return [Record.from_dict(q) for q in queries_json.get("queries", [])]


def as_records(rows: Iterable[dict[str, str]]) -> list[Record]:
    return [Record.from_dict(r) for r in rows]


class OnRoll(Protocol):
    @property
    def laestab(self) -> str | None: ...

    @property
    def on_roll_from(self) -> str | None: ...

    @property
    def on_roll_to(self) -> str | None: ...


def on_roll(record: OnRoll, today: dt.date) -> bool:
    """On a school's roll today: a LAESTAB, started, and not (yet) left."""
    if not record.laestab:
        return False
    day = today.isoformat()
    if record.on_roll_from and record.on_roll_from[:10] > day:
        return False
    return not (record.on_roll_to and record.on_roll_to[:10] < day)


def school_of(laestab: str | None) -> m.School | None:
    """The school with this LAESTAB. Local records and CTFs carry the school's DfE number,
    not always its name: a reply names the school by that number, which every LA can look
    up (Get Information about Schools)."""
    if not laestab or not (laestab.isascii() and laestab.isdigit()) or len(laestab) != 7:
        return None
    return m.School(name=f"School {laestab}", laestab=laestab, local_authority=laestab[:3])
