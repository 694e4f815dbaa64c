"""CTF transfers: the inbound path for a signed envelope with a CTF beside it, and routing.

Inbound (``POST /v1/transfers``, multipart: ``envelope`` then ``payload``):
verify the envelope exactly as any message (``pipeline``) -> the payload's SHA-256 and size
must be what the envelope signs -> check the CTF as a stream (``ctf.reader``) -> the sender must
be the source school or its LA (or the hub) -> route (below) -> one transaction stores the
envelope, the transfer, each pupil, and whatever the routing causes (an LPD entry, a case,
forwarded transfers, a notice) -> signed Receipt over the envelope bytes.

Routing, by ``DestSchool`` (see README, "CTFs, the hub and the Lost Pupils Database"):
- at the hub (party S2S): ``XXX/XXXX`` (lost) and ``MMM/MMMM`` (out of sector) go to the Lost
  Pupils Database, and a school's upload also makes a CtfNotice to the source school's LA;
  a real destination is forwarded to the destination LA's gateway.
- at an LA gateway: a CTF from the hub is held for its destination school (``inbox/<LAESTAB>/``
  and the school collection API); a lost or out-of-sector CTF from one of its own schools opens
  a CME case and is forwarded to the hub; other CTFs from its schools are held (same LA) or
  forwarded to the hub.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.core.errors import GatewayError
from gateway.core.files import fsync_dir
from gateway.ctf.reader import CtfInfo, read_ctf
from gateway.exchange.gateway import Gateway
from gateway.exchange.inbound import check_fresh, check_recipient, make_receipt, verify_and_parse
from gateway.messages import model as m
from gateway.store import InboundRow, OutboundRow, Tx
from gateway.store import ctf_ops as ops

log = logging.getLogger(__name__)
CATEGORY_FOR = {"lost": m.Category.WHEREABOUTS_UNKNOWN, "out-of-sector": m.Category.OTHER}
REASON_FOR = {"lost": "Whereabouts unknown: lost-pupil CTF (destination XXX/XXXX)",
              "out-of-sector": "Check the destination: CTF to outside the maintained sector "
                               "(MMM/MMMM)"}


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True)
class Routed:
    state: str  # held | lpd | forwarded
    for_school: str | None
    outbound: list[OutboundRow]
    effects: list[Callable[[Tx], Awaitable[object]]]


def _transfer_message(gw: Gateway, recipient: str, purpose: m.Purpose, digest: str, size: int,
                      for_school: str | None = None) -> m.Transfer:
    return m.Transfer(header=gw.header(m.MessageType.TRANSFER, recipient), purpose=purpose,
                      payload=m.Payload(digest_sha256=digest, size_bytes=size),
                      for_school=for_school)


def prepare_transfer(gw: Gateway, recipient: str, purpose: m.Purpose, path: Path, digest: str,
                     size: int, for_school: str | None = None) -> OutboundRow:
    return gw.prepare(_transfer_message(gw, recipient, purpose, digest, size, for_school),
                      payload_path=str(path))


def check_source(sender: str, info: CtfInfo, me: str) -> None:
    src = info.source
    if sender == "S2S" or (len(sender) == 7 and sender == src.laestab):
        return
    if len(sender) == 3 and sender == src.lea:
        return  # an LA forwarding its own school's CTF
    raise GatewayError("ctf-source-mismatch",
                       f"sent by {sender}; SourceSchool is {src.lea}/{src.estab}")


def _case(info: CtfInfo, transfer_id: str, source: str) -> ops.Case:
    p = info.pupils[0]
    return ops.Case(category=int(CATEGORY_FOR[info.destination]),
                    reason=REASON_FOR[info.destination], source=source, surname=p.surname,
                    forename=p.forename, upn=p.upn, dob=p.dob.isoformat(), sex=p.sex,
                    transfer_id=transfer_id)


def route(gw: Gateway, sender: str, transfer: m.Transfer, info: CtfInfo, path: Path,
          digest: str, size: int) -> Routed:
    me, tid = gw.party, transfer.header.message_id
    kind = info.destination
    src = info.source
    now = time.time()
    if gw.settings.role == "hub":
        if kind in ("lost", "out-of-sector"):
            effects: list[Callable[[Tx], Awaitable[object]]] = [
                lambda tx: ops.insert_lpd(tx, tid, kind, src.lea, src.estab, src.name, sender,
                                          now)]
            outbound: list[OutboundRow] = []
            if len(sender) == 7:  # a school's own upload: tell its LA
                try:
                    outbound.append(gw.prepare(_notice(gw, tid, kind, info)))
                except GatewayError as exc:
                    note = f"no notice to LA {src.lea}: {exc.code}"
                    effects.append(lambda tx: ops.history(tx, tid, me, "notice-skipped", note,
                                                          now))
                    log.warning("transfer=%s %s", tid, note)
            return Routed("lpd", None, outbound, effects)
        dest_la = info.dest.lea
        return Routed("forwarded", None, [prepare_transfer(gw, dest_la, m.Purpose.DELIVER, path,
                                                           digest, size)], [])
    # an LA gateway
    if sender == "S2S":
        if transfer.purpose == m.Purpose.CLAIMED:
            school = transfer.for_school or ""
        else:
            school = info.dest.laestab
        if school[:3] != me:
            raise GatewayError("ctf-destination-mismatch",
                               f"for school {school}; this gateway is LA {me}")
        return Routed("held", school, [], [])
    if src.lea != me:
        raise GatewayError("ctf-source-mismatch",
                           f"SourceSchool {src.lea}/{src.estab} is not a school of LA {me}")
    if kind in ("lost", "out-of-sector"):
        case = _case(info, tid, f"{kind} CTF from school {src.laestab}")
        return Routed("forwarded", None,
                      [prepare_transfer(gw, "S2S", m.Purpose.LPD, path, digest, size)],
                      [lambda tx: ops.open_case(tx, case)])
    if kind in ("school", "la") and info.dest.lea == me:
        return Routed("held", info.dest.laestab, [], [])
    return Routed("forwarded", None,
                  [prepare_transfer(gw, "S2S", m.Purpose.DELIVER, path, digest, size)], [])


def _notice(gw: Gateway, tid: str, kind: str, info: CtfInfo) -> m.CtfNotice:
    p = info.pupils[0]
    return m.CtfNotice(
        header=gw.header(m.MessageType.CTF_NOTICE, info.source.lea), transfer_id=tid, kind=kind,
        source_school=m.SchoolRef(info.source.lea, info.source.estab, info.source.name),
        pupil=m.PupilSummary(surname=p.surname, forename=p.forename, upn=p.upn, dob=p.dob,
                             sex=p.sex),
        date_received=dt.date.today())


def _store_file(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def check_envelope(gw: Gateway, envelope: bytes) -> m.Transfer:
    """Everything about a Transfer that needs no payload: signature, trust, sender, schema,
    recipient, freshness and the declared size. Done before the payload is written to disk,
    so that nobody unauthenticated can make the gateway write anything."""
    s = gw.settings
    message = verify_and_parse(envelope, gw.trust, s)
    if not isinstance(message, m.Transfer):
        raise GatewayError("bad-request", "POST /v1/transfers takes a Transfer envelope")
    check_recipient(message.header, gw.party)
    check_fresh(message.header.created_at, dt.datetime.now(dt.UTC), s.replay_window_seconds,
                s.clock_skew_seconds)
    if message.payload.size_bytes > s.max_ctf_bytes:
        raise GatewayError("ctf-too-large", f"{message.payload.size_bytes} bytes declared")
    return message


async def receive_transfer(gw: Gateway, envelope: bytes, message: m.Transfer, tmp: Path,
                           digest: str, size: int) -> bytes:
    """Accept a Transfer (``message``, already checked by ``check_envelope``) whose payload
    has been streamed to ``tmp``. Returns the receipt."""
    s = gw.settings
    now = dt.datetime.now(dt.UTC)
    h = message.header
    if message.payload.digest_sha256 != digest or message.payload.size_bytes != size:
        raise GatewayError("payload-mismatch", f"transfer {h.message_id}")
    env_digest = hashlib.sha256(envelope).hexdigest()
    old = await gw.store.get_inbound(h.message_id)
    if old is not None:  # a resend: no need to check the CTF again
        if old.digest != env_digest:
            raise GatewayError("duplicate-conflict", f"message {h.message_id}")
        return old.receipt
    info = await asyncio.to_thread(read_ctf, tmp, versions=s.accepted_ctf_versions,
                                   max_pupils=s.max_ctf_pupils,
                                   max_elements=s.max_ctf_pupil_elements)
    check_source(h.sender, info, gw.party)
    # Named by id and content: a conflicting resend under the same id can never overwrite
    # the stored file.
    final = s.path(s.ctf_dir) / f"{h.message_id}-{digest[:16]}.xml"
    routed = route(gw, h.sender, message, info, final, digest, size)
    receipt = make_receipt(gw, h, env_digest, now)
    row = InboundRow(
        message_id=h.message_id, sender=h.sender, recipient=h.recipient,
        message_type=h.message_type.value, conversation_id=h.conversation_id,
        in_reply_to=h.in_reply_to, created_at=h.created_at.timestamp(),
        received_at=now.timestamp(), digest=env_digest, body=envelope, receipt=receipt)
    trow = ops.TransferRow(
        transfer_id=h.message_id, sender=h.sender, purpose=message.purpose.value,
        version=info.version, source_lea=info.source.lea, source_estab=info.source.estab,
        dest_lea=info.dest.lea, dest_estab=info.dest.estab, destination=info.destination,
        for_school=routed.for_school, pupils=len(info.pupils), flagged=len(info.flagged),
        size_bytes=size, digest=digest, path=str(final), received_at=now.timestamp(),
        state=routed.state)

    async def also(tx: Tx) -> None:
        await ops.insert_transfer(tx, trow, info.pupils)
        for effect in routed.effects:
            await effect(tx)
        for out in routed.outbound:
            await gw.store.insert_outbound(tx, out)

    # The file is in place before the rows that point to it commit; if the commit fails the
    # file is removed again, so nothing partial is left. The commit is shielded: once
    # queued it completes even if this request is cancelled (a client gone, a shutdown), and
    # then the file must stay; the client's resend gets the stored receipt.
    await asyncio.to_thread(_store_file, tmp, final)
    try:
        result = await asyncio.shield(gw.store.accept_inbound(row, also=also))
    except asyncio.CancelledError:
        raise
    except Exception:
        stored = await gw.store.get_inbound(h.message_id)
        if stored is None or stored.digest != env_digest:
            final.unlink(missing_ok=True)
        raise
    log.info("accepted transfer=%s from=%s pupils=%d flagged=%d destination=%s state=%s",
             h.message_id, h.sender, len(info.pupils), len(info.flagged), info.destination,
             routed.state)
    return result.receipt
