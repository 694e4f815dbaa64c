"""Monitoring: children this LA answered "not known but monitoring" are watched, and every new
arrival is matched against every watched child.

Arrivals, each a batch of children (``Arrival``):

- a **records import**: the whole local records table, when it changes (a child who joins a
  school's roll here appears in the next extract);
- a **CTF** received for a school in this area (the child joined that school);
- a **received Enquiry or Referral** from another party, and a **case** opened here by hand
  (a referral through the CLI or the API).

Open cases are matched against each batch of children on a roll (records, CTF, a school's
new-pupil return: ``match_cases``). The watched children are matched against each batch (the
batch is the matcher's record set, so its sibling and twin rules judge the batch: a CTF
holding the watched child's twin makes the candidate ``possible``, never a ``match``). A
``match`` from records or a CTF sends the updated Reply ("now known", with the school) to
the enquirer in the same conversation: after the officer's approval (``monitoring_updates =
"approve"``, the default) or at once (``"auto"``). A ``possible``, and anything found
through another authority's enquiry or a referral, always waits for the officer. A candidate
the officer dismissed is never proposed again. When monitoring ends (``watched_until``
passed), a final Reply ("not known; monitoring ended") goes out.

The default end of monitoring is the last school day of the next school term (the term after
the one holding the day of the reply): DESIGN.md and the issue's default. The seed monitors a
*placed* child for one term ("Maintaining contact"); a child not known here is watched at
least as long, through the next term's admissions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.calendar import calendar_for
from gateway.core.clock import every
from gateway.core.errors import GatewayError
from gateway.core.logsafe import failure
from gateway.core.parties import is_la
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import Arrival as Arrived
from gateway.exchange.handlers import Handled
from gateway.exchange.replies import reply
from gateway.matching import MATCH, POSSIBLE, Matcher, Record
from gateway.matching.normalise import coerce_date
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import Tx
from gateway.store.arrivals import Mark
from gateway.store.cases import CaseState, NewCase
from gateway.store.watches import PENDING, WatchRow, WatchState
from gateway.workflow import cnis, notify
from gateway.workflow.queries import (
    best_of,
    child_queries,
    on_roll,
    queries,
    school_of,
    stored,
)

log = logging.getLogger(__name__)
W = WatchState
Out = m.Outcome
# When the calendar does not hold the next term, monitoring runs this long and the watch
# says its end is an estimate (a term is 12 to 16 weeks; the longest is used).
ESTIMATE_DAYS = 16 * 7


def watch_until(gw: Gateway, what: str, from_day: dt.date | None = None) -> tuple[str, bool]:
    """The last day of monitoring for a child answered today (or expected on ``from_day``,
    when that is later): the end of the term after it. (ISO date, estimated?)"""
    today = max(gw.clock.today(), from_day or gw.clock.today())
    try:
        cal = calendar_for(gw.settings)
        current = [t for t in cal.terms() if t.end >= today]
        for term in current:
            first = cal.first_school_day(term)
            last = cal.last_school_day(term)
            if first is not None and last is not None and first > today:
                return last.isoformat(), False
    except GatewayError as exc:
        log.warning("monitoring end for %s is estimated: %s", what, exc.code)
        return (today + dt.timedelta(days=ESTIMATE_DAYS)).isoformat(), True
    log.warning("monitoring end for %s is estimated: the school calendar holds no term after "
                "today; add next year's term dates (docs/calendar.md)", what)
    return (today + dt.timedelta(days=ESTIMATE_DAYS)).isoformat(), True


@dataclass(frozen=True)
class Arrival:
    """A batch of children who arrived from one source."""

    source: str  # records | ctf | enquiry | referral | case
    ref: str  # what the source is: a transfer id, a message id, "records", a case id
    children: list[Record]  # record_id: a reference within the source
    schools: dict[str, m.School | None]  # record_id -> the school the child is on roll at
    exclude_enquiry: str | None = None  # the watch of this enquiry is not matched with it
    # An enquiry from the LA that asked in the first place says nothing new about where the
    # child is (it is that LA asking again): its children are not matched with its watches.
    exclude_enquirer: str | None = None
    # record_id -> the first day of the child's spell on that roll (records): a spell at a
    # case's last school that began after the child left it is a readmission
    since: dict[str, str] = field(default_factory=dict)


async def match_watches(gw: Gateway, arrival: Arrival, matcher: Matcher | None = None
                        ) -> int:
    """Match every watched child against one arrival; returns how many were found."""
    watched = [w for w in await gw.store.watches.active()
               if w.enquiry_id != arrival.exclude_enquiry
               and w.enquirer != arrival.exclude_enquirer]
    if not watched or not arrival.children:
        return 0
    if matcher is None:
        matcher = await asyncio.to_thread(Matcher.from_records, arrival.children,
                                          gw.settings.match_config())
    bests: list[tuple[WatchRow, Any]] = []
    for w in watched:
        # A candidate is named by its source, the arrival and its place in it: a dismissed
        # one (the officer said "not the child") is never proposed again.
        try:
            asked = stored(w.query())
        except UNREADABLE as exc:  # its own data: e.g. a date of birth it cannot read
            await _skipped(gw, "watch", w.watch_id, w.case_id, arrival, exc)
            continue
        cands = [c for c in best_of(matcher, asked)
                 if c.band in (MATCH, POSSIBLE) and f"{arrival.source}:{arrival.ref}:"
                 f"{c.record_id}" not in w.dismissed_refs()]
        if cands:
            bests.append((w, cands[0]))
    # One child of the arrival is one child: when it is the best candidate of several
    # watched children (twins asked about together, siblings), only the one it fits clearly
    # best keeps its band; the others are at most possible, for the officer.
    margin = gw.settings.match_config().ambiguity_margin
    by_record: dict[str, list[float]] = {}
    for _, c in bests:
        by_record.setdefault(c.record_id, []).append(c.score)
    found = 0
    for w, best in bests:
        scores = sorted(by_record[best.record_id], reverse=True)
        shared = len(scores) > 1 and (best.score < scores[0] or scores[0] - scores[1] < margin)
        band = POSSIBLE if shared else best.band
        school = arrival.schools.get(best.record_id)
        if arrival.source in ("records", "ctf", "school"):
            outcome = Out.KNOWN_ON_ROLL if school else Out.KNOWN_NOT_ON_ROLL
        else:
            outcome = Out.KNOWN_NOT_ON_ROLL
        detail = {"outcome": outcome.value,
                  "school": school.__dict__ if school else None,
                  "arrival": arrival.ref, "score": best.score,
                  "explanation": {**best.explanation, **(
                      {"band_rule": "this arrival's child fits another watched child as "
                                    "well: review needed"} if shared else {})}}
        state = W.FOUND if band == MATCH else W.POSSIBLE
        if not await gw.store.watches.set_found(w.watch_id, state, arrival.source,
                                                f"{arrival.ref}:{best.record_id}", band,
                                                detail):
            continue
        found += 1
        log.info("watched child found watch=%s enquiry=%s source=%s ref=%s band=%s",
                 w.watch_id, w.enquiry_id, arrival.source, arrival.ref, band)
        await _found(gw, w, state, arrival)
    return found


# How a case's note names the arrival a child was found in.
_FOUND_IN = {"school": "a new pupil", "ctf": "a pupil of a Common Transfer File",
             "records": "a pupil in this authority's records"}


async def match_cases(gw: Gateway, arrival: Arrival, matcher: Matcher | None = None) -> int:
    """A new pupil (a school's return), a CTF's pupils or the records table against every
    open case: a match or a possible match is noted on the case and told to the officers
    (the child may be on a school's roll now: check, and move the case). Cases are matched
    against the arrival, as watched children are. A records import holds every child each
    time: a child there is noted only when on a roll today, once for each record and school.
    A record at the case's last school (the school that deleted the child or reported the
    absence) is nothing new, the school's roll not yet updated, unless its spell began after
    the child left (a readmission); a CTF sent to an LA (nnn/LLLL) rather than a school names
    no roll. A CTF to a school is a finding whoever sent it: the last school sends the CTF
    to the school that placed the child. A watched child's case is left to its watch."""
    # a watched child's case is noted by its watch's finding (``match_watches``), this
    # arrival's included (even when already reported: ``monitoring_updates = "auto"``)
    watched = {w.case_id for w in await gw.store.watches.listing(
        (W.WATCHING, *PENDING, W.REPORTED), 1_000_000)
        if w.state in (W.WATCHING, *PENDING)
        or (w.found_ref or "").startswith(f"{arrival.ref}:")}
    cases = [c for c in await gw.store.cases.find_open()
             if c.message_id != arrival.ref and c.case_id not in watched]
    if not cases or not arrival.children:
        return 0
    if matcher is None:
        matcher = await asyncio.to_thread(Matcher.from_records, arrival.children,
                                          gw.settings.match_config())
    noted = 0
    for c in cases:
        detail = c.detail_map()
        last = detail.get("last_school")
        # the day the child left the last school's roll, as the case knows it
        left = (detail.get("ground_met_on") or c.opened_on or "")[:10]
        try:
            asked = Record(record_id=c.case_id, upn=c.upn or "",
                           nhs_number=c.nhs_number or "", surname=c.surname,
                           forename=c.forename, dob=coerce_date(c.dob), sex=c.sex or "")
        except UNREADABLE as exc:  # its own data: e.g. a date of birth it cannot read
            await _skipped(gw, "case", c.case_id, c.case_id, arrival, exc)
            continue
        # several candidates: the child's old record (left) and new one (joined today)
        # may score alike; the best one on a roll elsewhere is the finding
        hits = [x for x in matcher.match(asked, limit=5) if x.band in (MATCH, POSSIBLE)]
        hits.sort(key=lambda x: (x.band == MATCH, x.score), reverse=True)
        on_last_roll = c.reason.startswith("continuous absence")  # (``notices``' absence)
        hits = [x for x in hits if _new_roll(arrival, x.record_id, last, left, on_last_roll)]
        if not hits:
            continue
        band, record_id = hits[0].band, hits[0].record_id
        school = arrival.schools.get(record_id)
        where = f" at school {school.laestab}" if school else ""
        # the arrival, as the note names it: a school's return by its message id (linked to
        # the case), a CTF by its transfer, a record by its id and school
        key = {"school": f"return {arrival.ref}", "ctf": f"CTF {arrival.ref}"}.get(
            arrival.source, f"record {record_id}{where}")
        noted += 1

        async def note(tx: Tx, case_id: str = c.case_id, band: str = band,
                       where: str = where, key: str = key) -> bool:
            if arrival.source == "school":
                if arrival.ref in await gw.store.cases.linked(tx, case_id):
                    return False  # noted already (an arrival tried again after a failure)
            elif any(f"({key})" in (r["detail"] or "") for r in await tx.fetchall(
                    "SELECT detail FROM case_events WHERE case_id = ? AND actor = ? "
                    "AND kind = 'note'", case_id, "monitoring")):
                return False  # noted already (this record on this roll, this CTF)
            await gw.store.cases.event(tx, case_id, "monitoring", "note",
                                       detail=f"{band} to {_FOUND_IN[arrival.source]}{where} "
                                              f"({key}): check, and move the case")
            if arrival.source == "school":
                await gw.store.cases.link(tx, case_id, arrival.ref, "in")
            await notify.queue(gw, tx, "case-found",
                               f"A child with an open case may be on a school roll now: "
                               f"case {case_id}, {band}{where} ({arrival.source})",
                               gw.settings.addresses("notify_officers"), case_id=case_id,
                               message_id=arrival.ref if arrival.source == "school" else None)
            await gw.store.audit.add("monitoring", "case-found",
                                     arrival.ref if arrival.source == "school" else None,
                                     f"case {case_id}: {band} via {arrival.source} ({key})",
                                     tx=tx)
            return True
        if await gw.store.backend.write(note):
            log.info("open case matched an arrival case=%s source=%s ref=%s band=%s",
                     c.case_id, arrival.source, arrival.ref, band)
        else:
            noted -= 1
    return noted


# What a case's or a watch's own data raises when the matcher cannot read it (a date of birth
# with the year 1016: ``parse_date``). Only that skips the one child; anything else (a broken
# matcher) fails the arrival, which MonitorWorker.source logs, retries and reports.
UNREADABLE = (ValueError, OverflowError)


async def _skipped(gw: Gateway, what: str, ident: str, case_id: str | None,
                   arrival: Arrival, exc: BaseException) -> None:
    """A case or watch whose own data cannot be compared: logged by its id (never the
    child's details) each time, and told to the officers once, to correct it."""
    log.warning("%s not matched with %s %s: %s=%s, its data cannot be compared (%s)",
                "open case" if what == "case" else "watched child", arrival.source,
                arrival.ref, what, ident, type(exc).__name__)
    name = f"uncomparable:{what}:{ident}"
    if await gw.store.marks.get(name):
        return

    async def op(tx: Tx) -> None:
        await gw.store.marks.put(tx, name, arrival.ref)
        await notify.queue(gw, tx, "workflow-error",
                           f"The {'case' if what == 'case' else 'watched child'} {ident} "
                           f"cannot be matched against new arrivals: a detail such as its "
                           f"date of birth cannot be read. Correct it by hand",
                           gw.settings.addresses("notify_officers"), case_id=case_id)
    await gw.store.backend.write(op)


def _new_roll(arrival: Arrival, record_id: str, last: str | None, left: str,
              on_last_roll: bool = False) -> bool:
    """Whether a candidate of an arrival may say where a case's child is now: records and
    CTFs only on a school's roll (a record on a roll today, a CTF sent to a school). A
    record at the case's last school counts only if its spell there began after the child
    left (``left``: readmitted); before that it is the roll the child left, not yet
    updated. A CTF sent to a school counts, the last school included (it arrived after the
    case opened: the child may be joining it again; the officer checks), except while the
    child is still on the last school's roll (``on_last_roll``: a case opened for
    continuous absence), where a CTF to that school says nothing new."""
    if arrival.source == "school":
        return True  # a new-pupil return: admitted (again) today
    school = arrival.schools.get(record_id)
    if school is None:
        return False
    if arrival.source == "ctf":
        return school.laestab != last or not on_last_roll
    return school.laestab != last or bool(left) and arrival.since.get(record_id, "")[:10] > left


async def _found(gw: Gateway, w: WatchRow, state: WatchState, arrival: Arrival) -> None:
    automatic = (gw.settings.monitoring_updates == "auto" and state is W.FOUND
                 and arrival.source in ("records", "ctf", "school"))
    if automatic:
        try:
            await report(gw, w.watch_id, actor="monitoring-auto")
            return
        except GatewayError as exc:  # e.g. no endpoint: the officer sees it in the queue
            log.error("updated reply for watch=%s not sent: %s", w.watch_id, exc.code)

    async def tell(tx: Tx) -> None:
        what = "a match" if state is W.FOUND else "a possible match"
        await notify.queue(gw, tx, "watch-found",
                           f"A watched child has {what} ({arrival.source}): "
                           f"watch {w.watch_id}, enquiry {w.enquiry_id}",
                           recipients=gw.settings.addresses("notify_officers"),
                           case_id=w.case_id, message_id=w.enquiry_id)
        await gw.store.audit.add("monitoring", "watch-found", w.enquiry_id,
                                 f"watch {w.watch_id}: {state.value} via {arrival.source} "
                                 f"{arrival.ref}", tx=tx)
        if w.case_id:
            await gw.store.cases.event(tx, w.case_id, "monitoring", "note",
                                       detail=f"{what} via {arrival.source} {arrival.ref}: "
                                              f"waiting for the officer")
    await gw.store.backend.write(tell)


async def report(gw: Gateway, watch_id: str, actor: str,
                 outcome: m.Outcome | None = None, school: m.School | None = None,
                 comments: str | None = None) -> str:
    """Send the updated Reply ("now known") for a found child, in the enquiry's conversation;
    the case moves to located. Returns the reply's id."""
    w = await gw.store.watches.get(watch_id)
    if w is None:
        raise GatewayError("not-found", f"no watched child {watch_id}")
    if w.state not in PENDING:
        raise GatewayError("watch-state", f"watch {watch_id} is {w.state}: only a found or "
                           f"possible match can be approved")
    found = w.found()
    if outcome is None and w.found_source == "enquiry":
        # another authority asking about the child does not make the child known here
        raise GatewayError("bad-request", "this finding is another authority's enquiry about "
                           "the child: give the outcome you have established (known-on-roll "
                           "or known-not-on-roll), or dismiss it")
    outcome = outcome or Out(found.get("outcome", Out.KNOWN_NOT_ON_ROLL))
    if outcome is Out.NOT_KNOWN_MONITORING:
        raise GatewayError("bad-request", "an updated reply says the child is now known")
    if school is None and found.get("school") and outcome is Out.KNOWN_ON_ROLL:
        school = m.School(**found["school"])
    when = dt.datetime.fromtimestamp(w.found_at or gw.clock.time(), dt.UTC).date()
    through = _SOURCE_TEXT.get(w.found_source or "")
    text = comments or (f"Now known: found on {when.isoformat()}"
                        f"{' through ' + through if through else ''} while monitoring.")
    child = m.ChildOutcome(child_ref=w.child_ref, outcome=outcome, school=school,
                           comments=text)

    async def caused(tx: Tx, reply_id: str) -> None:
        await gw.store.watches.move(tx, watch_id, PENDING, W.REPORTED, reply_id)
        await gw.store.audit.add(actor, "watch-reported", w.enquiry_id,
                                 f"watch {watch_id}: updated reply {reply_id}", tx=tx)
        if w.case_id:
            await gw.store.cases.link(tx, w.case_id, reply_id, "out")
            case = await gw.store.cases.load(tx, w.case_id)
            if case.state in (CaseState.UNKNOWN, CaseState.WHEREABOUTS_UNKNOWN):
                await gw.store.cases.move(tx, w.case_id, CaseState.LOCATED, actor,
                                          f"found while monitoring; updated reply {reply_id}")

    row = await reply(gw, w.enquiry_id, [child], actor=actor, partial=True, step=caused)
    log.info("updated reply queued watch=%s reply=%s", watch_id, row.message_id)
    return row.message_id


# What the updated reply says of how the child was found. Another authority's enquiry is
# not named: that it asked is that authority's business.
_SOURCE_TEXT = {"records": "this authority's pupil records", "ctf": "a Common Transfer File",
                "school": "a school's new-pupil return",
                "referral": "a referral", "case": "a referral"}


async def dismiss(gw: Gateway, watch_id: str, reason: str, actor: str) -> None:
    """Not the child: back to watching; this candidate is never proposed again."""
    if not reason.strip():
        raise GatewayError("bad-request", "say why the match is dismissed (--reason)")

    async def op(tx: Tx) -> None:
        w = await gw.store.watches.move(tx, watch_id, PENDING, W.WATCHING)
        await gw.store.audit.add(actor, "watch-dismissed", w.enquiry_id,
                                 f"watch {watch_id}: {reason[:200]}", tx=tx)
        if w.case_id:
            await gw.store.cases.event(tx, w.case_id, actor, "note",
                                       detail=f"possible match dismissed: {reason[:500]}")
    await gw.store.backend.write(op)


async def end_due(gw: Gateway) -> int:
    """Send the final Reply for every child whose monitoring ended before today."""
    ended = 0
    for w in await gw.store.watches.due_to_end(gw.clock.today().isoformat()):
        try:
            await end(gw, w, "monitoring", f"Not known: monitoring ended on {w.watched_until}.")
            ended += 1
        except GatewayError as exc:
            log.error("final reply for watch=%s not sent: %s", w.watch_id, exc.code)
    return ended


async def end(gw: Gateway, w: WatchRow, actor: str, text: str) -> str:
    child = m.ChildOutcome(child_ref=w.child_ref, outcome=Out.NOT_KNOWN, comments=text)

    async def caused(tx: Tx, reply_id: str) -> None:
        await gw.store.watches.move(tx, w.watch_id, (W.WATCHING,), W.ENDED, reply_id)
        await gw.store.audit.add(actor, "watch-ended", w.enquiry_id,
                                 f"watch {w.watch_id}: final reply {reply_id}", tx=tx)
        if w.case_id:
            await gw.store.cases.link(tx, w.case_id, reply_id, "out")
            case = await gw.store.cases.load(tx, w.case_id)
            if case.state is CaseState.UNKNOWN:
                await gw.store.cases.move(tx, w.case_id, CaseState.WHEREABOUTS_UNKNOWN,
                                          actor, f"monitoring ended; final reply {reply_id}")

    row = await reply(gw, w.enquiry_id, [child], actor=actor, partial=True, step=caused)
    log.info("monitoring ended watch=%s reply=%s", w.watch_id, row.message_id)
    return row.message_id


class TravellerMoveArrived:
    """Another LA tells this one that a Traveller or Gypsy family is moving here: each child
    gets a case ("unknown": expected, not yet seen) and is watched like a child of an Enquiry
    answered "not known but monitoring", until the end of the next term (or, when the move is
    expected later, the end of the term after it). When a child turns up (a records import, a
    CTF, a referral) the officer approves the Reply "now known" to the LA that wrote, in the
    same conversation; if none does, monitoring ends with a final Reply."""

    once = False

    async def handle(self, gw: Gateway, message: m.Message, arrival: Arrived) -> Handled:
        assert isinstance(message, m.TravellerMove)
        h = message.header
        if not is_la(h.sender):
            raise GatewayError("bad-request", "a TravellerMove comes from another LA")
        until, estimated = watch_until(gw, h.message_id, message.expected_on)
        actor = f"party:{h.sender}"

        async def watched(tx: Tx) -> None:
            if await gw.store.watches.in_conversation(tx, h.sender, h.conversation_id):
                # a resend (new message id, same conversation): the children are watched
                await gw.store.audit.add(actor, "traveller-move", h.message_id,
                                         "a resend: the children are watched already", tx=tx)
                return
            for child in message.children:
                case_id = await gw.store.cases.open(tx, NewCase(
                    category=int(m.Category.OTHER),
                    reason="Traveller family expected: register the children at a school "
                           "on arrival",
                    source=f"TravellerMove from LA {h.sender}", surname=child.surname,
                    forename=child.forename, upn=child.upn, nhs_number=child.nhs_number,
                    dob=child.dob.isoformat() if child.dob else None, sex=child.gender,
                    message_id=h.message_id, state=CaseState.UNKNOWN,
                    details={k: v for k, v in {
                        "enquirer": h.sender, "child_ref": child.child_ref,
                        "site": message.site,
                        "expected_on": message.expected_on.isoformat()
                        if message.expected_on else None,
                        "new_address": _address(message.destination or child.new_address),
                        "parent_guardian": child.parent_guardian}.items() if v}), actor)
                await gw.store.watches.add(
                    tx, h.message_id, child.child_ref, h.sender, h.conversation_id, case_id,
                    until, estimated,
                    {"queries": [q.to_dict() for q in child_queries(child)]}, set())
            await gw.store.audit.add(actor, "traveller-move", h.message_id,
                                     f"{len(message.children)} children watched until {until}",
                                     tx=tx)

        return Handled(step=watched)


async def found_on_arrival(gw: Gateway, message_id: str,
                           results: dict[str, list[dict[str, Any]]]) -> int:
    """A TravellerMove's children matched against the local records when it arrived: a
    child already on a roll here (the family came before the notice) is a finding for the
    officer, as if the records had arrived after the watch."""
    found = 0
    by_ref = {w.child_ref: w for w in await gw.store.watches.for_enquiry(message_id)}
    ids = {c[0]["record_id"] for c in results.values() if c}
    records = await gw.store.records.by_ids(ids)
    today = gw.clock.today()
    for ref, cands in results.items():
        w = by_ref.get(ref)
        best = cands[0] if cands else None
        if w is None or best is None or best["band"] not in (MATCH, POSSIBLE):
            continue
        record = records.get(best["record_id"])
        school = school_of(record.laestab) if record and on_roll(record, today) else None
        detail = {"outcome": (Out.KNOWN_ON_ROLL if school else Out.KNOWN_NOT_ON_ROLL).value,
                  "school": school.__dict__ if school else None, "arrival": "records",
                  "score": best["score"], "explanation": best.get("explanation", {})}
        state = W.FOUND if best["band"] == MATCH else W.POSSIBLE
        if await gw.store.watches.set_found(w.watch_id, state, "records",
                                            f"records:{best['record_id']}", best["band"],
                                            detail):
            found += 1
            await _found(gw, w, state, Arrival("records", "records", [], {}))
    return found


def _address(a: m.Address | None) -> str | None:
    if a is None:
        return None
    return ", ".join([*a.lines, a.postcode or ""]).strip(", ") or None


# ---- arrivals --------------------------------------------------------------------------------

async def ctf_arrival(gw: Gateway, r: dict[str, Any]) -> Arrival | None:
    # a CTF sent to an LA (nnn/LLLL: the school did not know the next school) names no
    # school the child joined
    school = (school_of(r["for_school"] or f"{r['dest_lea']}{r['dest_estab']}")
              if r["destination"] == "school" else None)
    pupils = await gw.store.transfers.pupils(r["id"])
    children = [Record(record_id=str(p.idx), upn=p.upn or "", former_upn=p.former_upn or "",
                       surname=p.surname, forename=p.forename, dob=coerce_date(p.dob),
                       sex=p.sex or "", postcode=p.postcode or "") for p in pupils]
    return Arrival("ctf", r["id"], children, {c.record_id: school for c in children})


async def message_arrival(gw: Gateway, r: dict[str, Any]) -> Arrival | None:
    try:
        message = mx.parse_stored(bytes(r["body"]))
    except GatewayError:
        return None
    if isinstance(message, m.SchoolNotice):
        if message.kind is not m.NoticeKind.NEW_PUPIL:
            return None
        if not await gw.store.school_notices.recorded(r["id"]):
            return None  # a resend of a return already seen (same conversation)
        p = message.pupil
        new = Record(record_id="pupil", upn=p.upn or "", nhs_number=p.nhs_number or "",
                     surname=p.surname,
                     forename=p.forename, middle_names=p.middle_names or "",
                     dob=coerce_date(p.dob), sex=p.gender or "",
                     postcode=(p.address.postcode or "") if p.address else "",
                     address=" ".join(p.address.lines) if p.address else "")
        return Arrival("school", r["id"], [new], {"pupil": school_of(r["sender"])})
    children = [q for qs in queries(message).values() for q in qs]
    # Queries of one child share its reference; make each a record of its own.
    recs = [Record.from_dict({**q.to_dict(), "record_id": f"{q.record_id}@{i}"})
            for i, q in enumerate(children)]
    source = "enquiry" if r["message_type"] == "Enquiry" else "referral"
    return Arrival(source, r["id"], recs, {}, exclude_enquiry=r["id"],
                   exclude_enquirer=r["sender"] if source == "enquiry" else None)


async def case_arrival(gw: Gateway, r: dict[str, Any]) -> Arrival | None:
    return Arrival("case", r["id"], [Record(record_id=r["id"], upn=r["upn"] or "",
                                            nhs_number=r["nhs_number"] or "",
                                            surname=r["surname"], forename=r["forename"],
                                            dob=coerce_date(r["dob"]), sex=r["sex"] or "")], {})


async def _advance(gw: Gateway, name: str, value: str) -> None:
    async def op(tx: Tx) -> None:
        await gw.store.marks.put(tx, name, value)
    await gw.store.backend.write(op)


Listing = Callable[[Mark], Awaitable[list[dict[str, Any]]]]
Maker = Callable[[Gateway, dict[str, Any]], Awaitable[Arrival | None]]
# How many ticks an arrival that fails is tried before it is skipped (with an ERROR log and
# a notification to the officers): one bad arrival must not hold up the others for ever.
MAX_TRIES = 5


class MonitorWorker:
    """The workflow's background work: watched children against arrivals, and monitoring
    that ended. One per gateway home (like the spool). A source's mark moves past an arrival
    only once the arrival has been matched, so a failure (a busy database) loses nothing: the
    arrival is tried again on the next tick."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.failures: dict[tuple[str, str], int] = {}

    async def run(self) -> None:
        await every(lambda: self.gw.settings.workflow_interval_seconds, self.tick, "workflow",
                    self.gw.clock)

    def sources(self) -> list[tuple[str, Listing, Maker]]:
        a = self.gw.store.arrivals
        return [("watch:transfers", a.transfers, ctf_arrival),
                ("watch:inbound", a.messages, message_arrival),
                ("watch:cases", a.cases, case_arrival)]

    async def tick(self) -> int:
        """Each step in turn; one that fails (a busy database, a row it cannot read) is
        logged and tried again next tick, and never stops the steps after it: the end of
        monitoring and the register's stranded transfers run for every other child."""
        n = 0
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            *((name, functools.partial(self.source, name, listing, make))
              for name, listing, make in self.sources()),
            ("watch:records", self.records), ("end of monitoring", self._end_due),
            ("register transfers", self._restore_stranded)]
        for what, step in steps:
            try:
                n += await step()
            except Exception as exc:  # noqa: BLE001 - the next step runs all the same
                log.error("workflow step %s failed (again next tick): %s", what,
                          failure(exc))
        return n

    async def _end_due(self) -> int:
        return await end_due(self.gw)

    async def _restore_stranded(self) -> int:
        await cnis.restore_stranded(self.gw)
        return 0

    async def source(self, name: str, listing: Listing, make: Maker) -> int:
        gw = self.gw
        mark = Mark.loads(await gw.store.marks.get(name))
        found = 0
        # Rows done since the mark was last stored. The mark is stored at once after a row
        # that wrote something (a finding, a notification), so that is never done twice,
        # and otherwise once at the end of the listing (or before a row that failed): storing
        # it after every row serialised every id of the last WINDOW seconds for each row,
        # quadratic in the arrival rate. A crash may have a row that found nothing looked at
        # again, which finds nothing again, or what a watch added since then.
        done: list[dict[str, Any]] = []
        for row in await listing(mark):
            key = (name, str(row["id"]))
            wrote = found
            try:
                arrival = await make(gw, row)
                if arrival is not None:
                    found += await match_watches(gw, arrival)
                    if arrival.source in _FOUND_IN:  # a child on a roll: open cases too
                        found += await match_cases(gw, arrival)
            except Exception as exc:  # noqa: BLE001 - one arrival must not stop the others
                tries = self.failures[key] = self.failures.get(key, 0) + 1
                what = getattr(exc, "code", type(exc).__name__)
                if tries < MAX_TRIES:
                    log.error("watched children not matched with %s %s (try %d, again next "
                              "tick): %s", name, key[1], tries, what)
                    break  # the mark stays before it
                log.error("watched children never matched with %s %s after %d tries: %s",
                          name, key[1], tries, what)

                await gw.store.backend.write(functools.partial(
                    notify.queue, gw, kind="workflow-error",
                    subject=f"An arrival ({name} {key[1]}) could not be matched against the "
                            f"watched children: check it by hand",
                    recipients=gw.settings.addresses("notify_officers"), message_id=key[1]))
                wrote = -1
            self.failures.pop(key, None)
            done.append(row)
            if found != wrote:
                mark = mark.after(done)
                done = []
                await _advance(gw, name, mark.dumps())
        if done:  # (Mark.after of several rows is the same as of each in turn)
            await _advance(gw, name, mark.after(done).dumps())
        return found

    async def records(self) -> int:
        """After a records import: every watched child and every open case against the whole
        records table."""
        version = json.dumps(await self.gw.store.records.version())
        seen = await self.gw.store.marks.get("watch:records")
        if version == seen:
            return 0
        rows = await self.gw.store.records.all()
        children = [Record.from_dict(r.present()) for r in rows]
        today = self.gw.clock.today()
        schools = {r.record_id: school_of(r.laestab) if on_roll(r, today) else None
                   for r in rows}
        arrival = Arrival("records", "records", children, schools,
                          since={r.record_id: r.on_roll_from for r in rows if r.on_roll_from})
        matcher = (await asyncio.to_thread(Matcher.from_records, children,
                                           self.gw.settings.match_config())
                   if children else None)
        found = await match_watches(self.gw, arrival, matcher)
        found += await match_cases(self.gw, arrival, matcher)
        await _advance(self.gw, "watch:records", version)
        return found

