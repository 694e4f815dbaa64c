"""Answering a received Enquiry with a Reply: an outcome per child, signed and queued in the
same transaction that marks the enquiry replied and writes the audit entry."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboundRow, Tx


async def reply(gw: Gateway, enquiry_id: str, outcomes: list[m.ChildOutcome],
                comments: str | None = None, actor: str = "cli") -> OutboundRow:
    """Create, sign and queue a Reply to a received Enquiry."""
    row = await gw.store.inbox.get(enquiry_id)
    if row is None or row.message_type != m.MessageType.ENQUIRY.value:
        raise GatewayError("not-found", f"no received enquiry {enquiry_id}")
    enquiry = mx.parse_stored(row.body)
    assert isinstance(enquiry, m.Enquiry)
    refs = {c.child_ref for c in enquiry.children}
    given = [o.child_ref for o in outcomes]
    unknown = sorted(set(given) - refs)
    if unknown or len(set(given)) != len(given) or not given:
        raise GatewayError("bad-request",
                           f"outcomes must name each child at most once, from {sorted(refs)}")
    header = gw.header(m.MessageType.REPLY, row.sender, conversation_id=row.conversation_id,
                       in_reply_to=enquiry_id)
    answer = m.Reply(header=header, date_replied=gw.clock.today(), officer=gw.officer(),
                     outcomes=tuple(outcomes), comments=comments)

    async def replied(tx: Tx) -> None:
        await gw.store.inbox.set_replied(tx, enquiry_id, header.message_id)
        await gw.store.audit.add(actor, "reply", enquiry_id, f"reply {header.message_id}",
                                 tx=tx)

    return await queue(gw, answer, step=replied)
