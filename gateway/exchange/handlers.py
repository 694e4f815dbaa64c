"""What a received message does, one handler per message type.

The inbound pipeline (``inbound.py``) knows no types: after a message is verified and
checked it asks the handler registered for its type what the message causes. A handler
returns a ``Handled``: the answer to sign and return (default: a Receipt) and the step that
commits with the message (an enquiry answered, a case opened, a claim made). A new message
type is one new handler, registered at start-up (``gateway.web.app.inbound_for``).

This module has the exchange's own handlers; the hub's are in ``gateway.hub.handlers``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.store import Step, Tx


@dataclass(frozen=True)
class Arrival:
    """What the pipeline knows of a message besides its content."""

    digest: str  # SHA-256 of the exact bytes received
    now: dt.datetime


@dataclass(frozen=True)
class Handled:
    answer: bytes | None = None  # None: the pipeline signs a Receipt
    step: Step | None = None


class Handler(Protocol):
    # True when doing the work twice would be wrong (a search is audited, a claim made):
    # a resend with the same bytes gets the stored answer and the handler does not run.
    once: bool

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled: ...


Handlers = Mapping[m.MessageType, Handler]


class Store:
    """Stored and acknowledged; the work comes later (matching runs in the background)."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        return Handled()


class Refuse:
    """A type this endpoint does not take."""

    once = False

    def __init__(self, code: str, detail: str) -> None:
        self.code, self.detail = code, detail

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        raise GatewayError(self.code, self.detail)


def outcomes_json(reply: m.Reply) -> str:
    return json.dumps([{"child_ref": o.child_ref, "outcome": o.outcome.value,
                        "school": dataclasses.asdict(o.school) if o.school else None,
                        "comments": o.comments} for o in reply.outcomes])


class ReplyArrived:
    """A Reply answers our Enquiry: the enquiry moves to ``answered`` with the outcome per
    child; a later reply ("now found") updates the outcomes."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.Reply)
        h = message.header
        if not h.in_reply_to:
            return Handled()
        enquiry_id, outcomes, now = h.in_reply_to, outcomes_json(message), arrival.now

        async def answer(tx: Tx) -> None:
            await gw.store.outbox.answer(tx, enquiry_id, h.sender, h.message_id, outcomes,
                                         now.timestamp())

        return Handled(step=answer)


T = m.MessageType
EXCHANGE: dict[m.MessageType, Handler] = {
    T.ENQUIRY: Store(),
    # Referral: gateway.workflow.cases.ReferralArrived (it opens a case), added at start-up.
    T.REPLY: ReplyArrived(),
    # Receipt, Error and LpdResult have no handler: they are answers, never accepted here.
    T.TRANSFER: Refuse("payload-missing", "send Transfers to /v1/transfers"),
}
