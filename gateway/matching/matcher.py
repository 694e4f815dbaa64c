"""The record matcher: blocking index, Fellegi-Sunter scoring, bands and explanations.

Pure Python, no I/O. Only record ids and counts are ever logged.
"""

from __future__ import annotations

import gc
import logging
import math
import multiprocessing
import os
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein
from rapidfuzz.process import extract

from gateway.matching import compare, namelike
from gateway.matching.blocking import (
    HOUSEHOLD_KEY_MAX,
    Key,
    damaged_keys,
    deferred_keys,
    fallback_keys,
    forename_tokens,
    household_keys,
    query_keys,
    record_keys,
    surname_tokens,
)
from gateway.matching.compare import MISSING, Prepared
from gateway.matching.config import MatchConfig
from gateway.matching.explain import describe
from gateway.matching.names import (
    known_name,
    nickname_equivalent,
    nickname_keys,
    sibling_forms,
    transliteration_key,
)
from gateway.matching.records import Record

log = logging.getLogger(__name__)

MATCH, POSSIBLE, NO_MATCH = "match", "possible", "no-match"
FIELDS = ("forename", "surname", "middle_names", "dob", "sex", "location", "upn")
# Forename levels strong enough to tell twins apart.
STRONG_FORENAME = frozenset({"exact", "nickname", "close", "phonetic"})
# Weaker forename levels that still tell twins apart when the query's forename is the
# child's middle name, or its initial, and fits none of the twins' forenames.
TWIN_APART_FORENAME = frozenset({"middle", "initial"})
# Name levels weak enough that reading the names the other way round is worth a try.
_SWAP_FN = frozenset({"disagree", "similar", MISSING})
_SWAP_SN = frozenset({"disagree", "similar", "phonetic", MISSING})
# Surname levels that make a single given name worth reading as the surname.
_SINGLE_NAME_SWAP_SN = frozenset({"exact", "part", "close"})

Levels = tuple[str, str, str, str, str, str, str]  # in FIELDS order


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


@dataclass(slots=True)
class _Scored:
    record_id: str
    total: float
    levels: Levels
    household: float
    swapped: bool
    rule: str = ""
    # Why a band rule that would have applied did not (for the officer's explanation).
    lifted: str = ""


# Date-of-birth levels near enough for OCR or keying damage in a name to be worth looking
# for: with another child's date of birth the names' levels cannot make a match, and the
# search (a weighted edit distance in Python) is the costliest comparison.
_DAMAGE_DOB = frozenset({"exact", "transposed", "slip", "partial", "partial_year", MISSING})


def levels_of(q: Prepared, r: Prepared) -> Levels:
    """The comparison level of every field, in ``FIELDS`` order."""
    # The commonest outcomes (exact agreement, a side not given) are decided inline before
    # calling out: this runs for every candidate of every query.
    dob = ("exact" if q.dob_full and q.dob_code == r.dob_code
           else compare.dob_level(q.dob_code, r.dob_code))
    deep = dob in _DAMAGE_DOB
    loc = compare.location(q, r)
    sn = "exact" if q.sn and q.sn == r.sn else compare.surname(q, r, False)
    # A damaged forename is looked for only beside a surname or a home that fits: with
    # neither, and a damaged name, nothing is left to say it is this child.
    fn = "exact" if q.fn and q.fn == r.fn else compare.forename(
        q, r, deep and (sn != "disagree" or loc in _SAME_HOME))
    # (With different forenames the pair is another child's whatever the surname.)
    if deep and fn != "disagree" and sn in ("similar", "disagree"):
        sn = compare.surname(q, r, True)
    return (
        fn,
        sn,
        MISSING if not q.mids or not r.mids else compare.middle_names(q, r),
        dob,
        MISSING if not q.sex or not r.sex else "agree" if q.sex == r.sex else "disagree",
        loc,
        MISSING if not q.upn or not r.upns else compare.upn(q, r),
    )


# Base rate behind the forename vetoes. About 3% of children are twins: twin maternities
# are 1.4-1.6% of all maternities in England and Wales (ONS, "Birth characteristics in
# England and Wales", multiple maternities, 14-16 per 1,000 maternities in 2012-2022), and
# each gives two children. So a child on file has an unrecorded co-twin with prior odds of
# up to about 1 in 32 (5 bits), and a co-twin has the same surname, home and date of
# birth and a *different real name*. The weights give a disagreeing forename log2(m/u) =
# log2(0.030/0.965) = -5.0 bits against the same child: the two cancel, so a query whose
# forename is another name, with everything else the record's, is about as likely an
# unrecorded twin as the child, whether or not anything else is on file. A loosely similar
# name (Amira beside Amelia, Ava beside Eva) is no better: parents give twins alike names.
# Those two vetoes rest on this base rate. A forename that OCR or keying damage explains
# and that is no real name ("garbled": Hrwwrh for Hannah) is the child's own name, damaged;
# a co-twin would need a different name *and* damage that happens to lead to this child's
# name, so its veto rests on evidence instead: a record actually held that could be the
# child (``Matcher._lone``).
TWIN_SHARE_OF_CHILDREN = 0.03
# A spelling that is no real name we know (no held record has it, no nickname list knows
# it, it is not one slip from a held name) and that no damage explains ("Jdqcde" for
# Adaeze) is either the child's name garbled past recognition or a rare real name: an
# unrecorded twin's, say. Against a twin it needs the twin *and* a name the records have
# never seen: TWIN_SHARE_OF_CHILDREN x the chance that a real forename is unseen, which
# the records themselves estimate (Good-Turing: the share of records whose forename no
# other record has, ``Matcher._unseen_share``). For the same child it needs a garbled
# name: m of a disagreeing forename, 0.030, the same order as the twin share. So the odds
# for the child are about 1 / (unseen share); at 1/64 or less, fewer than 2% of such
# claims (the wrong-child bound) could be an unrecorded twin, and such a spelling
# with everything else the record's, and no competitor held, is the child. Where many
# names are held only once (a small authority, or real names' long tail) the unseen share
# is higher and the veto stays. This is offered, not the default
# (``MatchConfig.unrecognised_name_share``): such a spelling is not one an officer would
# accept at a glance.
UNSEEN_NAME_SHARE = 1 / 64
# An enquiry with the record's own forename, surname, sex and home whose date of birth is
# wrong in two of its three parts is either the child with a badly written date or a
# brother or sister who has no record and the same first name. For the child: real linkage
# data gets two parts of a date wrong on about 0.9% of true pairs (agreement rates of day
# 97%, month 92%, year 94%, issue 14's survey of real data). For the sibling: 2-3% of
# enquiries are about a child with no record, nearly always one whose brother or sister is
# held; the two share a forename with the share ``s`` that the records themselves estimate
# (``Matcher._namesake_share``: pairs of children at one address who share a surname part
# and were born on different days, with the same forename); and two siblings' dates differ
# in exactly two parts (the same year, or the same day or month of different years) about
# one time in five or six. At s = 1/64 that is 0.009 (less the day/month swaps, which have
# their own level: about 0.005) against 0.03 x 0.016 x 0.2 = 0.0001, about 50 to 1 for the
# child, and at most 0.2 x 1/64 = 0.3% of the children who are not held could be claimed
# this way (the bound is 2%). Where more brothers share a name (every son
# Muhammad, known by his middle name; cousins named alike at one home) the share is higher
# and the date keeps its veto (``MatchConfig.sibling_namesake_share``).
SIBLING_NAMESAKE_SHARE = 1 / 64
# The share is also taken for the record's forename alone (``Matcher._name_namesake_share``),
# smoothed towards the average as if this many more pairs had the name.
NAMESAKE_PRIOR_PAIRS = 16


