"""The hub's message handlers (see ``gateway.exchange.handlers``): Lost Pupils Database
searches and claims at the hub, and the hub's CtfNotice at an LA."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.core.parties import HUB
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handled, Handler
from gateway.hub.lpd import LpdIndex, criteria, prepare_claim
from gateway.hub.routing import notice_case
from gateway.messages import model as m
from gateway.store import Tx


class LpdSearched:
    """Answered with a signed LpdResult (its values come from stored, checked CTFs), and
    audited with who searched, on which fields (never their values) and why."""

    once = True  # a resend must not search (and audit) again: it gets the stored answer

    def __init__(self) -> None:
        self.index = LpdIndex()

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.LpdSearch)
        h = message.header
        found = await self.index.search(gw, h.sender, message)
        result = m.LpdResult(
            header=gw.header(m.MessageType.LPD_RESULT, h.sender,
                             conversation_id=h.conversation_id, in_reply_to=h.message_id),
            search_id=h.message_id, candidates=tuple(found))
        detail = (f"by {criteria(message)}; {len(found)} results; "
                  f"reason: {message.reason[:500]}")

        async def audit(tx: Tx) -> None:
            await gw.store.audit.add(h.sender, "lpd-search", h.message_id, detail, tx=tx)

        return Handled(answer=gw.sign(result), step=audit)


class LpdClaimed:
    once = True  # a claim is made once; a resend gets the stored receipt

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.LpdClaim)
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
            await gw.store.cases.open(tx, case)

        return Handled(step=open_case)


def hub_handlers() -> dict[m.MessageType, Handler]:
    """Fresh handlers for one gateway (the search handler keeps that gateway's index)."""
    return {m.MessageType.LPD_SEARCH: LpdSearched(), m.MessageType.LPD_CLAIM: LpdClaimed(),
            m.MessageType.CTF_NOTICE: CtfNoticed()}
