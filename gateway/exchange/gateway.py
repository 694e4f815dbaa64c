"""The messaging service: what a running gateway holds (settings, keys, trust, store) and the
operations shared by the web API, the CLI and the spool: create, sign and queue a message.

The domain core never imports aiohttp; the web layer calls into this.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto.dsig import Signer
from gateway.crypto.keys import load_certificate, load_private_key
from gateway.crypto.trust import TrustStore
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import OutboundRow, Store, Tx, open_store

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    store: Store
    signer: Signer
    trust: TrustStore

    @classmethod
    async def open(cls, settings: Settings) -> Gateway:
        try:
            key = load_private_key(settings.path(settings.key_file))
            cert = load_certificate(settings.path(settings.cert_file))
        except (OSError, ValueError) as exc:
            raise GatewayError("config-invalid",
                               f"cannot load this gateway's key or certificate: {exc}; run "
                               f"'cme-gateway keys init'") from None
        ca = settings.path(settings.ca_file) if settings.ca_file else None
        trust = TrustStore(settings.path(settings.partners_dir), ca)
        store = await open_store(settings.database, settings.home)
        return cls(settings, store, Signer(key, cert), trust)

    async def close(self) -> None:
        await self.store.close()

    @property
    def party(self) -> str:
        return self.settings.party

    def header(self, mtype: m.MessageType, recipient: str, *, conversation_id: str | None = None,
               in_reply_to: str | None = None) -> m.Header:
        mid = m.new_id()
        return m.Header(message_id=mid, conversation_id=conversation_id or mid,
                        created_at=m.utcnow(), sender=self.party, recipient=recipient,
                        message_type=mtype, in_reply_to=in_reply_to,
                        legal_basis=self.settings.legal_basis or None)

    def sign(self, message: m.Message, *, validate: bool = True) -> bytes:
        """Sign ``message``. Messages made from officer or file input are validated first:
        never sign what a partner would reject. Receipts and Errors, built only from values
        that already passed validation, skip that (the tests validate them)."""
        element = mx.build(message)
        if validate:
            schemas.validate(element)
        return self.signer.sign(element)

    def officer(self) -> m.Officer:
        s = self.settings
        return m.Officer(name=s.officer_name or f"CME Officer, party {s.party}",
                         designation=s.officer_designation or None,
                         telephone=s.officer_telephone or None, email=s.officer_email or None)

    def prepare(self, message: m.Message, *, spool_name: str | None = None,
                payload_path: str | None = None) -> OutboundRow:
        """Sign ``message`` and make its outbox row (not yet stored)."""
        h = message.header
        if h.sender != self.party:
            raise GatewayError("bad-request", f"the sender must be this gateway ({self.party})")
        self.settings.endpoint(h.recipient)  # unknown-partner if there is nowhere to send it
        body = self.sign(message)
        now = time.time()
        return OutboundRow(
            message_id=h.message_id, recipient=h.recipient, message_type=h.message_type.value,
            conversation_id=h.conversation_id, in_reply_to=h.in_reply_to,
            created_at=now, state="queued", attempts=0, next_attempt_at=now,
            expires_at=now + self.settings.outbound_expiry_seconds,
            digest=hashlib.sha256(body).hexdigest(), body=body, spool_name=spool_name,
            payload_path=payload_path)

    async def queue(self, message: m.Message, *, spool_name: str | None = None,
                    also: Any = None) -> OutboundRow:
        """Sign ``message`` and put it in the outbox (with ``also(tx)`` in the same commit)."""
        row = self.prepare(message, spool_name=spool_name)
        await self.store.enqueue(row, also=also)
        log.info("queued message=%s type=%s to=%s", row.message_id, row.message_type,
                 row.recipient)
        return row

    def readdress(self, message: m.Message, recipient: str) -> m.Message:
        """The same message, from this gateway to ``recipient``, dated now (for ``send``)."""
        header = dataclasses.replace(message.header, sender=self.party, recipient=recipient,
                                     created_at=m.utcnow())
        return dataclasses.replace(message, header=header)

    async def reply(self, enquiry_id: str, outcomes: list[m.ChildOutcome],
                    comments: str | None = None, actor: str = "cli") -> OutboundRow:
        """Create, sign and queue a Reply to a received Enquiry."""
        row = await self.store.get_inbound(enquiry_id)
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
        header = self.header(m.MessageType.REPLY, row.sender,
                             conversation_id=row.conversation_id, in_reply_to=enquiry_id)
        reply = m.Reply(header=header, date_replied=date.today(), officer=self.officer(),
                        outcomes=tuple(outcomes), comments=comments)

        async def also(tx: Tx) -> None:
            await self.store.set_replied(tx, enquiry_id, header.message_id)
            await self.store.audit(actor, "reply", enquiry_id, f"reply {header.message_id}",
                                   tx=tx)

        return await self.queue(reply, also=also)


def outcomes_json(reply: m.Reply) -> str:
    return json.dumps([{"child_ref": o.child_ref, "outcome": o.outcome.value,
                        "school": dataclasses.asdict(o.school) if o.school else None,
                        "comments": o.comments} for o in reply.outcomes])