def _name_bucket(fn: str) -> str:
    """The forename as the namesake counts know it: every spelling that sounds alike in one
    bucket (Muhammad, Mohammed and Mohamed), so that brothers who share one spelling keep
    the veto for the others too."""
    return transliteration_key(fn) if fn else ""


def _namesakes(a: str, b: str) -> bool:
    """Do two children of one family bear the same forename (in one spelling or two, or a
    listed form of it: "Md" for Muhammad)? Erring towards yes only raises the share, which
    keeps the veto."""
    return bool(a) and (a == b or nickname_equivalent(a, b) or (
        _name_bucket(a) == _name_bucket(b) and compare.sounds_alike(a, b)))


def _bump(counter: Counter[str], key: str, by: int) -> None:
    counter[key] += by
    if not counter[key]:
        del counter[key]


_EVIDENCE_FORENAME = frozenset({"garbled", "disagree", "similar"})
# Date-of-birth levels with which a damaged forename can still be matched.
_LONE_DOB = frozenset({"exact", "transposed", "slip", "partial"})
_SAME_HOME = frozenset({"address", "postcode"})
_LONE_SURNAME = frozenset({"exact", "part", "close"})
# Date-of-birth levels that make a record another child (see ``_guard``).
_OTHER_CHILD_DOB = frozenset({"disagree", "year"})


def _guard(levels: Levels, twin: str, same_name: bool = False, lone: bool = False,
           rare_unseen: bool = False, far: bool = False, dated: bool = False,
           sibling_names: bool = False) -> str:
    """Why the person fields forbid the ``match`` band whatever the score ("" if they don't).

    These rules keep a sibling or twin from being taken for the child: the household fields
    (surname, postcode, address) cannot tell them apart, only the person fields can, so the
    person fields get a veto. ``twin`` is "" when the record has no twin on file, "apart"
    when it has and the query's weaker forename evidence (its middle name, or an initial)
    fits this child and none of the twins, "same" otherwise. ``same_name`` is True when
    the forenames are the same or nicknames in the lists (not a nickname with a slip):
    only that outweighs a different sex. ``lone`` is True when the query's forename is a
    damaged spelling (no real name) and no held record other than this one could be the
    child (no twin, no namesake with the surname and date of birth, no brother or sister
    at the home whose forename the query's could be): a damaged ("garbled") forename is
    then the child's (see ``TWIN_SHARE_OF_CHILDREN``). ``rare_unseen`` is True when a real
    forename is seldom a spelling no held record has (``UNSEEN_NAME_SHARE``): a lone
    spelling that no damage explains, with everything else the record's, is then the
    child's too. ``far`` is True when the lone spelling is not shaped like a name at all
    (``namelike``) and heavy damage explains it as the record's name
    (``compare.far_damaged``: "Wawiv" for Nancy): with everything else the record's it is
    the child's, as a "garbled" one is (an unrecorded twin would need a name that no list
    knows, that is not shaped like a name, and that lies within damage of this child's).
    ``dated`` is True when the date of birth is wrong in two parts but forename, surname,
    sex and home are the record's, no other held record could be the child, and children
    of one home seldom share a forename here (``SIBLING_NAMESAKE_SHARE``): the date alone
    then does not make the record a brother or sister. ``sibling_names`` is True when the
    forenames are two short forms that meet only in a formal name neither is
    (``names.sibling_forms``: Alfie and Freddie): names of their own, as twins are given.
    """
    fn, dob = levels[0], levels[3]
    # The base rate of twins (TWIN_SHARE_OF_CHILDREN), unless the spelling is rarely a
    # real name here and everything else is the record's.
    # (Lifted only with the sex given and the same: an absent twin may be of either sex.)
    unseen = (lone and (rare_unseen or far) and dob == "exact" and levels[1] in _LONE_SURNAME
              and levels[5] in _SAME_HOME and levels[4] == "agree")
    if fn == "disagree" and not unseen:
        return "different forenames: at most a possible match"
    if fn == "garbled" and not (lone and dob in _LONE_DOB):
        return ("a damaged forename, and another record on file could be the child: "
                "at most a possible match")
    # With no forename given, no surname in common and a date of birth that is not the
    # record's, nothing names the child: the date, sex and home fit a brother or sister
    # as well. (With the record's exact date and home the odds are those of the twin base
    # rate, about 32 to 1 for the child, and the score decides.)
    if fn == MISSING and levels[1] in ("disagree", MISSING) and dob != "exact":
        return ("no forename given, the surnames differ and so do the dates of birth: at most "
                "a possible match")
    # (Even with the record's own forename: brothers may share a first name and go by
    # their middle names, as many families name every son Muhammad, and cousins may share
    # a name and a home.)
    if dob in ("disagree", "year") and not dated:
        return "different dates of birth: at most a possible match (could be a sibling)"
    if levels[6] == "disagree":
        return "both have valid UPNs and they differ: at most a possible match"
    # A forename that only nearly agrees does not outweigh a different sex: Ellie and
    # Ollie are one letter apart and could be twins.
    # (Not even a typo'd spelling that no held record has: "real" names are only those held
    # or in the nickname lists, and an opposite-sex twin's name may be neither: Reece
    # beside Reese.)
    if levels[4] == "disagree" and not same_name:
        return "different sex and no forename agreement: at most a possible match"
    # (A forename given as the record's middle name, "middle", has its names crossed, so
    # its middle names cannot be expected to agree.)
    # (A nickname is no strong evidence against them: "Md" and "Mohammed" both stand for
    # Muhammad, which brothers may share, each known by his middle name.)
    if levels[2] == "disagree" and (fn not in STRONG_FORENAME or fn == "nickname") \
            and fn != "middle":
        return "different middle names and no forename agreement: at most a possible match"
    # (A damaged forename that is no twin's and fits no other held record, "lone", tells
    # the child from its twins as a middle name does.)
    if twin and (
        (fn not in STRONG_FORENAME and not (twin == "apart" and (
            fn in TWIN_APART_FORENAME or (fn == "garbled" and lone))))
        or levels[4] == "disagree"
    ):
        return "the record has a twin on file and the forename does not tell them apart"
    # The base rate of twins again (TWIN_SHARE_OF_CHILDREN): alike names are given to twins.
    if (fn == "similar" and dob == "exact" and levels[5] in ("address", "postcode")
            and not unseen):
        return "same home and date of birth but only a loosely similar forename: could be a twin"
    # The same for two short forms of one formal name (Alfie and Freddie, Daisy and Maisie):
    # each is a name in its own right, and a child is seldom known by another's.
    if (fn == "nickname" and sibling_names and dob == "exact"
            and levels[5] in ("address", "postcode")):
        return ("same home and date of birth, and the forenames are two names that only share "
                "a formal name: could be a twin")
    return ""


