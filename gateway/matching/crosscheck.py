"""Cross-check: children on the health (PCT) registration list who are of compulsory school
age and match no school roll, with the nearest roll records for an officer to review."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.matching.config import MatchConfig
from gateway.matching.matcher import MATCH, Candidate, Matcher
from gateway.matching.records import Record
from gateway.matching.school_age import csa_status

log = logging.getLogger(__name__)

MAX_CANDIDATES = 3
REASON_NOT_ON_ROLL = "not-on-any-roll"
REASON_LEFT_ROLL = "left-roll"  # matches a roll record whose on_roll_to has passed
REASON_AGE_UNKNOWN = "not-on-any-roll-age-unconfirmed"  # missing or partial date of birth


@dataclass(frozen=True)
class CrossCheckRow:
    health_record_id: str
    reason: str
    candidates: tuple[Candidate, ...]


def on_roll(rec: Record, as_of: dt.date) -> bool:
    """On the roll on ``as_of``; a partial or missing date counts as open-ended."""
    start, end = rec.on_roll_from, rec.on_roll_to
    if start is not None and (start.year, start.month or 1, start.day or 1) > (
        as_of.year, as_of.month, as_of.day
    ):
        return False
    if end is not None and (end.year, end.month or 12, end.day or 31) < (
        as_of.year, as_of.month, as_of.day
    ):
        return False
    return True


def crosscheck(
    health: Iterable[Record], rolls: Iterable[Record], as_of: dt.date,
    config: MatchConfig | None = None,
) -> list[CrossCheckRow]:
    """Health-registered children of compulsory school age on ``as_of`` with no roll match."""
    roll_list = list(rolls)
    current = {r.record_id for r in roll_list if on_roll(r, as_of)}
    matcher = Matcher.from_records(roll_list, config)
    rows: list[CrossCheckRow] = []
    checked = 0
    for child in health:
        status = csa_status(child.dob, as_of)
        if status == "no":
            continue
        checked += 1
        cands = matcher.match(child, limit=MAX_CANDIDATES)
        matched = [c for c in cands if c.band == MATCH]
        if matched and matched[0].record_id in current:
            continue
        if matched:
            reason = REASON_LEFT_ROLL
        elif status == "unknown":
            reason = REASON_AGE_UNKNOWN
        else:
            reason = REASON_NOT_ON_ROLL
        rows.append(CrossCheckRow(child.record_id, reason, tuple(cands)))
    log.info("cross-check: %d of compulsory school age or unknown, %d without a roll",
             checked, len(rows))
    return rows
