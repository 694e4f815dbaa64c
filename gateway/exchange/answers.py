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
import functools
from typing import Any

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway, wire_time
from gateway.messages import model as m
from gateway.messages import xml as mx

UNKNOWN = "unknown"  # RecipientId of an Error whose request was not authenticated


def receipt_message(gw: Gateway, header: m.Header, digest: str, now: dt.datetime
                    ) -> m.Receipt:
    """The Receipt for the message ``header`` names, over its exact bytes' SHA-256."""
    return m.Receipt(
        header=gw.header(m.MessageType.RECEIPT, header.sender,
                         conversation_id=header.conversation_id, in_reply_to=header.message_id),
        received_message_id=header.message_id, digest_sha256=digest, received_at=now)


def receipt(gw: Gateway, header: m.Header, digest: str, now: dt.datetime) -> bytes:
    """A signed Receipt for the message ``header`` names, over its exact bytes' SHA-256.

    The same document as ``gw.sign(receipt_message(...))`` verifies as (one per accepted
    message, so it is made from a template: ``ReceiptTemplate``)."""
    template = ReceiptTemplate.of(gw.settings.legal_basis or None)
    if template is None:  # a legal basis the template cannot hold: the tree, as before
        return gw.sign(receipt_message(gw, header, digest, now), validate=False)
    return gw.signer.sign_canonical(template.fill(
        message_id=m.new_id(), conversation_id=header.conversation_id,
        created_at=wire_time(gw.clock.now()), sender=gw.party, recipient=header.sender,
        received_message_id=header.message_id, digest=digest, received_at=now))


# Placeholders: text the model mapping writes as it is and no value can hold (a value of
# the fields they stand for is an id, a party, a hex digest or a time).
_SLOTS = {name: f"@{name}@" for name in (
    "message_id", "conversation_id", "sender", "recipient", "received_message_id", "digest")}
_TIME_SLOTS = {"created_at": dt.datetime(1901, 1, 1, 1, 1, 1, 1000, dt.UTC),
               "received_at": dt.datetime(1902, 2, 2, 2, 2, 2, 2000, dt.UTC)}


def _c14n_text(value: str) -> str:
    """``value`` as exclusive C14N writes element text (C14N 1.0, 1.4: &, <, > and CR)."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _canonical(message: m.Message) -> bytes:
    return etree.tostring(mx.build(message), method="c14n", exclusive=True,
                          with_comments=False)


def _sample_receipt(v: dict[str, Any], legal_basis: str | None) -> m.Receipt:
    return m.Receipt(
        header=m.Header(message_id=v["message_id"], conversation_id=v["conversation_id"],
                        created_at=v["created_at"], sender=v["sender"],
                        recipient=v["recipient"], message_type=m.MessageType.RECEIPT,
                        in_reply_to=v["received_message_id"], legal_basis=legal_basis),
        received_message_id=v["received_message_id"], digest_sha256=v["digest"],
        received_at=v["received_at"])


class ReceiptTemplate:
    """The exclusive C14N of a Receipt, split where its values go. A receipt is signed for
    every accepted message; building its tree (``mx.build``) and canonicalising it cost more
    than the ECDSA signature itself, so the canonical bytes are filled in from this template
    and signed as they are (``Signer.sign_canonical``).

    The template is made by the model mapping itself (``mx.build`` of a Receipt holding a
    placeholder in each value, then C14N), so it cannot drift from it;
    tests/test_answers_template.py holds filled templates against ``mx.build`` + C14N byte
    for byte and checks the signed receipts with signxml and xmlsec1."""

    def __init__(self, legal_basis: str | None) -> None:
        s = _SLOTS
        header = m.Header(message_id=s["message_id"], conversation_id=s["conversation_id"],
                          created_at=_TIME_SLOTS["created_at"], sender=s["sender"],
                          recipient=s["recipient"], message_type=m.MessageType.RECEIPT,
                          in_reply_to=s["received_message_id"], legal_basis=legal_basis)
        canonical = _canonical(m.Receipt(
            header=header, received_message_id=s["received_message_id"],
            digest_sha256=s["digest"], received_at=_TIME_SLOTS["received_at"])).decode()
        marks = {**{v: k for k, v in s.items()},
                 **{mx.format_datetime(v): k for k, v in _TIME_SLOTS.items()}}
        # the text between the values, and the name of each value in order
        self.parts: list[str] = []
        self.names: list[str] = []
        rest = canonical
        while True:
            found = [(rest.find(mark), mark) for mark in marks if mark in rest]
            if not found:
                break
            at, mark = min(found)
            self.parts.append(rest[:at])
            self.names.append(marks[mark])
            rest = rest[at + len(mark):]
        self.parts.append(rest)
        # The proof that the split is right: a receipt filled in here is byte for byte the
        # mapping's (a legal basis that holds a placeholder's text would fail this).
        sample: dict[str, Any] = {"message_id": m.new_id(), "conversation_id": m.new_id(),
                  "created_at": m.utcnow(), "sender": "352", "recipient": "3554001",
                  "received_message_id": m.new_id(), "digest": "0f" * 32,
                  "received_at": m.utcnow()}
        if self.fill(**sample) != _canonical(_sample_receipt(sample, legal_basis)):
            raise ValueError("the Receipt template does not match the model mapping")

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def of(legal_basis: str | None) -> ReceiptTemplate | None:
        """The template for receipts with this legal basis (None when it cannot be made)."""
        try:
            return ReceiptTemplate(legal_basis)
        except ValueError:
            return None

    def fill(self, *, message_id: str, conversation_id: str, created_at: dt.datetime,
             sender: str, recipient: str, received_message_id: str, digest: str,
             received_at: dt.datetime) -> bytes:
        """The canonical bytes of the Receipt with these values."""
        values = {"message_id": message_id, "conversation_id": conversation_id,
                  "created_at": mx.format_datetime(created_at), "sender": sender,
                  "recipient": recipient, "received_message_id": received_message_id,
                  "digest": digest, "received_at": mx.format_datetime(received_at)}
        out = [self.parts[0]]
        for name, part in zip(self.names, self.parts[1:], strict=True):
            out.append(_c14n_text(values[name]))
            out.append(part)
        return "".join(out).encode()


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