# Fork is used only on Linux: elsewhere it is unavailable or (macOS) unsafe.
_CAN_FORK = sys.platform.startswith("linux")
_BATCH_LOCK = threading.Lock()
# The matcher of a batch worker process (set by ``_adopt`` when the worker starts).
_WORKER_MATCHER: Matcher | None = None
# Fewest queries worth sending to a worker process.
_MIN_CHUNK = 250


def _adopt(matcher: Matcher) -> None:
    global _WORKER_MATCHER
    _WORKER_MATCHER = matcher


def _match_chunk(args: tuple[list[Record], int, bool]) -> list[list[Candidate]]:
    queries, limit, explain = args
    if _WORKER_MATCHER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("batch worker started without a matcher")
    return [_WORKER_MATCHER.match(q, limit, explain) for q in queries]


def default_workers() -> int:
    """Processes a batch run uses by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Matcher:
    """Matches children's details against the records held by the authority."""

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        if self.config.heavy_damage:
            # Built now (about a second, once a process) and not by the first heavily
            # damaged enquiry; before batch workers fork; and a missing Faker fails here.
            namelike.build_once()
        self._w = tuple(
            {**{lv: math.log2(m / u) for lv, (m, u) in self.config.weights[f].items()},
             MISSING: 0.0}
            for f in FIELDS
        )
        # Best weight of each field (0 at least: either side may lack it), for the
        # second look-up's bound (``_deferred_bound``). A record only the later keys find
        # has neither the same nor a transposed date; partial dates count only while some
        # held record has one.
        self._best = tuple(max(levels.values()) for levels in self._w)
        later_dob = {lv: wt for lv, wt in self._w[3].items() if lv not in ("exact", "transposed")}
        self._best_later_dob = max(later_dob.values())
        self._best_later_full_dob = max(
            wt for lv, wt in later_dob.items() if lv not in ("partial", "partial_year"))
        self._records: dict[str, Prepared] = {}
        self._index: dict[Key, set[str]] = defaultdict(set)
        # Value counts for term-frequency adjustment (see MatchConfig.tf_adjust).
        self._fn_count: Counter[str] = Counter()
        self._sn_count: Counter[str] = Counter()
        self._partial_dobs = 0  # records held with only a year, or a year and month
        self._fn_m, self._fn_u = self.config.weights["forename"]["exact"]
        self._prior_n, self._prior_w = -1, 0.0
        # Memoised term-frequency weights; emptied whenever a record is added or removed.
        self._fn_tf_memo: dict[str, float] = {}
        self._sn_tf_memo: dict[str, float] = {}
        # Every held forename spelling, for ``_real_name``; rebuilt after records change.
        self._fn_names: tuple[str, ...] | None = None
        self._fn_sounds: dict[str, set[str]] = {}
        self._fn_unseen: float | None = None  # see _unseen_share
        # Children held at each home (postcode and address), for ``_namesake_share``, and
        # the family pairs among them (``_count_home``): all, and those with the same
        # forename, kept up to date as records come and go.
        self._homes: dict[tuple[str, str], dict[str, Prepared]] = defaultdict(dict)
        self._home_pairs = 0
        self._home_namesakes = 0
        # The same by forename: pairs in which a child has it, and pairs who both have it.
        self._name_pairs: Counter[str] = Counter()
        self._name_namesakes: Counter[str] = Counter()
        self._sn_m, self._sn_u = self.config.weights["surname"]["exact"]

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
        self._forget_weights()
        for key in record_keys(p):
            self._index[key].add(p.record_id)
        self._fn_count[p.fn] += 1
        self._sn_count[p.sn] += 1
        self._partial_dobs += p.dob is not None and not p.dob_full
        self._count_home(p, +1)

    def remove(self, record_id: str) -> bool:
        """Remove a record; returns False if there was none with that id."""
        p = self._records.pop(record_id, None)
        if p is None:
            return False
        self._forget_weights()
        self._partial_dobs -= p.dob is not None and not p.dob_full
        self._count_home(p, -1)
        for counter, value in ((self._fn_count, p.fn), (self._sn_count, p.sn)):
            counter[value] -= 1
            if counter[value] <= 0:
                del counter[value]
        for key in record_keys(p):
            ids = self._index.get(key)
            if ids is not None:
                ids.discard(record_id)
                if not ids:
                    del self._index[key]
        return True

    def match(self, query: Record, limit: int = 5, explain: bool = True) -> list[Candidate]:
        """Ranked candidates (best first, at most ``limit``) for one child's details.

        ``explain=False`` leaves ``explanation`` empty, which batch runs use for speed.
        """
        q = Prepared.from_record(query)
        decisive = self._decisive(q)
        if decisive is not None:
            return [decisive]
        qs = self._swapped(q)
        self._mark_spelling(q)
        records = self._records
        seen = self._candidate_ids(q)
        scored = [self._score(q, qs, records[rid]) for rid in seen]
        best = max((s.total for s in scored), default=-math.inf)
        keys: list[Key] = []
        if best < self.config.match_threshold:
            # Nothing placed: look up the keys left for later and, without a full date of
            # birth or a postcode (on which the first keys lean), look wider still.
            keys = deferred_keys(q)
            if not q.dob_full or not q.pc:
                keys += fallback_keys(q)
        elif q.dob_full and (len(seen) >= self.config.max_candidates  # first look-up cut short
                             or best < self._deferred_bound(q, qs) + self.config.ambiguity_margin):
            # Something is placed, but a record only the later keys find (say the child,
            # with a slip in the day of birth) could still beat it or come close enough
            # to make it ambiguous: look.
            keys = deferred_keys(q)
        elif q.dob_full and not q.district:
            # Placed beyond what the later keys could reach, but without a postcode a
            # record at the query's home is not bounded so (its date of birth may be the
            # query's, and no first key holds date and district): look there.
            keys = household_keys(q)
        if keys:
            more = self._candidate_ids(q, keys, set(seen))
            scored.extend(self._score(q, qs, records[rid]) for rid in more)
        if keys:
            best = max((s.total for s in scored), default=-math.inf)
        if best < self.config.match_threshold and not (q.fn_known and q.sn_known):
            # Still nothing placed, and a name is a spelling no record holds: the children
            # born that day. What this finds is a child whose names are both damaged and
            # who moved, so its surname must still be the query's in some form: a
            # namesake elsewhere born that day (George Oliver Williams for "Gorge Oliver
            # Lidwell") is not weighed, whatever the forename and middle name say.
            found = set(seen) | {s.record_id for s in scored}
            for rid in self._candidate_ids(q, damaged_keys(q), found):
                r = records[rid]
                # (The surname first: most children born that day have another one.)
                if not (q.sn and r.sn) or (
                        compare.surname(q, r, True) == "disagree"
                        and (qs is None or not qs.sn
                             or compare.surname(qs, r, True) == "disagree")):
                    continue
                s = self._score(q, qs, r)
                if s.levels[1] not in ("disagree", MISSING):
                    scored.append(s)
        scored.sort(key=lambda s: (-s.total, s.record_id))
        top = scored[: max(limit, 2)]
        bands = self._bands(top, q, qs, scored)
        return [self._candidate(s, b, explain) for s, b in zip(top, bands, strict=True)][:limit]

    def match_many(
        self, queries: Iterable[Record], limit: int = 5, explain: bool = True,
        workers: int = 1,
    ) -> list[list[Candidate]]:
        """``match`` for every query, in order.

        ``workers`` > 1 splits a large batch over that many forked processes, each with a
        copy-on-write view of this matcher; the results are exactly those of one process.
        Only for batch tools (the ``match`` command, the benchmark): never fork from a
        process that runs other threads, such as the gateway service.
        """
        qs = list(queries)
        workers = max(1, min(workers, len(qs) // _MIN_CHUNK))
        if workers == 1 or not _CAN_FORK:
            return [self.match(q, limit, explain) for q in qs]
        # One parallel batch at a time per process: gc.freeze is process-wide.
        with _BATCH_LOCK:
            # Move every existing object out of the collector's reach, so that the workers'
            # collections do not write to (and so copy) the matcher's pages. A caller's own
            # freeze is left alone.
            froze = gc.get_freeze_count() == 0
            if froze:
                gc.freeze()
            try:
                # Chunks of a few hundred queries keep every worker busy to the end
                # without paying the pickling cost per query.
                size = max(_MIN_CHUNK, len(qs) // (workers * 8))
                chunks = [(qs[i:i + size], limit, explain) for i in range(0, len(qs), size)]
                # The matcher reaches each worker through fork (the initializer's
                # argument is not pickled under fork). A worker that dies (e.g. killed for
                # memory) raises BrokenProcessPool here instead of hanging the batch.
                with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_adopt, initargs=(self,)) as pool:
                    out: list[list[Candidate]] = []
                    for part in pool.map(_match_chunk, chunks):
                        out.extend(part)
                return out
            finally:
                if froze:
                    gc.unfreeze()

    def compare(self, query: Record, record_id: str) -> Candidate:
        """Score one query against one named record (no blocking), e.g. for a review screen."""
        q = Prepared.from_record(query)
        r = self._records[record_id]
        if q.upn and q.upn in r.upns and not (q.nhs and r.nhs and q.nhs != r.nhs):
            return self._upn_candidate(record_id)
        if q.nhs and q.nhs == r.nhs and not (q.upn and r.upn and q.upn not in r.upns):
            return self._nhs_candidate(record_id)
        qs = self._swapped(q)
        self._mark_spelling(q)
        s = self._score(q, qs, r)
        return self._candidate(s, self._bands([s], q, qs)[0])

    # -- internals -------------------------------------------------------------------

    def _deferred_bound(self, q: Prepared, qs: Prepared | None) -> float:
        """The highest score a record found only by ``deferred_keys`` could reach.

        For a query with a full date of birth such a record's date is neither the same nor
        transposed (those records share a first key), so its date of birth counts at most
        as a keying slip, or as a fitting partial date if any held record has one; every
        other field is taken at its best. A record at the query's home with the query's
        date of birth shares the first key of date and postcode district; for a query
        with no postcode it does not, and ``match`` looks up the household key
        (``blocking.household_keys``) whatever this bound says. (A postcode with a typo in
        its district, both names damaged past their keys and the date exact is the gap
        left.)
        """
        best = self._best
        names = [n for n in (q.fn, q.sn, qs.fn if qs else "", qs.sn if qs else "") if n]
        # Every level of every field counts, so that any configured weights keep this a
        # bound; a field the query lacks counts 0.
        fn_best = max([best[0]] + [self._fn_tf(n) for n in names if n in self._fn_count])
        sn_best = max([best[1]] + [self._sn_tf(n) for n in names if n in self._sn_count])
        dob_best = self._best_later_dob if self._partial_dobs else self._best_later_full_dob
        person = (fn_best + dob_best + (best[2] if q.mids else 0.0)
                  + (best[4] if q.sex else 0.0) + best[6])
        household = min(sn_best + (best[5] if q.pc or q.addr else 0.0),
                        self.config.household_cap)
        return person + household + self._prior()

    def _swapped(self, q: Prepared) -> Prepared | None:
        # With only one name given it may still be in the wrong box (a surname given as
        # the forename), so a single name is tried the other way round too.
        if not (q.fn or q.sn):
            return None
        qs = q.swapped()
        self._mark_spelling(qs)
        return qs

    def _mark_spelling(self, q: Prepared) -> None:
        """Note whether the query's forename is a known spelling: one that a held record
        has, or a nickname the nickname lists know (Dan, for Daniel, is a name, not a slip
        for Jan). Formal names the lists know but no record has still count as unseen.
        The surname likewise (``sn_known``): only an unseen one can be damage of another."""
        if q.fn and len(self._records) >= self.config.unseen_forename_records:
            q.fn_known = q.fn in self._fn_count or len(nickname_keys(q.fn)) > 1
        if q.sn and len(self._records) >= self.config.unseen_forename_records:
            q.sn_known = q.sn in self._sn_count

    def _decisive(self, q: Prepared) -> Candidate | None:
        """A valid UPN or NHS number held by exactly one record decides the match (when
        both are given, they must name the same record)."""
        found: dict[str, Candidate] = {}
        for key, value, label in (("u", q.upn, "UPN"), ("h", q.nhs, "NHS number")):
            if not value:
                continue
            ids = self._index.get((key, value))
            if not ids:
                continue
            if len(ids) > 1:
                # Two records claim the same identifier: not decisive, score them.
                log.warning("%s shared by %d records: %s", label, len(ids),
                            ",".join(sorted(ids)))
                return None
            rid = next(iter(ids))
            found[rid] = (self._upn_candidate(rid) if key == "u"
                          else self._nhs_candidate(rid))
        if len(found) != 1:
            return None  # none, or the UPN and the NHS number name different records
        return next(iter(found.values()))

    def _nhs_candidate(self, record_id: str) -> Candidate:
        return Candidate(
            record_id, self.config.upn_score, MATCH,
            {"nhs_number": "valid NHS number equal to the record's (decisive)"},
        )

    def _upn_candidate(self, record_id: str) -> Candidate:
        return Candidate(
            record_id, self.config.upn_score, MATCH,
            {"upn": "valid UPN equal to the record's UPN or former UPN (decisive)"},
        )

    def _candidate_ids(
        self, q: Prepared, keys: list[Key] | None = None, exclude: set[str] | None = None
    ) -> list[str]:
        index = self._index
        hits: dict[str, int] = {}
        for key in query_keys(q) if keys is None else keys:
            found = index.get(key, ())
            if key[0] in ("a", "ad") and len(found) > HOUSEHOLD_KEY_MAX:
                continue  # a hostel, not a household
            for rid in found:
                if exclude is None or rid not in exclude:
                    hits[rid] = hits.get(rid, 0) + 1
        if len(hits) <= self.config.max_candidates:
            return list(hits)
        # Keep those found by most keys; ties broken by id so the result never depends on
        # the order in which records were added.
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        return [rid for rid, _ in ranked[: self.config.max_candidates]]

    def _forget_weights(self) -> None:
        self._fn_names = None
        self._fn_unseen = None
        if self._fn_tf_memo:
            self._fn_tf_memo.clear()
        if self._sn_tf_memo:
            self._sn_tf_memo.clear()

    def _tf_weight(self, count: int, m: float, u: float) -> float:
        k = self.config.tf_prior_records
        return math.log2(m * (len(self._records) + k) / (count + k * u))

    def _fn_tf(self, fn: str) -> float:
        """Term-frequency weight of exact forename agreement (memoised until records change)."""
        w = self._fn_tf_memo.get(fn)
        if w is None:
            w = self._fn_tf_memo[fn] = self._tf_weight(self._fn_count[fn], self._fn_m,
                                                       self._fn_u)
        return w

    def _sn_tf(self, sn: str) -> float:
        w = self._sn_tf_memo.get(sn)
        if w is None:
            w = self._sn_tf_memo[sn] = self._tf_weight(self._sn_count[sn], self._sn_m,
                                                       self._sn_u)
        return w

    def _total(self, lv: Levels, r: Prepared) -> tuple[float, float]:
        w = self._w
        tf = self.config.tf_adjust
        fn_w = self._fn_tf(r.fn) if tf and lv[0] == "exact" else w[0][lv[0]]
        sn_w = self._sn_tf(r.sn) if tf and lv[1] == "exact" else w[1][lv[1]]
        person = fn_w + w[2][lv[2]] + w[3][lv[3]] + w[4][lv[4]] + w[6][lv[6]]
        household = sn_w + w[5][lv[5]]
        # Surname, postcode and address are shared by the whole household: their agreement
        # is capped so that forename and date-of-birth disagreement outweighs it. Their
        # disagreement is not capped (it is evidence of another household).
        total = person + min(household, self.config.household_cap) + self._prior()
        return total, household

    def _prior(self) -> float:
        """log2 prior odds that a given record is the child: one record among N."""
        n = len(self._records)
        if self._prior_n != n:
            self._prior_n = n
            self._prior_w = -math.log2(max(n, self.config.prior_records_floor))
        return self._prior_w

    def _score(self, q: Prepared, qs: Prepared | None, r: Prepared) -> _Scored:
        lv = levels_of(q, r)
        total, household = self._total(lv, r)
        # Try the names the other way round only when an initial suggests it could help.
        if (qs is not None and lv[0] in _SWAP_FN and lv[1] in _SWAP_SN and r.fn and r.sn
                and (qs.fn[:1] == r.fn[:1] or qs.sn[:1] == r.sn[:1])):
            slv = levels_of(qs, r)
            if not (q.fn and q.sn) and slv[1] not in _SINGLE_NAME_SWAP_SN:
                # One name only, read as a surname: it must really be the surname (Jack
                # is not read as Jackson), or a twin's forename would escape its veto.
                return _Scored(r.record_id, total, lv, household, False)
            stotal, shousehold = self._total(slv, r)
            stotal -= self.config.swap_penalty
            if stotal > total:
                return _Scored(r.record_id, stotal, slv, shousehold, True)
        return _Scored(r.record_id, total, lv, household, False)

    def _twins(self, r: Prepared) -> list[Prepared]:
        """Other records born the same day in the same household (twins, triplets)."""
        d = r.dob
        if d is None or not d.is_full or not r.district:
            return []
        out = []
        for rid in self._index.get(("dp", d.year, d.month, d.day, r.district), ()):
            o = self._records[rid]
            if rid != r.record_id and (o.pc == r.pc or (o.addr and o.addr == r.addr)) and (
                not set(o.sn_parts).isdisjoint(r.sn_parts)
            ):
                out.append(o)
        return out

    def _twin(self, s: _Scored, q: Prepared, qs: Prepared | None) -> str:
        twins = self._twins(self._records[s.record_id])
        if not twins:
            return ""
        qq = qs if s.swapped and qs is not None else q
        if all(compare.forename(qq, t) == "disagree" for t in twins):
            return "apart"
        return "same"

    def _count_home(self, p: Prepared, sign: int) -> None:
        """Add (``sign`` +1) or take away (-1) ``p`` in the counts of ``_namesake_share``.

        Only a family's pairs count: two children at one address (postcode and address)
        who share a surname part and were born on different days. An address holding
        more than ``HOUSEHOLD_KEY_MAX`` records (a hostel, a hotel used as temporary
        accommodation) is no family and counts not at all: its unrelated children would
        pull the share down. Each home's pairs are taken away and put back whole, so the
        counts are always those a fresh build would make."""
        if not (p.pc and p.addr and p.dob_full):
            return
        home = (p.pc, p.addr)
        kids = self._homes[home]
        self._tally(kids, -1)
        if sign > 0:
            kids[p.record_id] = p
        else:
            kids.pop(p.record_id, None)
        self._tally(kids, +1)
        if not kids:
            del self._homes[home]

    def _tally(self, kids: dict[str, Prepared], sign: int) -> None:
        if len(kids) > HOUSEHOLD_KEY_MAX:
            return
        group = list(kids.values())
        for i, a in enumerate(group):
            for b in group[:i]:
                if a.dob_code == b.dob_code or set(a.sn_parts).isdisjoint(b.sn_parts):
                    continue  # twins, or not one family
                if len(a.fn) < 2 or len(b.fn) < 2:
                    continue  # no forename, or an initial: could never count as namesakes
                same = _namesakes(a.fn, b.fn)
                self._home_pairs += sign
                self._home_namesakes += sign * same
                for key in {_name_bucket(a.fn), _name_bucket(b.fn)} - {""}:
                    _bump(self._name_pairs, key, sign)
                    if same:
                        _bump(self._name_namesakes, key, sign)

    def _namesake_share(self) -> float:
        """An upper bound (95%, Wilson) on the share of a family's pairs of children (one
        address, a surname part in common, born on different days) who have the same
        forename: how often a brother or sister with no record could bear the held child's
        name (see ``SIBLING_NAMESAKE_SHARE``). 1.0 with no such pairs held."""
        n, k = self._home_pairs, self._home_namesakes
        if n <= 0:
            return 1.0
        z2 = 1.96 ** 2
        p = k / n
        return min(1.0, (p + z2 / (2 * n) + math.sqrt(z2) * math.sqrt(
            p * (1 - p) / n + z2 / (4 * n * n))) / (1 + z2 / n))

    def _name_namesake_share(self, fn: str) -> float:
        """The share of a family's pairs of children in which one is called ``fn`` (in any
        spelling: Muhammad, Mohammed and Mohamed are one name here) whose other child is
        called so too: where some families give every son one name (Muhammad, known by his
        middle name), that name's share is far above the average. Estimated from the pairs
        with that name, smoothed towards the average share as if ``NAMESAKE_PRIOR_PAIRS``
        more pairs had it: a name seen in few pairs is taken at about the average, and one
        shared pair among fewer than about 50 with the name is enough to keep the veto."""
        n, k = self._home_pairs, self._home_namesakes
        average = k / n if n > 0 else 1.0
        key = _name_bucket(fn)
        pairs, same = self._name_pairs.get(key, 0), self._name_namesakes.get(key, 0)
        return (same + NAMESAKE_PRIOR_PAIRS * average) / (pairs + NAMESAKE_PRIOR_PAIRS)

    def _dated(self, q: Prepared, r: Prepared, scored: list[_Scored]) -> bool:
        """True when no held record other than ``r`` could be the child the query (with
        ``r``'s forename but a date of birth two parts away) is about: none whose forename
        the query's could be was scored for the query with a surname that does not
        disagree (a cousin whose address was written differently is found so: by name and
        birth year), or shares a surname part with it and lives at its postcode or address
        (``r``'s or the query's), or was born on the query's date; and none of the family,
        nor any scored record, was born on the query's date whatever its name (the date is
        then that child's, and the query may be about its twin)."""
        index, records = self._index, self._records
        for s in scored:
            if s.record_id != r.record_id and (
                    (s.levels[0] != "disagree" and s.levels[1] != "disagree")
                    or (s.levels[3] == "exact" and (s.levels[1] != "disagree"
                                                    or s.levels[5] in _SAME_HOME))):
                return False
        tokens = surname_tokens(q.sn_parts) | surname_tokens(r.sn_parts)
        ids: set[str] = set()
        for addr, district in {(q.addr, q.district), (r.addr, r.district)}:
            if addr and district:
                ids.update(index.get(("ad", addr, district), ()))
        for pc in {q.pc, r.pc} - {""}:
            for t in tokens:
                ids.update(index.get(("ps", pc, t), ()))
        for addr in {q.addr, r.addr} - {""}:
            ids.update(index.get(("a", addr), ()))
        d = q.dob
        if d is not None and d.is_full:
            for t in tokens:
                ids.update(index.get(("ds", d.year, d.month, d.day, t), ()))
        ids.discard(r.record_id)
        parts = set(q.sn_parts) | set(r.sn_parts)
        for rid in ids:
            o = records[rid]
            if parts.isdisjoint(o.sn_parts) and compare.location(q, o) not in _SAME_HOME:
                continue  # (the address lookup finds every child of the home)
            if o.dob_code == q.dob_code:
                # A child of the family born on the query's very date: the date is no slip
                # but that child's, and the query may be about its twin.
                return False
            if compare.forename(q, o) != "disagree":
                return False  # a child of the home, or a namesake, the query could be
        return True

    def _unseen_share(self) -> float:
        """Good-Turing estimate of the chance that a child's real forename is a spelling
        no held record has: the share of records whose forename no other record has."""
        if self._fn_unseen is None:
            once = sum(1 for n in self._fn_count.values() if n == 1)
            self._fn_unseen = once / max(1, len(self._records))
        return self._fn_unseen

    def _real_name(self, fn: str, own: str) -> bool:
        """Is ``fn`` a real name rather than a damaged spelling of ``own``?

        Real: a spelling some held record has or a nickname list knows (``fn_known``), or
        a spelling of a held forename other than ``own`` (a transliteration variant: the
        same key *and* a like spelling, as ``compare.forename`` reads "phonetic"), or one
        slip from one (a typo of another child's name, e.g. an unrecorded twin's): in the
        last two cases only when that other name explains ``fn`` at least as well as OCR
        or keying damage of ``own`` does (weighted cost, ``compare.damage_distance``: the
        costs stand for how likely each slip is). "Filiot" shares a consonant key with
        Violet but is Elliot misread (two confusions), not a spelling of Violet; "Jofi" is
        Kofi's typo as much as Joel's damage, and stays a real name.
        """
        if len(self._records) < self.config.unseen_forename_records:
            return True  # among few records an unseen spelling may well be a real name
        if fn in self._fn_count or known_name(fn):
            return True
        names = self._fn_names
        if names is None:
            names = self._fn_names = tuple(self._fn_count)
            sounds: dict[str, set[str]] = defaultdict(set)
            for name in names:
                sounds[transliteration_key(name)].add(name)
            self._fn_sounds = sounds
        own_cost = compare.damage_distance(fn, own) if own else math.inf
        # A spelling of a held name (Yousef beside Yusuf) is a real name too.
        for other in self._fn_sounds.get(transliteration_key(fn), set()) - {own}:
            if (compare.sounds_alike(fn, other)
                    and compare.damage_distance(fn, other) <= own_cost):
                return True
        return any(name != own and compare.damage_distance(fn, name) <= own_cost
                   for name, _, _ in extract(fn, names, scorer=DamerauLevenshtein.distance,
                                             score_cutoff=1, limit=None))

    def _lone(self, q: Prepared, r: Prepared) -> bool:
        """True when the query's forename is a damaged spelling (not a real name) and no
        held record other than ``r`` could be the child instead.

        A record could be the child instead when it shares a surname part with the query
        or ``r`` and is a twin (the query's home and date of birth), or its forename fits
        the query's as well as ``r``'s does (does not disagree, or ``r``'s disagrees too)
        and it is a namesake (the query's date of birth) or a brother or sister (the
        query's home, and a date of birth not another child's): one whose name and date
        the query's could be slips of. Only these records are looked at, through the
        blocking index.
        """
        if len(q.fn) < 3 or self._real_name(q.fn, r.fn):
            return False  # (an initial that does not fit is another child's)
        # With no surname given, only at the record's own address and on its birthday:
        # then every child of that home, and every child born that day in the district,
        # could be the child, whatever their surname.
        nameless = not q.sn
        if nameless and not (q.dob_full and q.dob_code == r.dob_code
                             and compare.location(q, r) == "address"):
            return False
        index, records = self._index, self._records
        parts = set(q.sn_parts) | set(r.sn_parts)
        tokens = surname_tokens(q.sn_parts) | surname_tokens(r.sn_parts)
        ids: set[str] = set()
        d = q.dob
        # A date with the day missing on one side (year and month agreeing, "partial") tells
        # twins and siblings apart as well as the whole date does (brothers and sisters are
        # not born in one month), but a namesake elsewhere may be born on any day of it.
        month_only = compare.dob_level(q.dob_code, r.dob_code) == "partial"
        if d is not None and d.is_full and not month_only:
            for t in tokens:
                ids.update(index.get(("ds", d.year, d.month, d.day, t), ()))
            if nameless:
                for district in {q.district, r.district} - {""}:
                    ids.update(index.get(("dp", d.year, d.month, d.day, district), ()))
        elif d is not None and d.month and month_only:
            for day in range(1, 32):
                for t in tokens:
                    ids.update(index.get(("ds", d.year, d.month, day, t), ()))
            # (A namesake held with only the year and month has no day key: the names and
            # the year find it.)
            for f in forename_tokens(q.fn) | forename_tokens(r.fn):
                for t in tokens:
                    ids.update(index.get(("n", t, f, d.year), ()))
        for pc in {q.pc, r.pc} - {""}:
            for t in tokens:
                ids.update(index.get(("ps", pc, t), ()))
        if q.house and q.addr:
            ids.update(index.get(("a", q.addr), ()))
        if nameless:  # the home as the record has it too (the query's may be misspelt)
            for addr in {q.addr, r.addr} - {""}:
                ids.update(index.get(("a", addr), ()))
        ids.discard(r.record_id)
        own_fn = compare.forename(q, r)
        for rid in ids:
            o = records[rid]
            if not nameless and parts.isdisjoint(o.sn_parts):
                continue
            if own_fn != "disagree" and compare.forename(q, o) == "disagree":
                # The query's forename fits this child and not that one, even a twin: no
                # damage the matcher knows leads from the twin's name to the query's.
                continue
            home = compare.location(q, o) in _SAME_HOME
            if home and q.dob_full and o.dob_code == q.dob_code:
                return False  # a twin at the query's home whose name the query's could be
            if q.dob_full and o.dob_code == q.dob_code:
                return False  # a namesake with the surname and birthday
            if month_only and compare.dob_level(q.dob_code, o.dob_code) in ("exact", "partial"):
                return False  # a namesake with the surname, born that month
            if home and compare.dob_level(q.dob_code, o.dob_code) not in _OTHER_CHILD_DOB:
                return False  # a brother or sister
        return True

    def _bands(self, top: list[_Scored], q: Prepared, qs: Prepared | None,
               scored: list[_Scored] | None = None) -> list[str]:
        """The band of each of ``top``; ``scored`` is every record scored for the query
        (``top`` is its head), each of which could be the child instead."""
        cfg = self.config
        bands = []
        for s in top:
            qq = qs if s.swapped and qs is not None else q
            same_name = nickname_equivalent(qq.fn, self._records[s.record_id].fn)
            if s.total >= cfg.match_threshold:
                twin = self._twin(s, q, qs)
                r = self._records[s.record_id]
                sibling_names = s.levels[0] == "nickname" and sibling_forms(qq.fn, r.fn)
                s.rule = _guard(s.levels, twin, same_name, sibling_names=sibling_names)
                # (Names read the other way round are one guess already: not two.)
                if (s.rule and twin != "same" and not s.swapped
                        and s.levels[0] in _EVIDENCE_FORENAME and self._lone(qq, r)):
                    share = cfg.unrecognised_name_share
                    s.rule = _guard(s.levels, twin, same_name, lone=True,
                                    rare_unseen=share > 0 and self._unseen_share() <= share,
                                    far=(cfg.heavy_damage
                                         and compare.far_damaged(qq.fn, r.fn)
                                         and not namelike.looks_like_a_name(qq.fn)))
                # (Only from ``match``, which scored every record that could be the child:
                # ``compare`` looks at one record and cannot know.)
                if (scored is not None and s.rule and twin != "same" and not s.swapped
                        and s.levels[0] == "exact" and s.levels[3] in ("year", "disagree")
                        and s.levels[1] in _LONE_SURNAME and s.levels[2] != "disagree"
                        and s.levels[4] == "agree" and s.levels[5] == "address"
                        and compare.dob_parts_differ(qq.dob_code, r.dob_code) == 2
                        and cfg.sibling_namesake_share > 0
                        and self._namesake_share() <= cfg.sibling_namesake_share
                        and self._name_namesake_share(r.fn) <= cfg.sibling_namesake_share
                        and self._dated(qq, r, scored)):
                    s.rule = _guard(s.levels, twin, same_name, dated=True)
                    if not s.rule:
                        s.lifted = (
                            "dates of birth differ in two parts, but nobody else on file "
                            "could be the child and brothers and sisters here seldom share "
                            f"a forename ({self._home_namesakes} of {self._home_pairs} "
                            "pairs of children at one home): the score decides")
                bands.append(POSSIBLE if s.rule else MATCH)
            else:
                s.rule = _guard(s.levels, "", same_name)
                bands.append(POSSIBLE if s.total >= cfg.possible_threshold else NO_MATCH)
            r = self._records[s.record_id]
            if q.nhs and r.nhs and q.nhs != r.nhs and bands[-1] == MATCH:
                # NHS numbers are one per person: two valid, different ones are two people
                bands[-1] = POSSIBLE
                s.rule = "both have valid NHS numbers and they differ: at most a possible match"
        # Two candidates in the match band too close to call (e.g. twins with a forename
        # missing from the query): the matcher does not guess, both become "possible".
        if len(top) > 1 and bands[0] == MATCH and bands[1] == MATCH and (
            top[0].total - top[1].total < cfg.ambiguity_margin
        ):
            for i, s in enumerate(top):
                if bands[i] == MATCH and top[0].total - s.total < cfg.ambiguity_margin:
                    bands[i] = POSSIBLE
                    s.rule = "another record scores almost as high: review needed"
        return bands

    def _candidate(self, s: _Scored, band: str, explain: bool = True) -> Candidate:
        if not explain:
            return Candidate(s.record_id, round(s.total, 2), band)
        weights = [self._w[i][lv] for i, lv in enumerate(s.levels)]
        r = self._records[s.record_id]
        if self.config.tf_adjust and s.levels[0] == "exact":
            weights[0] = self._fn_tf(r.fn)
        if self.config.tf_adjust and s.levels[1] == "exact":
            weights[1] = self._sn_tf(r.sn)
        expl = {f: describe(f, lv, wt) for f, lv, wt in zip(FIELDS, s.levels, weights,
                                                            strict=True)}
        cap = self.config.household_cap
        if s.household > cap:
            expl["household"] = (
                f"surname and location weights capped at {cap:+.1f} because siblings share them"
            )
        if s.swapped:
            expl["names"] = (
                f"forename and surname read the other way round (-{self.config.swap_penalty:.1f})"
            )
        n = max(len(self._records), self.config.prior_records_floor)
        expl["prior"] = f"one record among {n} could be the child ({self._prior():+.1f})"
        if s.rule:
            expl["band_rule"] = s.rule
        elif s.lifted:
            expl["band_rule_lifted"] = s.lifted
        return Candidate(s.record_id, round(s.total, 2), band, expl)
