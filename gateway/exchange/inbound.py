"""The inbound path, in one place and in this order (DESIGN.md, "The inbound path"):

size limit -> safe parse -> verify (profile, trust, signature; only signed XML goes on) ->
validate (XSD) -> check sender, recipient and freshness -> handle (by type) -> sign a receipt
-> durable commit (de-duplicating) -> answer with the receipt.

Nothing is acknowledged before it is durably stored. Each step is a named function; a step
that rejects raises GatewayError with a stable code. What each type of message does is its
handler's business (``handlers.py``); this module knows no message types.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass

from lxml import etree

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError, Peer
from gateway.crypto import dsig
from gateway.crypto.trust import TrustStore
from gateway.exchange import answers
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival, Handler, Handlers
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import AcceptResult, InboundRow, Step

log = logging.getLogger(__name__)
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}")
# Answers come back on the request that caused them; they are never messages in their own
# right (a harvested Error or Receipt must not be accepted, stored and shown as genuine).
ANSWERS = frozenset({m.MessageType.RECEIPT, m.MessageType.ERROR, m.MessageType.LPD_RESULT})


@dataclass(frozen=True)
class Accepted:
    message: m.Message
    receipt: bytes
    duplicate: bool


def check_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise GatewayError("body-too-large", f"{len(body)} bytes; limit {limit}")


def check_recipient(header: m.Header, me: str) -> None:
    if header.recipient != me:
        raise GatewayError("wrong-recipient", f"addressed to {header.recipient}, this is {me}")


def check_fresh(created_at: dt.datetime, now: dt.datetime, window_s: int, skew_s: int) -> None:
    if created_at < now - dt.timedelta(seconds=window_s):
        raise GatewayError("message-too-old", f"created {created_at:%Y-%m-%dT%H:%M:%SZ}")
    if created_at > now + dt.timedelta(seconds=skew_s):
        raise GatewayError("message-from-future", f"created {created_at:%Y-%m-%dT%H:%M:%SZ}")


def verify_and_parse(body: bytes, trust: TrustStore, s: Settings,
                     now: dt.datetime | None = None) -> m.Message:
    """Everything that needs no store: parse, verify, validate, bind sender. Used by the
    inbound path and by ``cme-gateway verify``.

    A refusal after the signature verified is marked as answering the certificate's party
    (``GatewayError.answer_to``), so that only then is the Error signed."""
    check_size(body, s.max_body_bytes)
    root = xmlsafe.parse(body, max_depth=s.max_depth, max_elements=s.max_elements)
    verified = dsig.verify(root, body, trust, now)
    signed = verified.signed  # from here on, only what the signature covers
    try:
        schemas.validate(signed)
        message = mx.parse(signed)
    except GatewayError as exc:
        raise exc.answering(Peer(verified.party, _signed_id(signed))) from None
    h = message.header
    if h.sender != verified.party:
        raise GatewayError("sender-mismatch", f"header names {h.sender}; certificate is "
                           f"{verified.party}").answering(Peer(verified.party, h.message_id))
    return message


def _signed_id(signed: etree._Element) -> str | None:
    """The message id in signed XML that failed validation, if it is a well-formed id."""
    mid = signed.findtext(f"{{{m.NS}}}Header/{{{m.NS}}}MessageId")
    return mid if mid and UUID_RE.fullmatch(mid) else None


def peer_of(header: m.Header) -> Peer:
    return Peer(header.sender, header.message_id, header.conversation_id)


def check_addressed(gw: Gateway, header: m.Header, now: dt.datetime) -> None:
    """Addressed to this gateway, and inside the replay window."""
    s = gw.settings
    check_recipient(header, gw.party)
    check_fresh(header.created_at, now, s.replay_window_seconds, s.clock_skew_seconds)


def inbound_row(header: m.Header, body: bytes, arrival: Arrival, answer: bytes) -> InboundRow:
    return InboundRow(
        message_id=header.message_id, sender=header.sender, recipient=header.recipient,
        message_type=header.message_type.value, conversation_id=header.conversation_id,
        in_reply_to=header.in_reply_to, created_at=header.created_at.timestamp(),
        received_at=arrival.now.timestamp(), digest=arrival.digest, body=body, receipt=answer)


class Inbound:
    """``POST /v1/messages``: receive one signed message, with one handler per type."""

    def __init__(self, gw: Gateway, handlers: Handlers) -> None:
        self.gw = gw
        self.handlers = handlers

    def handler_for(self, message: m.Message) -> Handler:
        mtype = message.header.message_type
        handler = self.handlers.get(mtype)
        if handler is None:
            code = "answer-not-accepted" if mtype in ANSWERS else "unknown-message-type"
            raise GatewayError(code, f"{mtype.value} is not taken here")
        return handler

    async def receive(self, body: bytes) -> Accepted:
        gw = self.gw
        arrival = Arrival(hashlib.sha256(body).hexdigest(), gw.clock.now())
        message = verify_and_parse(body, gw.trust, gw.settings, arrival.now)
        try:
            return await self.accept(message, body, arrival)
        except GatewayError as exc:  # the message verified: the refusal answers its sender
            raise exc.answering(peer_of(message.header)) from None

    async def accept(self, message: m.Message, body: bytes, arrival: Arrival) -> Accepted:
        gw = self.gw
        header = message.header
        check_addressed(gw, header, arrival.now)
        handler = self.handler_for(message)
        if handler.once:
            resent = await self.resend(header, arrival)
            if resent is not None:
                return Accepted(message, resent, duplicate=True)
        handled = await handler.handle(gw, message, arrival)
        answer = handled.answer or answers.receipt(gw, header, arrival.digest, arrival.now)
        result = await self.commit(inbound_row(header, body, arrival, answer), handled.step)
        log.info("accepted message=%s type=%s from=%s duplicate=%s", header.message_id,
                 header.message_type.value, header.sender, result.duplicate)
        return Accepted(message, result.receipt, result.duplicate)

    async def resend(self, header: m.Header, arrival: Arrival) -> bytes | None:
        """The stored answer, when this is a resend of a message already received."""
        old = await self.gw.store.inbox.get(header.message_id)
        if old is None or old.digest != arrival.digest:
            return None
        log.info("accepted message=%s type=%s from=%s duplicate=True", header.message_id,
                 header.message_type.value, header.sender)
        return old.receipt

    async def commit(self, row: InboundRow, step: Step | None) -> AcceptResult:
        # grouped: on PostgreSQL, messages arriving together share one COMMIT (WAL flush)
        return await self.gw.store.inbox.accept(row, step, group=True)
