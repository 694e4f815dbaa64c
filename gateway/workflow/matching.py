"""Matching children in received messages against the authority's own records.

After a message is stored and acknowledged (DESIGN.md: "then, asynchronously, matching and
workflow"), each child in an Enquiry, and the child in a Referral, is matched with the
matching engine (``gateway.matching``) against the records imported with
``cme-gateway records import``, at each address the message gives (``queries``). The ranked
candidates, with their bands and per-field explanations, are stored with the message
(``match_results``) and shown with it by the operator API. The matcher is rebuilt when the
records change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.core.clock import every
from gateway.exchange.gateway import Gateway
from gateway.matching import Matcher, Record
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.workflow.answering import auto_answer
from gateway.workflow.monitoring import found_on_arrival
from gateway.workflow.queries import best_of, queries

log = logging.getLogger(__name__)
TYPES = (m.MessageType.ENQUIRY.value, m.MessageType.REFERRAL.value,
         m.MessageType.TRAVELLER_MOVE.value)


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
                for ref, asked in queries(message).items():
                    results[ref] = [c.to_dict() for c in best_of(matcher, asked)]
            except Exception as exc:  # one bad message must not hold up the others
                log.error("matching failed message=%s: %s", row.message_id,
                          getattr(exc, "code", type(exc).__name__))
            await self.gw.store.records.save_results(row.message_id, results)
            bands = ",".join(r[0]["band"] if r else "no-match" for r in results.values())
            log.info("matched message=%s children=%d bands=%s", row.message_id,
                     len(results), bands)
            if row.message_type == m.MessageType.TRAVELLER_MOVE.value and results:
                try:
                    await found_on_arrival(self.gw, row.message_id, results)
                except Exception as exc:  # the watches still see later arrivals
                    log.error("traveller children not checked message=%s: %s",
                              row.message_id, getattr(exc, "code", type(exc).__name__))
            if row.message_type == m.MessageType.ENQUIRY.value and results:
                try:
                    await auto_answer(self.gw, row.message_id)
                except Exception as exc:  # the officer answers it instead
                    log.error("auto-reply failed message=%s: %s", row.message_id,
                              getattr(exc, "code", type(exc).__name__))
        return len(pending)
