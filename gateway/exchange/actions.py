"""What an officer may do to a message already in the outbox: resend it, or cancel it.

- **Resend** a failed or expired message: the same content under a new message id (a
  receiver de-duplicates by id, and a failed id stays failed there too), in the same
  conversation and answering the same message, dated now and signed again. The new message
  is linked to the old one (``outbound_resends``) and the resend is audited, in the same
  commit as the new outbox row. A Transfer of a CTF this gateway stored (a forward, an LPD
  claim's delivery) is resent as a new Transfer envelope over the same stored payload, and
  its transfer record goes back to ``forwarded``; a file ``ctf post`` sent is not stored
  here and is sent again with ``ctf post``.
- **Cancel** a message that is not yet delivered, unless a delivery attempt holds it at
  this moment (what is on the wire cannot be called back).

Chasing an overdue enquiry is the case workflow's (a Chaser message type), not done here.
"""

from __future__ import annotations

import dataclasses
import logging

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import prepare, queue
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboundRow, OutboxState, Tx
from gateway.store.outbox import DELIVERED_STATES, OPEN_STATES

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
    if old.payload_path is not None:
        return await _resend_ctf(gw, old, actor)
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


async def _resend_ctf(gw: Gateway, old: OutboundRow, actor: str) -> OutboundRow:
    """Resend a Transfer of a CTF this gateway stored (a forward, an LPD claim's delivery):
    a new Transfer envelope, signed now, over the same stored payload (the sender streams
    it from the store, a chunk at a time), linked to the old one, and the transfer record
    back to ``forwarded`` in the same commit. A file that ``ctf post`` sent is not stored
    here: it is sent again with ``ctf post``."""
    assert old.payload_path is not None
    transfer = await gw.store.transfers.by_path(old.payload_path)
    if transfer is None:
        raise GatewayError("invalid-state", "a CTF transfer is resent with 'cme-gateway ctf "
                           "post', not from the outbox")

    async def others(tx: Tx) -> list[tuple[str, str]]:
        rows = await tx.fetchall(
            "SELECT message_id, state FROM outbound WHERE payload_path = ? AND recipient = ? "
            "AND message_id <> ?", old.payload_path, old.recipient, old.message_id)
        return [(r["message_id"], r["state"]) for r in rows]

    live = [mid for mid, state in await gw.store.backend.read(others)
            if state in OPEN_STATES or state in DELIVERED_STATES]
    if live:
        raise GatewayError("invalid-state", f"transfer {transfer.transfer_id} is already sent "
                           f"again to {old.recipient} as {live[0]}")
    opened = await gw.store.payloads.open(old.payload_path)  # ctf-payload-missing if gone
    await opened.aclose()
    message = mx.parse_stored(old.body)
    assert isinstance(message, m.Transfer)
    fresh = gw.header(m.MessageType.TRANSFER, old.recipient,
                      conversation_id=message.header.conversation_id,
                      in_reply_to=message.header.in_reply_to)
    row = prepare(gw, dataclasses.replace(message, header=fresh),
                  payload_path=old.payload_path)

    async def linked(tx: Tx) -> None:
        now = gw.clock.time()
        # First, the guarded move out of 'undelivered' (invalid-state, and nothing queued,
        # when another resend or the claiming LA's claim again came first): the check
        # above is only for a clear answer, this is what makes one resend win.
        await gw.store.transfers.resent(tx, transfer.transfer_id, fresh.message_id,
                                        old.recipient, actor, now)
        await gw.store.outbox.link_resend(tx, fresh.message_id, old.message_id, actor, now)
        await gw.store.audit.add(actor, "resend", old.message_id,
                                 f"as {fresh.message_id} (transfer {transfer.transfer_id})",
                                 tx=tx)
        for case_id in await gw.store.cases.for_message(tx, old.message_id):
            await gw.store.cases.link(tx, case_id, fresh.message_id, "out")  # as the first

    await gw.store.outbox.enqueue(row, linked)
    log.info("resent ctf transfer=%s message=%s as=%s to=%s", transfer.transfer_id,
             old.message_id, row.message_id, row.recipient)
    return row


async def resend_transfer(gw: Gateway, ref: str, actor: str) -> OutboundRow:
    """``cme-gateway ctf resend``: resend a CTF that was not delivered, named by its
    transfer id (the last Transfer that sent it) or by the outbox message id of a Transfer
    that sent a CTF stored here; any other message is refused (``invalid-state``): it is
    resent from the outbox."""
    row = await gw.store.outbox.get(ref)
    if row is not None:
        if row.message_type != m.MessageType.TRANSFER.value or row.payload_path is None:
            raise GatewayError("invalid-state", f"message {ref} is a {row.message_type}, not "
                               "the Transfer of a CTF stored here; resend it from the outbox")
        return await resend(gw, ref, actor)
    transfer = await gw.store.transfers.get(ref)
    if transfer is None:
        raise GatewayError("not-found", f"no transfer or outbound message {ref}")

    async def last(tx: Tx) -> str | None:
        row = await tx.fetchone("SELECT message_id FROM outbound WHERE payload_path = ? "
                                "ORDER BY created_at DESC LIMIT 1", transfer.path)
        return row["message_id"] if row else None

    mid = await gw.store.backend.read(last)
    if mid is None:
        raise GatewayError("invalid-state", f"transfer {ref} is {transfer.state}; this "
                           "gateway has not sent it anywhere")
    return await resend(gw, mid, actor)


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
