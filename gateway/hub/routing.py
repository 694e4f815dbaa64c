"""Where a CTF goes, by its ``DestSchool`` and who sent it (README, "CTFs, the hub and the
Lost Pupils Database"):

- at the hub (party S2S): ``XXX/XXXX`` (lost) and ``MMM/MMMM`` (out of sector) go to the Lost
  Pupils Database, and a school's upload also makes a CtfNotice to the source school's LA;
  a real destination is forwarded to the destination LA's gateway.
- at an LA gateway: a CTF from the hub is held for its destination school (``inbox/<LAESTAB>/``
  and the school collection API); a lost or out-of-sector CTF from one of its own schools opens
  a CME case and is forwarded to the hub; other CTFs from its schools are held (same LA) or
  forwarded to the hub.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.core.errors import GatewayError
from gateway.core.parties import HUB, PartyKind, kind_of, la_of
from gateway.ctf.reader import CtfInfo
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import prepare
from gateway.messages import model as m
from gateway.store import OutboundRow, Step, Tx
from gateway.store.cases import NewCase

log = logging.getLogger(__name__)
CATEGORY_FOR = {"lost": m.Category.WHEREABOUTS_UNKNOWN, "out-of-sector": m.Category.OTHER}
REASON_FOR = {"lost": "Whereabouts unknown: lost-pupil CTF (destination XXX/XXXX)",
              "out-of-sector": "Check the destination: CTF to outside the maintained sector "
                               "(MMM/MMMM)"}
LOST_KINDS = ("lost", "out-of-sector")


@dataclass(frozen=True)
class Routed:
    state: str  # held | lpd | forwarded
    for_school: str | None
    outbound: list[OutboundRow]
    steps: list[Step]


def transfer_row(gw: Gateway, recipient: str, purpose: m.Purpose, ref: str, digest: str,
                 size: int, for_school: str | None = None) -> OutboundRow:
    """A signed Transfer envelope for the CTF at ``ref`` (a stored payload's reference, see
    ``store.payloads``, or a file's path), ready for the outbox."""
    message = m.Transfer(header=gw.header(m.MessageType.TRANSFER, recipient), purpose=purpose,
                         payload=m.Payload(digest_sha256=digest, size_bytes=size),
                         for_school=for_school)
    return prepare(gw, message, payload_path=ref)


def _onward(gw: Gateway, tid: str, recipient: str, purpose: m.Purpose, ref: str,
            digest: str, size: int) -> OutboundRow:
    """The Transfer that passes a received CTF on. With no endpoint for ``recipient`` the CTF
    is refused with ``ctf-destination-unreachable`` (not ``unknown-partner``, whose sentence
    sends the school to its own configuration), and this gateway's operator is told."""
    try:
        return transfer_row(gw, recipient, purpose, ref, digest, size)
    except GatewayError as exc:
        if exc.code != "unknown-partner":
            raise
        log.error("transfer=%s refused: no endpoint for %s, the CTF's next stop; add it under "
                  "[endpoints]", tid, recipient)
        raise GatewayError("ctf-destination-unreachable",
                           f"no endpoint for {recipient}") from None


def check_source(sender: str, info: CtfInfo) -> None:
    """The sender must be the source school itself, its LA, or the hub."""
    src = info.source
    kind = kind_of(sender)
    if kind is PartyKind.HUB or (kind is PartyKind.SCHOOL and sender == src.laestab):
        return
    if kind is PartyKind.LA and sender == src.lea:
        return  # an LA forwarding its own school's CTF
    raise GatewayError("ctf-source-mismatch",
                       f"sent by {sender}; SourceSchool is {src.lea}/{src.estab}")


def case_for(info: CtfInfo, transfer_id: str, source: str) -> NewCase:
    p = info.pupils[0]
    return NewCase(category=int(CATEGORY_FOR[info.destination]),
                   reason=REASON_FOR[info.destination], source=source, surname=p.surname,
                   forename=p.forename, upn=p.upn, dob=p.dob.isoformat(), sex=p.sex,
                   transfer_id=transfer_id)


def notice_case(notice: m.CtfNotice) -> NewCase:
    """The case an LA opens when the hub tells it of a lost CTF from one of its schools."""
    p = notice.pupil
    return NewCase(category=int(CATEGORY_FOR[notice.kind]), reason=REASON_FOR[notice.kind],
                   source=f"S2S notice: {notice.kind} CTF from school "
                          f"{notice.source_school.lea}{notice.source_school.estab}",
                   surname=p.surname, forename=p.forename, upn=p.upn,
                   dob=p.dob.isoformat() if p.dob else None, sex=p.sex,
                   transfer_id=notice.transfer_id, message_id=notice.header.message_id)


def _notice(gw: Gateway, tid: str, kind: str, info: CtfInfo) -> m.CtfNotice:
    p = info.pupils[0]
    return m.CtfNotice(
        header=gw.header(m.MessageType.CTF_NOTICE, info.source.lea), transfer_id=tid, kind=kind,
        source_school=m.SchoolRef(info.source.lea, info.source.estab, info.source.name),
        pupil=m.PupilSummary(surname=p.surname, forename=p.forename, upn=p.upn, dob=p.dob,
                             sex=p.sex),
        date_received=gw.clock.today())


def route(gw: Gateway, sender: str, transfer: m.Transfer, info: CtfInfo, ref: str,
          digest: str, size: int) -> Routed:
    if gw.settings.role == "hub":
        return _at_hub(gw, sender, transfer, info, ref, digest, size)
    return _at_la(gw, sender, transfer, info, ref, digest, size)


def _at_hub(gw: Gateway, sender: str, transfer: m.Transfer, info: CtfInfo, ref: str,
            digest: str, size: int) -> Routed:
    tid, kind, src = transfer.header.message_id, info.destination, info.source
    now = gw.clock.time()
    if kind not in LOST_KINDS:
        return Routed("forwarded", None, [_onward(gw, tid, info.dest.lea, m.Purpose.DELIVER,
                                                  ref, digest, size)], [])

    async def store_lost(tx: Tx) -> None:
        await gw.store.transfers.insert_lpd(tx, tid, kind, src.lea, src.estab, src.name,
                                            sender, now)

    steps: list[Step] = [store_lost]
    outbound: list[OutboundRow] = []
    if kind_of(sender) is PartyKind.SCHOOL:  # a school's own upload: tell its LA
        # A child whose whereabouts are unknown must never be dropped silently: if the
        # notice cannot be made, the CTF is refused (the school's system sends it again)
        # and the hub's operator sees why.
        try:
            outbound.append(prepare(gw, _notice(gw, tid, kind, info)))
        except GatewayError as exc:
            log.error("transfer=%s refused: no notice to LA %s could be made (%s: %s)", tid,
                      src.lea, exc.code, exc.detail)
            raise GatewayError("ctf-notice-failed", f"to LA {src.lea}: {exc.code}") from None
    return Routed("lpd", None, outbound, steps)


def _at_la(gw: Gateway, sender: str, transfer: m.Transfer, info: CtfInfo, ref: str,
           digest: str, size: int) -> Routed:
    me, tid, kind, src = gw.party, transfer.header.message_id, info.destination, info.source
    if sender == HUB:
        if transfer.purpose == m.Purpose.CLAIMED:
            school = transfer.for_school or ""
        else:
            school = info.dest.laestab
        if la_of(school) != me:
            raise GatewayError("ctf-destination-mismatch",
                               f"for school {school}; this gateway is LA {me}")
        return Routed("held", school, [], [])
    if src.lea != me:
        raise GatewayError("ctf-source-mismatch",
                           f"SourceSchool {src.lea}/{src.estab} is not a school of LA {me}")
    if kind in LOST_KINDS:
        case = case_for(info, tid, f"{kind} CTF from school {src.laestab}")
        onward = _onward(gw, tid, HUB, m.Purpose.LPD, ref, digest, size)

        async def open_case(tx: Tx) -> None:
            case_id = await gw.store.cases.open(tx, case)
            if case_id is not None:
                # The hub keeps the CTF under the forward's own id, and its ClaimNotice names
                # that id: linked, the ClaimNotice finds this case (``Cases.for_transfer``).
                await gw.store.cases.link(tx, case_id, onward.message_id, "out")

        return Routed("forwarded", None, [onward], [open_case])
    if kind in ("school", "la") and info.dest.lea == me:
        return Routed("held", info.dest.laestab, [], [])
    return Routed("forwarded", None,
                  [_onward(gw, tid, HUB, m.Purpose.DELIVER, ref, digest, size)], [])
