"""The hub's message handlers (see ``gateway.exchange.handlers``): Lost Pupils Database
searches and claims at the hub, and the hub's CtfNotice at an LA."""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from gateway.core.errors import GatewayError
from gateway.core.parties import HUB
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled, Handler
from gateway.hub.lpd import LpdIndex, criteria, prepare_claim, require_hub_and_la
from gateway.hub.routing import notice_case
from gateway.messages import model as m
from gateway.store import Tx

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0


class HubEvents(Protocol):
    """Where the hub's handlers report what an operator should see (the metrics)."""

    def lpd_searched(self, la: str) -> None: ...

    def lpd_limited(self, la: str) -> None: ...


class NoEvents:
    def lpd_searched(self, la: str) -> None:
        pass

    def lpd_limited(self, la: str) -> None:
        pass


def require_reason(reason: str) -> None:
    """The hub enforces what the LA's own gateway asks (the client is not the only check):
    every search and claim says why."""
    if not reason.strip():
        raise GatewayError("lpd-reason-required")


class SearchLimit:
    """At most ``limit`` searches per LA in any minute (a sliding window). Decisive UPN hits
    would otherwise let an LA sweep serial numbers to list lost pupils; a burst is refused
    and raises an alert, once per LA per window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, deque[float]] = {}
        self.alerted: dict[str, float] = {}

    def check(self, la: str, now: float, events: HubEvents) -> None:
        recent = self.seen.setdefault(la, deque())
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= self.limit:
            events.lpd_limited(la)
            if now - self.alerted.get(la, float("-inf")) >= WINDOW_SECONDS:
                self.alerted[la] = now
                log.warning("lpd search burst la=%s searches=%d in %ds (limit %d): refused",
                            la, len(recent), int(WINDOW_SECONDS), self.limit)
            raise GatewayError("lpd-rate-limited", f"limit {self.limit} a minute")
        recent.append(now)
        events.lpd_searched(la)


class LpdSearched:
    """Answered with a signed LpdResult (its values come from stored, checked CTFs), and
    audited with who searched, on which fields (never their values) and why."""

    once = True  # a resend must not search (and audit) again: it gets the stored answer

    def __init__(self, events: HubEvents) -> None:
        self.index = LpdIndex()
        self.events = events
        self.limit: SearchLimit | None = None

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.LpdSearch)
        h = message.header
        require_hub_and_la(gw, h.sender)
        require_reason(message.reason)
        if self.limit is None or self.limit.limit != gw.settings.lpd_searches_per_minute:
            self.limit = SearchLimit(gw.settings.lpd_searches_per_minute)
        self.limit.check(h.sender, gw.clock.time(), self.events)
        found = await self.index.search(gw, h.sender, message)
        result = m.LpdResult(
            header=gw.header(m.MessageType.LPD_RESULT, h.sender,
                             conversation_id=h.conversation_id, in_reply_to=h.message_id),
            search_id=h.message_id, candidates=tuple(found))
        # Whose records were disclosed, by transfer id (no personal data in the audit text):
        # the hub can answer "which LAs were shown this child's record?".
        shown = ",".join(c.transfer_id for c in found)
        detail = (f"by {criteria(message)}; {len(found)} results"
                  f"{': ' + shown if shown else ''}; reason: {message.reason[:500]}")

        async def audit(tx: Tx) -> None:
            await gw.store.audit.add(h.sender, "lpd-search", h.message_id, detail, tx=tx)

        return Handled(answer=gw.sign(result), step=audit)


class LpdClaimed:
    once = True  # a claim is made once; a resend gets the stored receipt

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.LpdClaim)
        require_hub_and_la(gw, message.header.sender)
        require_reason(message.reason)
        return Handled(step=await prepare_claim(gw, message.header.sender, message))


class CtfNoticed:
    """The hub tells an LA of a lost CTF from one of its schools: the LA opens a case."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.CtfNotice)
        if message.header.sender != HUB or gw.settings.role != "la":
            raise GatewayError("bad-request", "CtfNotices come from the S2S hub to an LA")
        case = notice_case(message)

        async def open_case(tx: Tx) -> None:
            if await gw.store.cases.open(tx, case) is None:
                # a case for this transfer exists (a resend, or the ClaimNotice came first:
                # the child is located already): it is noted there, never opened twice
                for case_id in await gw.store.cases.for_transfer(tx, message.transfer_id):
                    await gw.store.cases.link(tx, case_id, message.header.message_id, "in")
                    await gw.store.cases.event(tx, case_id, "party:S2S", "note",
                                               detail=f"CtfNotice received: {message.kind} "
                                                      f"CTF in the Lost Pupils Database")

        return Handled(step=open_case)


def hub_handlers(events: HubEvents | None = None) -> dict[m.MessageType, Handler]:
    """Fresh handlers for one gateway (the search handler keeps that gateway's index and
    rate limit)."""
    return {m.MessageType.LPD_SEARCH: LpdSearched(events or NoEvents()),
            m.MessageType.LPD_CLAIM: LpdClaimed(), m.MessageType.CTF_NOTICE: CtfNoticed()}
