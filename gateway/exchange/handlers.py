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
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import Step, Tx

log = logging.getLogger(__name__)

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
    child; a later reply ("now found") updates the outcomes. Each child's status is updated
    too, except that a ``not-known...`` after a ``known-...`` is held for the officer's
    review (audited), never written over the known outcome."""

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
            changes = await gw.store.chasing.record_reply(
                tx, enquiry_id, h.sender, h.message_id, json.loads(outcomes), now.timestamp(),
                message.officer.name)
            if changes is None:
                return  # not an enquiry we track, or not from its recipient
            merged = await gw.store.chasing.outcomes(tx, enquiry_id)
            if merged is not None:
                # the outbox shows every child's current outcome, not only the latest
                # reply's (which may leave children out, or say not known after known)
                await gw.store.outbox.set_outcomes(tx, enquiry_id, json.dumps(merged))
            for c in changes:
                if c.review:
                    await gw.store.audit.add(
                        f"partner {h.sender}", "review-needed", enquiry_id,
                        f"child {c.child_ref}: reply {c.reply_id} says {c.after} after "
                        f"{c.before}; {c.before} kept until an officer accepts or rejects it",
                        tx=tx)
                    log.warning("reply says not known after known: review needed message=%s "
                                "child_ref=%s reply=%s", enquiry_id, c.child_ref, c.reply_id)
                else:
                    await gw.store.audit.add(
                        f"partner {h.sender}", "outcome-changed", enquiry_id,
                        f"child {c.child_ref}: {c.before} -> {c.after} (reply {c.reply_id})",
                        tx=tx)
                    log.info("outcome changed message=%s child_ref=%s %s -> %s", enquiry_id,
                             c.child_ref, c.before, c.after)

        return Handled(step=answer)


class ChaserArrived:
    """A partner chases an Enquiry it sent us: accepted only if it names an Enquiry this
    gateway received from the same sender, in its conversation, about its children; recorded
    with that enquiry ("chased N times, last on ...") and audited. Answered with a Receipt;
    the answer to the chaser is the Reply to the enquiry."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrival) -> Handled:
        assert isinstance(message, m.Chaser)
        h = message.header
        enquiry_id = h.in_reply_to
        row = await gw.store.inbox.get(enquiry_id) if enquiry_id else None
        if (row is None or enquiry_id is None
                or row.message_type != m.MessageType.ENQUIRY.value
                or row.sender != h.sender or row.conversation_id != h.conversation_id):
            raise GatewayError("chaser-unknown-enquiry", f"chaser {h.message_id}")
        enquiry = mx.parse_stored(row.body)
        assert isinstance(enquiry, m.Enquiry)
        if not set(message.awaiting) <= {c.child_ref for c in enquiry.children}:
            raise GatewayError("chaser-unknown-enquiry",
                               f"chaser {h.message_id} names a child the enquiry does not")
        now = arrival.now.timestamp()

        async def record(tx: Tx) -> None:
            await gw.store.chasing.record_received(tx, h.message_id, enquiry_id, h.sender,
                                                   message.chaser_number, now)
            await gw.store.audit.add(f"partner {h.sender}", "chaser-received", enquiry_id,
                                     f"chaser {message.chaser_number} {h.message_id}; "
                                     f"{len(message.awaiting)} children awaiting", tx=tx)
            log.info("chaser received message=%s enquiry=%s number=%d", h.message_id,
                     enquiry_id, message.chaser_number)

        return Handled(step=record)


T = m.MessageType
EXCHANGE: dict[m.MessageType, Handler] = {
    T.ENQUIRY: Store(),
    # Referral: gateway.workflow.cases.ReferralArrived (it opens a case), added at start-up.
    T.REPLY: ReplyArrived(),
    T.CHASER: ChaserArrived(),
    # Receipt, Error and LpdResult have no handler: they are answers, never accepted here.
    T.TRANSFER: Refuse("payload-missing", "send Transfers to /v1/transfers"),
}
