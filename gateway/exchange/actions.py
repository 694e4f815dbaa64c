"""What an officer may do to a message already in the outbox: resend it, or cancel it.

- **Resend** a failed or expired message: the same content under a new message id (a
  receiver de-duplicates by id, and a failed id stays failed there too), in the same
  conversation and answering the same message, dated now and signed again. The new message
  is linked to the old one (``outbound_resends``) and the resend is audited, in the same
  commit as the new outbox row.
- **Cancel** a message that is not yet delivered, unless a delivery attempt holds it at
  this moment (what is on the wire cannot be called back).

Chasing an overdue enquiry is the case workflow's (a Chaser message type), not done here.
"""

from __future__ import annotations

import dataclasses
import logging

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.messages import xml as mx
from gateway.store import OutboundRow, OutboxState, Tx

log = logging.getLogger(__name__)
RESENDABLE = (OutboxState.FAILED, OutboxState.EXPIRED)
CANCELLABLE = (OutboxState.QUEUED, OutboxState.SENDING)


async def resend(gw: Gateway, message_id: str, actor: str) -> OutboundRow:
    """Queue a failed or expired message again under a new id; returns the new row."""
    old = await gw.store.outbox.get(message_id, with_body=True)
    if old is None:
        raise GatewayError("not-found", f"no outbound message {message_id}")
    if old.state not in RESENDABLE:
        raise GatewayError("invalid-state", f"message {message_id} is {old.state.value}; only "
                           "a failed or expired message can be resent")
    if old.payload_path is not None:  # a CTF transfer: its payload is sent by `ctf post`
        raise GatewayError("invalid-state", "a CTF transfer is resent with 'cme-gateway ctf "
                           "post', not from the outbox")
    message = mx.parse_stored(old.body)
    fresh = gw.header(message.header.message_type, old.recipient,
                      conversation_id=message.header.conversation_id,
                      in_reply_to=message.header.in_reply_to)
    message = dataclasses.replace(message, header=fresh)

    async def linked(tx: Tx) -> None:
        now = gw.clock.time()
        await gw.store.outbox.link_resend(tx, fresh.message_id, message_id, actor, now)
        await gw.store.audit.add(actor, "resend", message_id, f"as {fresh.message_id}", tx=tx)

    row = await queue(gw, message, step=linked)
    log.info("resent message=%s as=%s to=%s", message_id, row.message_id, row.recipient)
    return row


async def cancel(gw: Gateway, message_id: str, actor: str) -> None:
    """Cancel a message not yet delivered; ``invalid-state`` when it cannot be."""
    async def op(tx: Tx) -> bool:
        done = await gw.store.outbox.cancel(tx, message_id, f"cancelled by {actor}",
                                            gw.clock.time())
        if done:
            await gw.store.audit.add(actor, "cancel", message_id, tx=tx)
        return done

    if not await gw.store.backend.write(op):
        row = await gw.store.outbox.get(message_id)
        if row is None:
            raise GatewayError("not-found", f"no outbound message {message_id}")
        raise GatewayError("invalid-state", f"message {message_id} is {row.state.value}"
                           + (" and a delivery attempt holds it; try again in a minute"
                              if row.state in CANCELLABLE else
                              "; only a message not yet delivered can be cancelled"))
    log.info("cancelled message=%s", message_id)
