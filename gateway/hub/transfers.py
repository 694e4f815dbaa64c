"""CTF transfers: the inbound path for a signed envelope with a CTF beside it.

``POST /v1/transfers``, multipart: ``envelope`` then ``payload``. Verify the envelope exactly
as any message (``exchange.inbound``) -> the payload's SHA-256 and size must be what the
envelope signs -> check the CTF as a stream (``ctf.reader``) -> the sender must be the source
school or its LA (or the hub) -> route (``routing``) -> one transaction stores the envelope,
the transfer, each pupil, and whatever the routing causes (an LPD entry, a case, forwarded
transfers, a notice) -> signed Receipt over the envelope bytes. A lost or out-of-sector CTF
already stored from the same source school (the same SHA-256), and still lost there, is a
repeat: its envelope is stored and receipted, and nothing else (``Transfers.first_lost``).
A CTF to be held for a school is always held, even when the same one came before (a forward
resent after its receipt was lost, or sent again on purpose): a school offered the same CTF
twice can tell, a CTF swallowed as a "copy" it never got cannot (reviews found such a rule
swallowing CTFs after a hand-over through the inbox folder, and on another host).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from gateway.core.errors import GatewayError
from gateway.ctf.reader import read_ctf
from gateway.exchange import answers
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival
from gateway.exchange.inbound import check_addressed, inbound_row, peer_of, verify_and_parse
from gateway.hub.routing import LOST_KINDS, check_source, route
from gateway.messages import model as m
from gateway.store import Tx
from gateway.store.payloads import Staged
from gateway.store.transfers import TransferRow

log = logging.getLogger(__name__)


def check_envelope(gw: Gateway, envelope: bytes) -> m.Transfer:
    """Everything about a Transfer that needs no payload: signature, trust, sender, schema,
    recipient, freshness and the declared size. Done before the payload is written anywhere,
    so that nobody unauthenticated can make the gateway write anything."""
    s = gw.settings
    now = gw.clock.now()
    message = verify_and_parse(envelope, gw.trust, s, now)
    try:
        if not isinstance(message, m.Transfer):
            raise GatewayError("bad-request", "POST /v1/transfers takes a Transfer envelope")
        check_addressed(gw, message.header, now)
        if message.payload.size_bytes > s.max_ctf_bytes:
            raise GatewayError("ctf-too-large", f"{message.payload.size_bytes} bytes declared")
    except GatewayError as exc:  # the envelope verified: the refusal answers its sender
        raise exc.answering(peer_of(message.header)) from None
    return message


async def receive_transfer(gw: Gateway, envelope: bytes, message: m.Transfer, tmp: Path,
                           digest: str, size: int) -> bytes:
    """Accept a Transfer (``message``, already checked by ``check_envelope``) whose payload
    has been streamed to ``tmp`` (this host's own temporary file; the store moves or copies it
    to where payloads live). Returns the receipt."""
    s = gw.settings
    h = message.header
    if message.payload.digest_sha256 != digest or message.payload.size_bytes != size:
        raise GatewayError("payload-mismatch", f"transfer {h.message_id}")
    arrival = Arrival(hashlib.sha256(envelope).hexdigest(), gw.clock.now())
    env_digest = arrival.digest
    old = await gw.store.inbox.get(h.message_id)
    if old is not None:  # a resend: no need to check the CTF again
        if old.digest != env_digest:
            raise GatewayError("duplicate-conflict", f"message {h.message_id}")
        return old.receipt
    info = await asyncio.to_thread(read_ctf, tmp, versions=s.accepted_ctf_versions,
                                   max_pupils=s.max_ctf_pupils,
                                   max_elements=s.max_ctf_pupil_elements,
                                   max_total_elements=s.max_ctf_elements,
                                   max_attributes_per_element=s.max_ctf_attributes_per_element,
                                   max_attributes=s.max_ctf_attributes,
                                   max_concurrent=s.max_concurrent_ctf_checks)
    check_source(h.sender, info)
    # Named by id and the envelope's own digest: two resends of one transfer re-signed (ECDSA
    # gives other envelope bytes) never share a payload, so neither can remove the other's; an
    # identical resend (after a crash between a file and the commit) replaces the file.
    # Where the payload goes (a file in ctf_dir, or rows in PostgreSQL) is the store's choice.
    name = f"{h.message_id}-{env_digest[:16]}.xml"
    ref = gw.store.payloads.ref(name)
    routed = route(gw, h.sender, message, info, ref, digest, size)
    receipt = answers.receipt(gw, h, env_digest, arrival.now)
    row = inbound_row(h, envelope, arrival, receipt)
    trow = TransferRow(
        transfer_id=h.message_id, sender=h.sender, purpose=message.purpose.value,
        version=info.version, source_lea=info.source.lea, source_estab=info.source.estab,
        dest_lea=info.dest.lea, dest_estab=info.dest.estab, destination=info.destination,
        for_school=routed.for_school, pupils=len(info.pupils), flagged=len(info.flagged),
        size_bytes=size, digest=digest, path=ref, received_at=arrival.now.timestamp(),
        state=routed.state)

    repeat: dict[str, str] = {}

    async def commit(tx: Tx) -> None:
        if info.destination in LOST_KINDS:
            # A lost CTF is stored once per source school and SHA-256: a school that posts
            # the same file again (``ctf post`` signs a new Transfer each run, e.g. after a
            # timeout) gets a receipt as for the first, and no second LPD entry, notice,
            # case or forward. The first is named in its history.
            # Only while the first is still lost: once it is claimed (at an LA, its case
            # located or closed), the same file again is the child missing again, stored as
            # new, and the first one's history says so.
            first, lapsed = await gw.store.transfers.first_lost(
                tx, info.source.lea, info.source.estab, digest, h.message_id)
            if first != h.message_id:
                repeat["of"] = first
                await gw.store.transfers.history(
                    tx, first, h.sender, "repeat", f"transfer {h.message_id}: the same CTF "
                    "(SHA-256) again from the same school; stored once", arrival.now.timestamp())
                return
            if lapsed is not None:
                await gw.store.transfers.history(
                    tx, lapsed, h.sender, "posted-again", f"transfer {h.message_id}: the same "
                    "CTF again from the same school after this one was found; stored as new",
                    arrival.now.timestamp())
        repeat.pop("of", None)
        await staged.step(tx)  # the payload's rows, where the store keeps them in the database
        await gw.store.transfers.insert(tx, trow, info.pupils)
        for step in routed.steps:
            await step(tx)
        for out in routed.outbound:
            await gw.store.outbox.insert(tx, out)

    # The payload is in place (a file) or goes in with the rows (the database) before the rows
    # that name it commit. If the commit fails, or another request for the same transfer
    # committed first (a duplicate), this request's own file is removed again: no committed
    # row names it. The commit is shielded: once queued it completes even if this request is
    # cancelled (a client gone, a shutdown), and then the payload must stay; the client's
    # resend gets the stored receipt.
    staged = await gw.store.payloads.stage(tmp, name, digest, size)
    accepting = asyncio.ensure_future(gw.store.inbox.accept(row, commit))
    accepting.add_done_callback(lambda _: staged.release())
    try:
        result = await asyncio.shield(accepting)
    except asyncio.CancelledError:
        raise
    except Exception:
        await _discard_unless_stored(gw, h.message_id, staged)
        raise
    if result.duplicate or "of" in repeat:
        await _discard_unless_stored(gw, h.message_id, staged)
    if "of" in repeat and not result.duplicate:
        log.info("accepted transfer=%s from=%s: a repeat of transfer=%s (the same %s CTF from "
                 "school %s), not stored again", h.message_id, h.sender, repeat["of"],
                 info.destination, info.source.laestab)
        return result.receipt
    log.info("accepted transfer=%s from=%s pupils=%d flagged=%d destination=%s state=%s",
             h.message_id, h.sender, len(info.pupils), len(info.flagged), info.destination,
             routed.state)
    return result.receipt


async def _discard_unless_stored(gw: Gateway, transfer_id: str, staged: Staged) -> None:
    """Remove this request's own payload unless the committed transfer names it."""
    stored = await gw.store.transfers.get(transfer_id)
    if stored is None or stored.path != staged.ref:
        await staged.discard()
