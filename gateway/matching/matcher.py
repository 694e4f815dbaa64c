"""The record matcher: blocking index, Fellegi-Sunter scoring, bands and explanations.

Pure Python, no I/O. Only record ids and counts are ever logged.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.matching import compare
from gateway.matching.compare import MISSING, Prepared
from gateway.matching.config import MatchConfig
from gateway.matching.names import nickname_keys, phonetic
from gateway.matching.records import Record

log = logging.getLogger(__name__)

MATCH, POSSIBLE, NO_MATCH = "match", "possible", "no-match"
PERSON_FIELDS = ("forename", "middle_names", "dob", "sex", "upn")
HOUSEHOLD_FIELDS = ("surname", "postcode", "address")

# Plain-English reading of every comparison level, for the officer.
_DESCRIBE: dict[str, dict[str, str]] = {
    "forename": {
        "exact": "same forename", "nickname": "one forename is a nickname of the other",
        "close": "forenames differ by a typo", "phonetic": "forenames sound alike "
        "(spelling or transliteration variant)", "middle": "one forename is the other's "
        "middle name", "similar": "forenames loosely similar", "initial": "only an initial "
        "given, and it fits", "disagree": "different forenames",
    },
    "surname": {
        "exact": "same surname", "part": "one surname is part of a double-barrelled surname",
        "close": "surnames differ by a typo", "phonetic": "surnames sound alike",
        "similar": "surnames loosely similar", "disagree": "different surnames",
    },
    "dob": {
        "exact": "same date of birth", "partial": "partial date of birth fits (year and month)",
        "partial_year": "partial date of birth fits (year only)",
        "transposed": "day and month swapped", "one_part": "date of birth differs in one part "
        "(day, month or year)", "year": "same birth year only", "disagree": "different dates "
        "of birth",
    },
    "sex": {"agree": "same sex", "disagree": "different sex"},
    "postcode": {
        "exact": "same postcode", "sector": "same postcode sector",
        "district": "same postcode district", "disagree": "different postcodes",
    },
    "address": {
        "agree": "same address", "similar": "similar address", "disagree": "different address",
    },
    "middle_names": {"agree": "middle names agree", "disagree": "different middle names"},
    "upn": {"disagree": "both have valid UPNs and they differ"},
}


@dataclass(frozen=True)
class Candidate:
    """One ranked candidate record for a query."""

    record_id: str
    score: float
    band: str
    explanation: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "score": self.score,
            "band": self.band,
            "explanation": dict(self.explanation),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(
            record_id=str(data["record_id"]),
            score=float(data["score"]),
            band=str(data["band"]),
            explanation={str(k): str(v) for k, v in data.get("explanation", {}).items()},
        )


def _weight_table(config: MatchConfig) -> dict[str, dict[str, float]]:
    table = {
        fname: {level: math.log2(m / u) for level, (m, u) in levels.items()}
        for fname, levels in config.weights.items()
    }
    for levels in table.values():
        levels[MISSING] = 0.0
    return table


def _blocking_keys(p: Prepared) -> list[tuple[Any, ...]]:
    """Index keys of a record. Each covers the failure of another:

    * date of birth: survives any name change, typo or swap and a move;
    * surname sound + forename sound (over nickname forms) + birth year: survives a wrong
      day/month, a partial date and a move;
    * postcode: survives a changed surname together with a wrong date of birth.
    """
    keys: list[tuple[Any, ...]] = []
    d = p.dob
    if d is not None and d.is_full:
        keys.append(("d", d.year, d.month, d.day))
    if d is not None:
        for sn_part in p.sn_parts:
            sm = phonetic(sn_part)
            for tok in _forename_tokens(p.fn):
                keys.append(("n", sm, tok, d.year))
    if p.pc:
        keys.append(("p", p.pc))
    for u in p.upns:
        keys.append(("u", u))
    return keys


def _forename_tokens(fn: str) -> set[str]:
    # Two leading metaphone characters of every nickname form: tolerant of typos late in
    # the name and of nicknames (Bill -> William -> "WL").
    return {phonetic(k)[:2] for k in nickname_keys(fn)} if fn else set()


def _query_keys(q: Prepared) -> list[tuple[Any, ...]]:
    keys = _blocking_keys(q)
    d = q.dob
    if d is not None and d.is_full and d.day is not None and d.day <= 12 and d.day != d.month:
        keys.append(("d", d.year, d.day, d.month))  # day and month transposed
    if d is not None and q.fn and q.sn_parts:
        s = q.swapped()  # forename and surname swapped
        for sn_part in s.sn_parts:
            for tok in _forename_tokens(s.fn):
                keys.append(("n", phonetic(sn_part), tok, d.year))
    return keys


class Matcher:
    """Matches children's details against the records held by the authority."""

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self._weights = _weight_table(self.config)
        self._records: dict[str, Prepared] = {}
        self._index: dict[tuple[Any, ...], set[str]] = defaultdict(set)

    @classmethod
    def from_records(cls, records: Iterable[Record], config: MatchConfig | None = None) -> Matcher:
        m = cls(config)
        for rec in records:
            m.add(rec)
        log.info("matcher built: %d records, %d index keys", len(m), len(m._index))
        return m

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

    def add(self, record: Record) -> None:
        """Add a record, replacing any earlier record with the same id (re-import)."""
        if record.record_id in self._records:
            self.remove(record.record_id)
        p = Prepared.from_record(record)
        self._records[p.record_id] = p
        for key in _blocking_keys(p):
            self._index[key].add(p.record_id)

    def remove(self, record_id: str) -> bool:
        """Remove a record; returns False if there was none with that id."""
        p = self._records.pop(record_id, None)
        if p is None:
            return False
        for key in _blocking_keys(p):
            ids = self._index.get(key)
            if ids is not None:
                ids.discard(record_id)
                if not ids:
                    del self._index[key]
        return True

    def match(self, query: Record, limit: int = 5) -> list[Candidate]:
        """Ranked candidates (best first, at most ``limit``) for one child's details."""
        q = Prepared.from_record(query)
        decisive = self._decisive(q)
        if decisive is not None:
            return [decisive]
        ids = self._candidate_ids(q)
        scored = [self._score(q, self._records[rid]) for rid in ids]
        scored.sort(key=lambda c: (-c.score, c.record_id))
        return self._apply_ambiguity(scored)[:limit]

    def match_many(self, queries: Iterable[Record], limit: int = 5) -> list[list[Candidate]]:
        return [self.match(q, limit) for q in queries]

    def compare(self, query: Record, record_id: str) -> Candidate:
        """Score one query against one named record (no blocking), e.g. for review screens."""
        q = Prepared.from_record(query)
        r = self._records[record_id]
        if q.upns and not q.upns.isdisjoint(r.upns):
            return self._upn_candidate(record_id)
        return self._score(q, r)

    # -- internals -------------------------------------------------------------------

    def _decisive(self, q: Prepared) -> Candidate | None:
        if not q.upn:
            return None
        ids = self._index.get(("u", q.upn))
        if not ids:
            return None
        if len(ids) > 1:
            # Two records claim the same UPN (one as a former UPN): not decisive, score them.
            log.warning("UPN shared by %d records: %s", len(ids), ",".join(sorted(ids)))
            return None
        return self._upn_candidate(next(iter(ids)))

    def _upn_candidate(self, record_id: str) -> Candidate:
        return Candidate(
            record_id, self.config.upn_score, MATCH,
            {"upn": "valid UPN equal to the record's UPN or former UPN (decisive)"},
        )

    def _candidate_ids(self, q: Prepared) -> list[str]:
        hits: dict[str, int] = defaultdict(int)
        for key in _query_keys(q):
            if key[0] == "u":
                continue
            for rid in self._index.get(key, ()):
                hits[rid] += 1
        if len(hits) <= self.config.max_candidates:
            return list(hits)
        # Keep those found by most keys; ties broken by id so the result never depends on
        # the order in which records were added.
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        return [rid for rid, _ in ranked[: self.config.max_candidates]]

    def _levels(self, q: Prepared, r: Prepared) -> dict[str, str]:
        return {
            "forename": compare.forename(q, r),
            "surname": compare.surname(q, r),
            "middle_names": compare.middle_names(q, r),
            "dob": compare.dob(q.dob, r.dob),
            "sex": compare.sex(q, r),
            "postcode": compare.postcode(q, r),
            "address": compare.address(q, r),
            "upn": compare.upn(q, r),
        }

    def _total(self, levels: dict[str, str]) -> tuple[float, float, float]:
        w = self._weights
        person = sum(w[f][levels[f]] for f in PERSON_FIELDS)
        household = sum(w[f][levels[f]] for f in HOUSEHOLD_FIELDS)
        # Agreement on household fields is capped (they are shared by siblings); their
        # disagreement is not, since it is evidence of a different household.
        household_capped = min(household, self.config.household_cap)
        return person + household_capped, person, household

    def _score(self, q: Prepared, r: Prepared) -> Candidate:
        levels = self._levels(q, r)
        total, _, household = self._total(levels)
        swapped = False
        if levels["forename"] in ("disagree", "similar", MISSING) and levels["surname"] in (
            "disagree", "similar", "phonetic", MISSING
        ):
            s_levels = self._levels(q.swapped(), r)
            s_total = self._total(s_levels)[0] - self.config.swap_penalty
            if s_total > total:
                levels, total, swapped = s_levels, s_total, True
                household = self._total(s_levels)[2]
        band = self._band(total, levels)
        return Candidate(r.record_id, round(total, 2), band,
                         self._explain(levels, household, swapped))

    def _band(self, total: float, levels: dict[str, str]) -> str:
        cfg = self.config
        if total >= cfg.match_threshold and levels["forename"] != "disagree":
            return MATCH
        # A different forename never makes a match: this is what stops a twin (same date of
        # birth, surname and address) being taken for the child.
        if total >= cfg.possible_threshold:
            return POSSIBLE
        return NO_MATCH

    def _explain(self, levels: dict[str, str], household: float, swapped: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        for fname, level in levels.items():
            if level == MISSING:
                out[fname] = "not given on both sides (no weight)"
                continue
            out[fname] = f"{_DESCRIBE[fname][level]} ({self._weights[fname][level]:+.1f})"
        if household > self.config.household_cap:
            out["household"] = (
                f"surname, postcode and address weights capped at {self.config.household_cap:+.1f}"
                " because siblings share them"
            )
        if swapped:
            out["names"] = (
                f"forename and surname read the other way round (-{self.config.swap_penalty:.1f})"
            )
        if levels["forename"] == "disagree":
            out["band_rule"] = "different forenames: never a match, at most possible"
        return out

    def _apply_ambiguity(self, ranked: list[Candidate]) -> list[Candidate]:
        if len(ranked) < 2 or ranked[1].band != MATCH:
            return ranked
        if ranked[0].score - ranked[1].score >= self.config.ambiguity_margin:
            return ranked
        out = []
        for c in ranked:
            if c.band == MATCH and ranked[0].score - c.score < self.config.ambiguity_margin:
                expl = dict(c.explanation)
                expl["band_rule"] = "another record scores almost as high: review needed"
                c = Candidate(c.record_id, c.score, POSSIBLE, expl)
            out.append(c)
        return out
