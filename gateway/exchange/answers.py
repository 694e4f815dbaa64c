"""The signed answers a gateway gives a partner: a Receipt for an accepted message, an
Error for a refused one. The one place that builds them."""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.core.parties import is_party
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}$")


def receipt(gw: Gateway, header: m.Header, digest: str, now: dt.datetime) -> bytes:
    """A signed Receipt for the message ``header`` names, over its exact bytes' SHA-256."""
    answer = m.Receipt(
        header=gw.header(m.MessageType.RECEIPT, header.sender,
                         conversation_id=header.conversation_id, in_reply_to=header.message_id),
        received_message_id=header.message_id, digest_sha256=digest, received_at=now)
    return gw.sign(answer, validate=False)


def error(gw: Gateway, refusal: GatewayError, body: bytes | None) -> bytes:
    """A signed Error answering ``body``. Addressing is read from the unverified header when it
    can be (it is only used to address the answer, never trusted)."""
    recipient, about = "unknown", None
    if body:
        try:
            root = etree.fromstring(body, etree.XMLParser(resolve_entities=False,
                                                          no_network=True, load_dtd=False))
            sender = root.findtext(f"{{{m.NS}}}Header/{{{m.NS}}}Sender") or ""
            mid = root.findtext(f"{{{m.NS}}}Header/{{{m.NS}}}MessageId") or ""
            if is_party(sender):
                recipient = sender
            if _UUID_RE.match(mid):
                about = mid
        except etree.XMLSyntaxError:
            pass
    err = m.Error(header=gw.header(m.MessageType.ERROR, recipient, in_reply_to=about),
                  code=refusal.code, text=refusal.text[:4000], about_message_id=about)
    return gw.sign(err, validate=False)
