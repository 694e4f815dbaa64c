"""What a running gateway is: its settings, its identity (party, key, certificate), the
partners it trusts, its store and its clock; and what only it can do with them: make
headers and sign messages as this party.

Queueing a signed message lives in ``outgoing``, receiving one in ``inbound``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.core.clock import SYSTEM, Clock
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto.dsig import FileSigner, Signer
from gateway.crypto.trust import TrustStore
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx
from gateway.store import Store, open_store


def wire_time(now: dt.datetime) -> dt.datetime:
    """``now`` to the millisecond: the precision carried on the wire."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Gateway:
    settings: Settings
    store: Store
    signer: Signer
    trust: TrustStore
    clock: Clock = SYSTEM

    @classmethod
    async def open(cls, settings: Settings, clock: Clock = SYSTEM) -> Gateway:
        try:
            # A FileSigner follows `cme-gateway keys rotate` in every process, no restart.
            signer: Signer = FileSigner(settings.path(settings.key_file),
                                        settings.path(settings.cert_file))
        except (OSError, ValueError) as exc:
            raise GatewayError("config-invalid",
                               f"cannot load this gateway's key or certificate: {exc}; run "
                               f"'cme-gateway keys init'") from None
        trust = TrustStore.from_settings(settings)
        store = await open_store(settings.database, settings.home, clock,
                                 settings.path(settings.ctf_dir))
        return cls(settings, store, signer, trust, clock)

    async def close(self) -> None:
        await self.store.close()

    @property
    def party(self) -> str:
        return self.settings.party

    def header(self, mtype: m.MessageType, recipient: str, *, conversation_id: str | None = None,
               in_reply_to: str | None = None) -> m.Header:
        mid = m.new_id()
        return m.Header(message_id=mid, conversation_id=conversation_id or mid,
                        created_at=wire_time(self.clock.now()), sender=self.party,
                        recipient=recipient, message_type=mtype, in_reply_to=in_reply_to,
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
