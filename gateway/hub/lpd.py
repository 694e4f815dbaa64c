"""The Lost Pupils Database at the hub: search (fuzzy, through the matching engine) and claim.

Only local authorities (3-digit parties) may search or claim, and every search is written to
the audit table with who searched, when and why. A claim names a school in the claiming LA's
own area; it is atomic (``lost`` -> ``claimed`` once), keeps the history, and sends the CTF to
the claiming LA's gateway in the same transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.matching import MATCH, POSSIBLE, Matcher, Record
from gateway.matching.normalise import coerce_date
from gateway.messages import model as m
from gateway.store import OutboundRow, Tx
from gateway.store import ctf_ops as ops
from gateway.store.base import Row

MAX_RESULTS = 10
LA_RE = re.compile(r"[0-9]{3}")
SHORT = 200  # the longest text a PupilSummary or SchoolRef field carries (common.xsd Short)


def _require_hub_and_la(gw: Gateway, sender: str) -> None:
    if gw.settings.role != "hub":
        raise GatewayError("not-hub")
    if not LA_RE.fullmatch(sender):
        raise GatewayError("lpd-forbidden", f"party {sender} is not a local authority")


def criteria(search: m.LpdSearch) -> str:
    """What was searched on, for the audit trail: field names only, no values."""
    used = [f for f in ("upn", "surname", "forename", "dob", "sex") if getattr(search, f)]
    return "+".join(used)


_CACHE: dict[int, tuple[tuple[int, float], Matcher, dict[str, Row]]] = {}


async def _matcher(gw: Gateway) -> tuple[Matcher | None, dict[str, Row]]:
    """The matcher over the LPD, rebuilt only when entries are added (claims change only an
    entry's state, which is read fresh for each result). Building it for every search would
    cost O(LPD size) per search."""
    version = await gw.store.ctf.lpd_version()
    cached = _CACHE.get(id(gw))
    if cached is not None and cached[0] == version:
        return cached[1], cached[2]
    rows = await gw.store.ctf.lpd_entries()
    if not rows:
        return None, {}
    records = [Record(record_id=r["transfer_id"], upn=r["upn"] or "",
                      former_upn=r["former_upn"] or "", surname=r["surname"],
                      forename=r["forename"], dob=r["dob"], sex=r["sex"] or "",
                      postcode=r["postcode"] or "") for r in rows]
    matcher = await asyncio.to_thread(Matcher.from_records, records,
                                      gw.settings.match_config())
    by_id = {r["transfer_id"]: r for r in rows}
    _CACHE.clear()  # one gateway per process: keep one matcher
    _CACHE[id(gw)] = (version, matcher, by_id)
    return matcher, by_id


def _short(value: str | None) -> str | None:
    # CTF text may be up to 500 characters; the result's fields hold 200 (schemas/common.xsd)
    return value[:SHORT] if value else None


async def search(gw: Gateway, sender: str, q: m.LpdSearch) -> list[m.LpdCandidate]:
    _require_hub_and_la(gw, sender)
    if not (q.upn or (q.surname and (q.forename or q.dob))):
        raise GatewayError("lpd-search-too-vague")
    matcher, by_id = await _matcher(gw)
    if matcher is None:
        return []
    query = Record(record_id="query", upn=q.upn or "", surname=q.surname or "",
                   forename=q.forename or "", dob=coerce_date(q.dob), sex=q.sex or "")
    out = []
    for c in matcher.match(query, limit=MAX_RESULTS):
        if c.band not in (MATCH, POSSIBLE):
            continue
        r = {**by_id[c.record_id], **(await gw.store.ctf.lpd_entry(c.record_id) or {})}
        reason = "; ".join(f"{k}: {v}" for k, v in c.explanation.items()) or c.band
        out.append(m.LpdCandidate(
            transfer_id=c.record_id, score=round(c.score, 3), band=c.band, reason=reason[:4000],
            state=r["state"], kind=r["kind"],
            source_school=m.SchoolRef(r["source_lea"][:SHORT], r["source_estab"][:SHORT],
                                      _short(r["source_name"])),
            pupil=m.PupilSummary(surname=r["surname"][:SHORT], forename=r["forename"][:SHORT],
                                 upn=_short(r["upn"]), dob=dt.date.fromisoformat(r["dob"]),
                                 sex=_short(r["sex"]))))
    return out


async def prepare_claim(gw: Gateway, sender: str, claim: m.LpdClaim
                        ) -> Callable[[Tx], Awaitable[None]]:
    """Check a claim and return the transaction step that makes it (claim + delivery)."""
    from gateway.hub.transfers import prepare_transfer

    _require_hub_and_la(gw, sender)
    if claim.for_school[:3] != sender:
        raise GatewayError("lpd-forbidden",
                           f"school {claim.for_school} is not in LA {sender}'s area")
    entry = await gw.store.ctf.lpd_entry(claim.transfer_id)
    if entry is None:
        raise GatewayError("lpd-not-found", f"transfer {claim.transfer_id}")
    if entry["state"] != "lost":
        raise GatewayError("lpd-already-claimed", f"claimed by LA {entry['claimed_by']}")
    t = await gw.store.ctf.transfer(claim.transfer_id)
    assert t is not None
    delivery: OutboundRow = prepare_transfer(gw, sender, m.Purpose.CLAIMED, Path(t["path"]),
                                             t["digest"], int(t["size_bytes"]),
                                             for_school=claim.for_school)
    claim_id = claim.header.message_id

    async def step(tx: Tx) -> None:
        now = time.time()
        await ops.claim(tx, claim.transfer_id, sender, claim.for_school, now)  # once only
        await gw.store.insert_outbound(tx, delivery)
        await ops.history(tx, claim.transfer_id, gw.party, "delivery-queued",
                          f"transfer {delivery.message_id} to LA {sender}", now)
        await gw.store.audit(sender, "lpd-claim", claim_id,
                             f"transfer {claim.transfer_id} for {claim.for_school}; "
                             f"reason: {claim.reason[:500]}", tx=tx)

    return step


def notice_case(notice: m.CtfNotice) -> ops.Case:
    from gateway.hub.transfers import CATEGORY_FOR, REASON_FOR

    p = notice.pupil
    return ops.Case(category=int(CATEGORY_FOR[notice.kind]), reason=REASON_FOR[notice.kind],
                    source=f"S2S notice: {notice.kind} CTF from school "
                           f"{notice.source_school.lea}{notice.source_school.estab}",
                    surname=p.surname, forename=p.forename, upn=p.upn,
                    dob=p.dob.isoformat() if p.dob else None, sex=p.sex,
                    transfer_id=notice.transfer_id, message_id=notice.header.message_id)
