"""Putting a message in the outbox: sign it as this gateway and store it, in the same
transaction as the change that caused it (DESIGN.md, "The outbound path"). The sender
(``sender.py``) delivers it from there."""

from __future__ import annotations

import dataclasses
import hashlib
import logging

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway, wire_time
from gateway.exchange.tracking import track
from gateway.messages import model as m
from gateway.store import OutboundRow, OutboxState, Step, Tx

log = logging.getLogger(__name__)


def prepare(gw: Gateway, message: m.Message, *, spool_name: str | None = None,
            payload_path: str | None = None, validate: bool = True) -> OutboundRow:
    """Sign ``message`` and make its outbox row (not yet stored)."""
    h = message.header
    if h.sender != gw.party:
        raise GatewayError("bad-request", f"the sender must be this gateway ({gw.party})")
    gw.settings.endpoint(h.recipient)  # unknown-partner if there is nowhere to send it
    body = gw.sign(message, validate=validate)
    now = gw.clock.time()
    return OutboundRow(
        message_id=h.message_id, recipient=h.recipient, message_type=h.message_type.value,
        conversation_id=h.conversation_id, in_reply_to=h.in_reply_to,
        created_at=now, state=OutboxState.QUEUED, attempts=0, next_attempt_at=now,
        expires_at=now + gw.settings.outbound_expiry_seconds,
        digest=hashlib.sha256(body).hexdigest(), body=body, spool_name=spool_name,
        payload_path=payload_path)


async def queue(gw: Gateway, message: m.Message, *, spool_name: str | None = None,
                step: Step | None = None, validate: bool = True) -> OutboundRow:
    """Sign ``message`` and put it in the outbox (with ``step(tx)`` in the same commit). An
    Enquiry is tracked in the same commit too: its due date and each child's status."""
    row = prepare(gw, message, spool_name=spool_name, validate=validate)
    if isinstance(message, m.Enquiry):
        tracked, caused = track(gw, message, row.created_at), step

        async def both(tx: Tx) -> None:
            await tracked(tx)
            if caused is not None:
                await caused(tx)

        step = both
    await gw.store.outbox.enqueue(row, step)
    log.info("queued message=%s type=%s to=%s", row.message_id, row.message_type,
             row.recipient)
    return row


def readdress(gw: Gateway, message: m.Message, recipient: str) -> m.Message:
    """The same message, from this gateway to ``recipient``, dated now (for ``send``)."""
    header = dataclasses.replace(message.header, sender=gw.party, recipient=recipient,
                                 created_at=wire_time(gw.clock.now()))
    return dataclasses.replace(message, header=header)


def dated(gw: Gateway, message: m.Message) -> m.Message:
    """The same message dated now: a message handed in unsigned (a spool file, the operator
    API) is created, as far as partners can tell, when this gateway signs it. Its own
    CreatedAt may be days old (a template, a file written before a holiday), and the
    partner refuses a message older than its replay window (``message-too-old``)."""
    header = dataclasses.replace(message.header, created_at=wire_time(gw.clock.now()))
    return dataclasses.replace(message, header=header)
