"""The Lost Pupils Database at the hub: search (fuzzy, through the matching engine) and claim.

Only local authorities (3-digit parties) may search or claim, and every search is written to
the audit table with who searched, when and why. A claim names a school in the claiming LA's
own area; it is atomic (``lost`` -> ``claimed`` once), keeps the history, and sends the CTF to
the claiming LA's gateway in the same transaction, with a ClaimNotice to the LA the CTF came
from (its case for the child moves to "located"). When that delivery fails or expires the
entry's ``delivery_failed_at`` is set (``Transfers.not_delivered``): the claiming LA may
claim it again (a new delivery, no second ClaimNotice), or the hub's operator resends it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from gateway.core.errors import GatewayError
from gateway.core.parties import is_la, is_school, la_of
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import prepare
from gateway.hub.routing import transfer_row
from gateway.matching import MATCH, POSSIBLE, Matcher, Record
from gateway.matching.normalise import coerce_date
from gateway.messages import model as m
from gateway.store import OutboundRow, Step, Tx
from gateway.store.transfers import LpdPupil

log = logging.getLogger(__name__)
MAX_RESULTS = 10
SHORT = 500  # the longest text a PupilSummary or SchoolRef field carries (common.xsd CtfText)


def require_hub_and_la(gw: Gateway, sender: str) -> None:
    if gw.settings.role != "hub":
        raise GatewayError("not-hub")
    if not is_la(sender):
        raise GatewayError("lpd-forbidden", f"party {sender} is not a local authority")


def criteria(search: m.LpdSearch) -> str:
    """What was searched on, for the audit trail: field names only, no values."""
    used = [f for f in ("upn", "surname", "forename", "dob", "sex") if getattr(search, f)]
    return "+".join(used)


def _short(value: str | None) -> str | None:
    # CTF text is at most 500 characters (ctf.xsd) and so is a result's (common.xsd): this
    # only guards against the two drifting apart.
    return value[:SHORT] if value else None


class LpdIndex:
    """The matcher over the LPD, rebuilt only when entries are added (claims change only an
    entry's state, which is read fresh for each result). Building it for every search would
    cost O(LPD size) per search. One index per gateway."""

    def __init__(self) -> None:
        self.version: tuple[int, float] | None = None
        self.matcher: Matcher | None = None
        self.by_id: dict[str, LpdPupil] = {}

    async def current(self, gw: Gateway) -> Matcher | None:
        version = await gw.store.transfers.lpd_version()
        if version == self.version:
            return self.matcher
        rows = await gw.store.transfers.lpd_pupils()
        records = [Record(record_id=r.transfer_id, upn=r.upn or "", former_upn=r.former_upn or "",
                          surname=r.surname, forename=r.forename, dob=coerce_date(r.dob),
                          sex=r.sex or "",
                          postcode=r.postcode or "") for r in rows]
        self.matcher = (await asyncio.to_thread(Matcher.from_records, records,
                                                gw.settings.match_config())
                        if records else None)
        self.by_id = {r.transfer_id: r for r in rows}
        self.version = version
        return self.matcher

    async def search(self, gw: Gateway, sender: str, q: m.LpdSearch) -> list[m.LpdCandidate]:
        require_hub_and_la(gw, sender)
        if not (q.upn or (q.surname and (q.forename or q.dob))):
            raise GatewayError("lpd-search-too-vague")
        matcher = await self.current(gw)
        if matcher is None:
            return []
        query = Record(record_id="query", upn=q.upn or "", surname=q.surname or "",
                       forename=q.forename or "", dob=coerce_date(q.dob), sex=q.sex or "")
        out = []
        for c in matcher.match(query, limit=MAX_RESULTS):
            if c.band not in (MATCH, POSSIBLE):
                continue
            p = self.by_id[c.record_id]
            entry = await gw.store.transfers.lpd_entry(c.record_id)
            reason = "; ".join(f"{k}: {v}" for k, v in c.explanation.items()) or c.band
            out.append(m.LpdCandidate(
                transfer_id=c.record_id, score=round(c.score, 3), band=c.band,
                reason=reason[:4000], state=entry.state if entry else p.state, kind=p.kind,
                source_school=m.SchoolRef(p.source_lea[:SHORT], p.source_estab[:SHORT],
                                          _short(p.source_name)),
                pupil=m.PupilSummary(surname=p.surname[:SHORT], forename=p.forename[:SHORT],
                                     upn=_short(p.upn), dob=dt.date.fromisoformat(p.dob),
                                     sex=_short(p.sex))))
        return out


async def prepare_claim(gw: Gateway, sender: str, claim: m.LpdClaim) -> Step:
    """Check a claim and return the transaction step that makes it (claim + delivery)."""
    require_hub_and_la(gw, sender)
    if not is_school(claim.for_school) or la_of(claim.for_school) != sender:
        raise GatewayError("lpd-forbidden",
                           f"school {claim.for_school} is not in LA {sender}'s area")
    entry = await gw.store.transfers.lpd_entry(claim.transfer_id)
    if entry is None:
        raise GatewayError("lpd-not-found", f"transfer {claim.transfer_id}")
    # The LA that claimed it may claim it again when the hub could not deliver it (its
    # delivery failed or expired): the CTF is sent again, and nobody else is told again.
    again = (entry.state == "claimed" and entry.claimed_by == sender
             and entry.delivery_failed_at is not None)
    if entry.state != "lost" and not again:
        raise GatewayError("lpd-already-claimed", f"claimed by LA {entry.claimed_by}")
    t = await gw.store.transfers.get(claim.transfer_id)
    assert t is not None
    delivery: OutboundRow = transfer_row(gw, sender, m.Purpose.CLAIMED, t.path, t.digest,
                                         t.size_bytes, for_school=claim.for_school)
    claim_id = claim.header.message_id
    notice = (None if again
              else await _claim_notice(gw, entry.source_lea, claim.transfer_id, sender))

    async def step(tx: Tx) -> None:
        now = gw.clock.time()
        first = await gw.store.transfers.claim(tx, claim.transfer_id, sender,
                                               claim.for_school, now)
        await gw.store.outbox.insert(tx, delivery)
        await gw.store.transfers.history(tx, claim.transfer_id, gw.party, "delivery-queued",
                                         f"transfer {delivery.message_id} to LA {sender}", now)
        await gw.store.audit.add(sender, "lpd-claim", claim_id,
                                 f"transfer {claim.transfer_id} for {claim.for_school}; "
                                 f"reason: {claim.reason[:500]}", tx=tx)
        if not first:
            return  # claimed again after a failed delivery: the source LA was told before
        if notice is not None:
            await gw.store.outbox.insert(tx, notice)
            await gw.store.transfers.history(tx, claim.transfer_id, gw.party, "claim-notice",
                                             f"notice {notice.message_id} to LA "
                                             f"{notice.recipient}", now)
        else:
            await gw.store.transfers.history(tx, claim.transfer_id, gw.party, "claim-notice",
                                             f"not sent: no endpoint for LA "
                                             f"{entry.source_lea}", now)

    return step


async def _claim_notice(gw: Gateway, source_lea: str, transfer_id: str, claimed_by: str
                        ) -> OutboundRow | None:
    """The notice that tells the LA the lost CTF came from that LA ``claimed_by`` found the
    child (None, logged, when the hub has no endpoint for that LA: the claim goes on)."""
    if claimed_by == source_lea:
        return None  # the LA found its own child: nobody else to tell
    if source_lea not in gw.settings.endpoints:
        log.warning("claim notice for transfer=%s not sent: no endpoint for LA %s",
                    transfer_id, source_lea)
        return None
    pupils = await gw.store.transfers.pupils(transfer_id)
    p = pupils[0]
    notice = m.ClaimNotice(
        header=gw.header(m.MessageType.CLAIM_NOTICE, source_lea), transfer_id=transfer_id,
        claimed_by=claimed_by, date_claimed=gw.clock.today(),
        pupil=m.PupilSummary(surname=p.surname[:SHORT], forename=p.forename[:SHORT],
                             upn=_short(p.upn), dob=dt.date.fromisoformat(p.dob),
                             sex=_short(p.sex)))
    return prepare(gw, notice)
