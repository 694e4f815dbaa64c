"""The answers a gateway gives a partner: a signed Receipt for an accepted message, an Error
for a refused one. The one place that builds them.

A signed Error never carries text or addressing taken from a request this gateway could not
authenticate (otherwise anyone could make the gateway sign text of their choosing, addressed
to anybody, "in reply to" any id):
- when the request's signature verified, the Error is signed, addressed to the verified
  sender, about the verified message id, with the code's fixed sentence and no detail;
- otherwise it is unsigned and addressed to ``unknown``: the sender learns the code, and
  nobody can present it as this gateway's word.
"""

from __future__ import annotations

import datetime as dt

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx

UNKNOWN = "unknown"  # RecipientId of an Error whose request was not authenticated


def receipt(gw: Gateway, header: m.Header, digest: str, now: dt.datetime) -> bytes:
    """A signed Receipt for the message ``header`` names, over its exact bytes' SHA-256."""
    answer = m.Receipt(
        header=gw.header(m.MessageType.RECEIPT, header.sender,
                         conversation_id=header.conversation_id, in_reply_to=header.message_id),
        received_message_id=header.message_id, digest_sha256=digest, received_at=now)
    return gw.sign(answer, validate=False)


def error(gw: Gateway, refusal: GatewayError) -> bytes:
    """The Error answering ``refusal``: signed only for an authenticated peer."""
    peer = refusal.answer_to
    if peer is None:
        err = m.Error(header=gw.header(m.MessageType.ERROR, UNKNOWN), code=refusal.code,
                      text=refusal.sentence)
        return mx.to_bytes(mx.build(err))
    err = m.Error(header=gw.header(m.MessageType.ERROR, peer.party,
                                   conversation_id=peer.conversation_id,
                                   in_reply_to=peer.message_id),
                  code=refusal.code, text=refusal.sentence, about_message_id=peer.message_id)
    return gw.sign(err, validate=False)
