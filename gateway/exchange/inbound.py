"""The inbound path, in one place and in this order (DESIGN.md, "The inbound path"):

size limit -> safe parse -> verify (profile, trust, signature; only signed XML goes on) ->
validate (XSD) -> check sender, recipient and freshness -> sign a receipt -> durable commit
(de-duplicating) -> answer with the receipt.

Nothing is acknowledged before it is durably stored. Each step is a named function; a step
that rejects raises GatewayError with a stable code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.crypto.trust import TrustStore
from gateway.exchange.gateway import Gateway, outcomes_json
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import InboundRow

log = logging.getLogger(__name__)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")


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
    inbound path and by ``cme-gateway verify``."""
    check_size(body, s.max_body_bytes)
    root = xmlsafe.parse(body, max_depth=s.max_depth, max_elements=s.max_elements)
    verified = dsig.verify(root, body, trust, now)
    signed = verified.signed  # from here on, only what the signature covers
    schemas.validate(signed)
    message = mx.parse(signed)
    if message.header.sender != verified.party:
        raise GatewayError("sender-mismatch",
                           f"header names {message.header.sender}; certificate is "
                           f"{verified.party}")
    return message


def make_receipt(gw: Gateway, header: m.Header, digest: str, now: dt.datetime) -> bytes:
    receipt = m.Receipt(
        header=gw.header(m.MessageType.RECEIPT, header.sender,
                         conversation_id=header.conversation_id, in_reply_to=header.message_id),
        received_message_id=header.message_id, digest_sha256=digest, received_at=now)
    return gw.sign(receipt, validate=False)


async def receive(gw: Gateway, body: bytes) -> Accepted:
    now = dt.datetime.now(dt.UTC)
    s = gw.settings
    message = verify_and_parse(body, gw.trust, s)
    header = message.header
    check_recipient(header, gw.party)
    check_fresh(header.created_at, now, s.replay_window_seconds, s.clock_skew_seconds)
    digest = hashlib.sha256(body).hexdigest()
    # A resend of a search or claim must not run it again (the stored answer is returned);
    # for other types the store's de-duplication is enough, so they skip this read.
    old = (await gw.store.get_inbound(header.message_id)
           if isinstance(message, (m.LpdSearch, m.LpdClaim)) else None)
    if old is not None and old.digest == digest:
        # A resend: answer as the first time, without doing its work again.
        log.info("accepted message=%s type=%s from=%s duplicate=True", header.message_id,
                 header.message_type.value, header.sender)
        return Accepted(message, old.receipt, duplicate=True)
    answer, also = await effects(gw, message, digest, now)
    row = InboundRow(
        message_id=header.message_id, sender=header.sender, recipient=header.recipient,
        message_type=header.message_type.value, conversation_id=header.conversation_id,
        in_reply_to=header.in_reply_to, created_at=header.created_at.timestamp(),
        received_at=now.timestamp(), digest=digest, body=body, receipt=answer)
    outcomes = outcomes_json(message) if isinstance(message, m.Reply) else None
    result = await gw.store.accept_inbound(row, outcomes, also=also)
    log.info("accepted message=%s type=%s from=%s duplicate=%s", header.message_id,
             header.message_type.value, header.sender, result.duplicate)
    return Accepted(message, result.receipt, result.duplicate)


async def effects(gw: Gateway, message: m.Message, digest: str, now: dt.datetime
                  ) -> tuple[bytes, Any]:
    """The answer to sign and return (a Receipt, or an LpdResult for a search) and the
    transaction step the message causes, by type."""
    from gateway.hub import lpd
    from gateway.store import ctf_ops

    h = message.header
    if isinstance(message, m.Transfer):
        raise GatewayError("payload-missing", "send Transfers to /v1/transfers")
    if isinstance(message, m.LpdSearch):
        found = await lpd.search(gw, h.sender, message)
        result = m.LpdResult(
            header=gw.header(m.MessageType.LPD_RESULT, h.sender,
                             conversation_id=h.conversation_id, in_reply_to=h.message_id),
            search_id=h.message_id, candidates=tuple(found))
        detail = (f"by {lpd.criteria(message)}; {len(found)} results; "
                  f"reason: {message.reason[:500]}")

        async def audit(tx: Any) -> None:
            await gw.store.audit(h.sender, "lpd-search", h.message_id, detail, tx=tx)

        return gw.sign(result), audit  # validated: its values come from stored CTFs
    also = None
    if isinstance(message, m.LpdClaim):
        also = await lpd.prepare_claim(gw, h.sender, message)
    elif isinstance(message, m.CtfNotice):
        if h.sender != "S2S" or gw.settings.role != "la":
            raise GatewayError("bad-request", "CtfNotices come from the S2S hub to an LA")
        case = lpd.notice_case(message)

        async def open_case(tx: Any) -> None:
            await ctf_ops.open_case(tx, case)

        also = open_case
    return make_receipt(gw, h, digest, now), also


def error_message(gw: Gateway, error: GatewayError, body: bytes | None) -> bytes:
    """A signed Error answering ``body``. Addressing is read from the unverified header when it
    can be (it is only used to address the answer, never trusted)."""
    recipient, about = "unknown", None
    if body:
        try:
            root = etree.fromstring(body, etree.XMLParser(resolve_entities=False,
                                                          no_network=True, load_dtd=False))
            sender = root.findtext(f"{{{m.NS}}}Header/{{{m.NS}}}Sender") or ""
            mid = root.findtext(f"{{{m.NS}}}Header/{{{m.NS}}}MessageId") or ""
            if re.fullmatch(r"[0-9]{3}|[0-9]{7}|S2S", sender):
                recipient = sender
            if UUID_RE.match(mid):
                about = mid
        except etree.XMLSyntaxError:
            pass
    err = m.Error(header=gw.header(m.MessageType.ERROR, recipient, in_reply_to=about),
                  code=error.code, text=error.text[:4000], about_message_id=about)
    return gw.sign(err, validate=False)
