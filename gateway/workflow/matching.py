"""Matching children in received messages against the authority's own records.

After a message is stored and acknowledged (DESIGN.md: "then, asynchronously, matching and
workflow"), each child in an Enquiry, and the child in a Referral, is matched with the
matching engine (``gateway.matching``) against the records imported with
``cme-gateway records import``. The ranked candidates, with their bands and per-field
explanations, are stored with the message (``match_results``) and shown with it by the
operator API. The matcher is rebuilt when the records change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.core.clock import every
from gateway.exchange.gateway import Gateway
from gateway.matching import Matcher, Record
from gateway.matching.normalise import coerce_date
from gateway.messages import model as m
from gateway.messages import xml as mx

log = logging.getLogger(__name__)
TYPES = (m.MessageType.ENQUIRY.value, m.MessageType.REFERRAL.value)


def queries(message: m.Message) -> dict[str, Record]:
    """One matcher query per child the message asks about, keyed by child reference."""
    if isinstance(message, m.Enquiry):
        return {c.child_ref: Record(
            record_id=c.child_ref, upn=c.upn or "", surname=c.surname, forename=c.forename,
            middle_names=c.middle_names or "", dob=coerce_date(c.dob), sex=c.gender or "",
            postcode=(c.address_while_resident.postcode or "") if c.address_while_resident
            else "",
            address=" ".join(c.address_while_resident.lines) if c.address_while_resident
            else "") for c in message.children}
    if isinstance(message, m.Referral):
        c = message.child
        addr = c.address_while_resident
        return {"child": Record(record_id="child", upn=c.upn or "", surname=c.surname,
                                forename=c.forename, dob=coerce_date(c.dob), sex=c.gender or "",
                                postcode=(addr.postcode or "") if addr else "",
                                address=" ".join(addr.lines) if addr else "")}
    return {}


class MatchWorker:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.config = gw.settings.match_config()
        self.matcher: Matcher | None = None
        self.version: tuple[int, float] | None = None

    async def run(self) -> None:
        await every(lambda: self.gw.settings.match_interval_seconds, self.tick, "match",
                    self.gw.clock)

    async def _current(self) -> Matcher:
        version = await self.gw.store.records.version()
        if self.matcher is None or version != self.version:
            rows = await self.gw.store.records.all()
            records = [Record.from_dict(r.present()) for r in rows]
            self.matcher = await asyncio.to_thread(Matcher.from_records, records, self.config)
            self.version = version
            log.info("matcher loaded with %d records", len(records))
        return self.matcher

    async def tick(self) -> int:
        pending = await self.gw.store.inbox.unmatched(TYPES)
        if not pending:
            return 0
        matcher = await self._current()
        for row in pending:
            results: dict[str, list[dict[str, Any]]] = {}
            try:
                message = mx.parse_stored(row.body)
                for ref, query in queries(message).items():
                    results[ref] = [c.to_dict() for c in matcher.match(query, limit=5)]
            except Exception as exc:  # one bad message must not hold up the others
                log.error("matching failed message=%s: %s", row.message_id,
                          getattr(exc, "code", type(exc).__name__))
            await self.gw.store.records.save_results(row.message_id, results)
            bands = ",".join(r[0]["band"] if r else "no-match" for r in results.values())
            log.info("matched message=%s children=%d bands=%s", row.message_id,
                     len(results), bands)
        return len(pending)
