"""Answering a received Enquiry with a Reply: an outcome per child, signed and queued in the
same transaction that marks the enquiry replied, records each child's answer and writes the
audit entry. A conversation can hold several replies (a first "not known but monitoring",
later "now known"): each one records the outcomes it gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboundRow, Tx

# What a reply causes, committed with it: called with the transaction and the reply's id.
ReplyStep = Callable[[Tx, str], Awaitable[object]]


# Messages about children that a Reply answers: an Enquiry, and a TravellerMove (a family
# expected here: the reply says the children arrived, or not).
Asking = m.Enquiry | m.TravellerMove
ASKING_TYPES = (m.MessageType.ENQUIRY.value, m.MessageType.TRAVELLER_MOVE.value)


async def received_enquiry(gw: Gateway, enquiry_id: str) -> tuple[Asking, str, str]:
    """A received Enquiry (or TravellerMove), its sender and its conversation id
    (``not-found`` otherwise)."""
    row = await gw.store.inbox.get(enquiry_id)
    if row is None or row.message_type not in ASKING_TYPES:
        raise GatewayError("not-found", f"no received enquiry {enquiry_id}")
    enquiry = mx.parse_stored(row.body)
    assert isinstance(enquiry, (m.Enquiry, m.TravellerMove))
    return enquiry, row.sender, row.conversation_id


async def reply(gw: Gateway, enquiry_id: str, outcomes: list[m.ChildOutcome],
                comments: str | None = None, actor: str = "cli", *,
                partial: bool = False, step: ReplyStep | None = None) -> OutboundRow:
    """Create, sign and queue a Reply to a received Enquiry. With ``partial=False`` the reply
    must give an outcome for every child (``reply-incomplete`` otherwise). ``step(tx,
    reply_id)`` commits with it: what the reply causes (a child watched, a case moved)."""
    enquiry, sender, conversation = await received_enquiry(gw, enquiry_id)
    refs = {c.child_ref for c in enquiry.children}
    given = [o.child_ref for o in outcomes]
    unknown = sorted(set(given) - refs)
    if unknown or len(set(given)) != len(given) or not given:
        raise GatewayError("bad-request",
                           f"outcomes must name each child at most once, from {sorted(refs)}")
    before = await gw.store.inbox.answers(enquiry_id)
    left_out = sorted(refs - set(given) - set(before))  # answered before: covered
    if left_out and not partial:
        raise GatewayError("reply-incomplete",
                           f"no outcome for {', '.join(left_out)}; answer each child or "
                           f"confirm a partial reply")
    header = gw.header(m.MessageType.REPLY, sender, conversation_id=conversation,
                       in_reply_to=enquiry_id)
    answer = m.Reply(header=header, date_replied=gw.clock.today(), officer=gw.officer(),
                     outcomes=tuple(outcomes), comments=comments)
    now = gw.clock.time()

    async def replied(tx: Tx) -> None:
        await gw.store.inbox.set_replied(tx, enquiry_id, header.message_id)
        await gw.store.inbox.record_answers(
            tx, enquiry_id, [(o.child_ref, o.outcome.value) for o in outcomes],
            header.message_id, actor, now)
        detail = f"reply {header.message_id}" + (f"; partial, {len(left_out)} child(ren) "
                                                  f"not answered" if left_out else "")
        await gw.store.audit.add(actor, "reply", enquiry_id, detail, tx=tx)
        if step is not None:
            await step(tx, header.message_id)

    row = await queue(gw, answer, step=replied)
    return row


async def answered(gw: Gateway, enquiry_id: str) -> dict[str, tuple[str, str]]:
    """The children of a received Enquiry answered so far: child ref -> (outcome, reply id)."""
    return await gw.store.inbox.answers(enquiry_id)
