"""Blocking keys: which records are worth scoring for a query.

Every record is filed under several keys; a query looks up its own keys (plus variants for
transposed dates and swapped names) and only the records found are scored. The keys are
chosen so that each survives the errors that break the others:

* date of birth + forename sound, + surname sound, + postcode district, or + both
  initials: survive a changed surname, a move, a typo in one name or in both (initials),
  a swap of forename and surname;
* surname sound + forename sound + birth year: survives a wrong day/month, a partial date
  of birth and a move;
* surname sound + forename sound + day and month: survives a slip in the birth year;
* postcode + forename sound, postcode + surname sound: survive a wrong date of birth
  together with a changed surname or a forename typo;
* the normalised address: survives a missing or mistyped postcode together with a wrong
  date of birth or a changed surname, or damage in both names together with a slip in
  the date of birth (a household, so a handful of records; an address held by more than
  ``HOUSEHOLD_KEY_MAX`` records is no key).

The first keys lean on the date of birth and the postcode. A query lacking a full date of
birth or a postcode, whose first look-up placed no record in the ``match`` band, gets a
second, wider look-up (``fallback_keys``): every record with the same name sounds whatever
its date of birth, every record at the same address whatever its postcode (e.g. a
missing date of birth after a move, or a missing postcode with a wrong date of birth).
(Birth year + one name's sound + the other's initial was tried for a partial date with a
typo in one name: it found about one more child in 8,000 enquiries for 15 more records
scored per enquiry it was used for, so it is not used.)
Wider keys for every unplaced query (e.g. all records born that day) found a few more
children but cost more than half the batch speed, so they are not used as such; the
children born that day are looked up (``damaged_keys``) only for an unplaced query whose
forename or surname is a spelling no record holds, as damage to both names leaves.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway.matching.compare import Prepared
from gateway.matching.names import nickname_keys, phonetic
from gateway.matching.normalise import PartialDate

Key = tuple[Any, ...]
# An address key finds a household: a handful of children. More records than this at one
# address (a hostel, a hotel used as temporary accommodation) make it no key, or every
# enquiry there would score them all.
HOUSEHOLD_KEY_MAX = 40


@lru_cache(maxsize=65536)
def forename_tokens(fn: str) -> frozenset[str]:
    """Two leading metaphone characters of every formal form of the forename.

    Tolerant of typos late in the name and of nicknames (Bill -> William -> "WL").
    """
    if not fn:
        return frozenset()
    return frozenset(phonetic(k)[:2] or k[:2] for k in nickname_keys(fn))


@lru_cache(maxsize=65536)
def surname_tokens(parts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(phonetic(p)[:3] or p[:3] for p in parts)


def _dob_keys(d: PartialDate, fn_toks: frozenset[str], sn_toks: frozenset[str],
              district: str, initials: str) -> list[Key]:
    ymd = (d.year, d.month, d.day)
    keys: list[Key] = [("df", *ymd, t) for t in fn_toks]
    keys.extend(("ds", *ymd, t) for t in sn_toks)
    if district:
        keys.append(("dp", *ymd, district))
    if initials:
        keys.append(("di", *ymd, initials))
    return keys


def _initials(fn: str, sn: str) -> str:
    """Forename and surname initials: survive typos in both names together with a move."""
    return fn[:1] + sn[:1] if fn and sn else ""


def record_keys(p: Prepared) -> list[Key]:
    """The keys a record is filed under."""
    fn_toks = forename_tokens(p.fn)
    sn_toks = surname_tokens(p.sn_parts)
    keys: list[Key] = []
    d = p.dob
    if d is not None:
        if d.is_full:
            keys.extend(_dob_keys(d, fn_toks, sn_toks, p.district, _initials(p.fn, p.sn)))
        keys.extend(("n", s, f, d.year) for s in sn_toks for f in fn_toks)
        if d.is_full:  # names + birthday: survives a slip in the year
            keys.extend(("b", s, f, d.month, d.day) for s in sn_toks for f in fn_toks)
    if p.pc:
        keys.extend(("pf", p.pc, t) for t in fn_toks)
        keys.extend(("ps", p.pc, t) for t in sn_toks)
    if p.house and p.addr:
        keys.append(("a", p.addr))
        if p.district:  # the household: its address within its postcode district
            keys.append(("ad", p.addr, p.district))
    # Wide keys, looked up only by fallback_keys.
    keys.extend(("nm", s, f) for s in sn_toks for f in fn_toks)
    keys.extend(("u", u) for u in p.upns)
    if p.nhs:
        keys.append(("h", p.nhs))
    if d is not None and d.is_full:  # born that day, looked up only by damaged_keys
        keys.append(("d", d.year, d.month, d.day, p.sex))
    return keys


def query_keys(q: Prepared) -> list[Key]:
    """The keys to look up first for a query (never the UPN: that is handled first).

    For a query with a full date of birth the names + birth year and postcode + name keys
    wait for the second look-up (``deferred_keys``): they mostly find other children
    (same-named children born that year, brothers and sisters at home), and only the
    children the other keys miss need them.
    """
    fn_toks, sn_toks, sw_fn, sw_sn = _query_tokens(q)
    keys: list[Key] = []
    d = q.dob
    if d is not None:
        dates = [d]
        if d.is_full and d.day is not None and d.day <= 12 and d.day != d.month:
            dates.append(PartialDate(d.year, d.day, d.month))  # day and month transposed
        if d.is_full:
            for dd in dates:
                keys.extend(_dob_keys(dd, fn_toks | sw_fn, sn_toks | sw_sn, q.district,
                                      _initials(q.fn, q.sn)))
                if q.fn and q.sn:  # initials the other way round
                    keys.append(("di", dd.year, dd.month, dd.day, _initials(q.sn, q.fn)))
        if d.is_full:
            keys.extend(("b", s, f, d.month, d.day) for s in sn_toks for f in fn_toks)
        else:
            keys.extend(_name_year_keys(d.year, fn_toks, sn_toks, sw_fn, sw_sn))
    if q.pc and (d is None or not d.is_full):
        keys.extend(("pf", q.pc, t) for t in fn_toks | sw_fn)
        keys.extend(("ps", q.pc, t) for t in sn_toks | sw_sn)
    return keys


def _query_tokens(
    q: Prepared,
) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """Forename and surname tokens, and the same read the other way round."""
    sw_fn = forename_tokens(q.sn_parts[0]) if q.sn_parts else frozenset()
    sw_sn = surname_tokens((q.fn,)) if q.fn else frozenset()
    return forename_tokens(q.fn), surname_tokens(q.sn_parts), sw_fn, sw_sn


def _name_year_keys(year: int, fn_toks: frozenset[str], sn_toks: frozenset[str],
                    sw_fn: frozenset[str], sw_sn: frozenset[str]) -> list[Key]:
    keys: list[Key] = [("n", s, f, year) for s in sn_toks for f in fn_toks]
    keys.extend(("n", s, f, year) for s in sw_sn for f in sw_fn)
    return keys


def deferred_keys(q: Prepared) -> list[Key]:
    """The keys ``query_keys`` leaves to the second look-up for a full date of birth."""
    d = q.dob
    if d is None or not d.is_full:
        return []
    fn_toks, sn_toks, sw_fn, sw_sn = _query_tokens(q)
    keys = _name_year_keys(d.year, fn_toks, sn_toks, sw_fn, sw_sn)
    if q.pc:
        keys.extend(("pf", q.pc, t) for t in fn_toks | sw_fn)
        keys.extend(("ps", q.pc, t) for t in sn_toks | sw_sn)
    return keys + household_keys(q)


def household_keys(q: Prepared) -> list[Key]:
    """The query's home: a child there whose names are both damaged past their sound keys
    and whose date of birth has a slip ("Lovie Tavldv" for Louie Taylor, born a year later
    by the form) shares no other key. Looked up on the second pass for every query with a
    full date of birth, even one already placed (``Matcher.match``), so the second pass's
    bound never has to cover a record at the query's home. An address held by more than
    ``HOUSEHOLD_KEY_MAX`` records (a hostel, a hotel used as temporary accommodation) is
    no key at all. With a postcode, the home is the address within the postcode district
    (a record there born on the query's day shares the first key of date and district).
    """
    if not (q.house and q.addr):
        return []
    # "1 Park Place" is a house in many towns: within the postcode district it is one home.
    # Without a postcode, the address alone (bounded by HOUSEHOLD_KEY_MAX).
    return [("ad", q.addr, q.district)] if q.district else [("a", q.addr)]


def fallback_keys(q: Prepared) -> list[Key]:
    """Wider keys for a query that the first look-up could not place."""
    keys: list[Key] = []
    fn_toks = forename_tokens(q.fn)
    sn_toks = surname_tokens(q.sn_parts)
    keys.extend(("nm", s, f) for s in sn_toks for f in fn_toks)
    if q.house and q.addr:
        keys.append(("a", q.addr))
    return keys


def damaged_keys(q: Prepared) -> list[Key]:
    """Every child of the query's sex born on the query's date of birth (any sex if the
    query gives none): for a query that nothing placed and whose names are spellings no
    record holds. Damage in the first letters of both names (OCR: "Wjamtn" for Benjamin)
    breaks every sound and initials key, and a move breaks the postcode and address ones;
    the date of birth, given whole, is left. A few children per day in an authority.
    """
    d = q.dob
    if d is None or not d.is_full:
        return []
    sexes = (q.sex, "") if q.sex else ("F", "M", "")
    return [("d", d.year, d.month, d.day, s) for s in sexes]
