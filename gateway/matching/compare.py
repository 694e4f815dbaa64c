"""Field comparisons: each returns the comparison level used for Fellegi-Sunter weights.

Similarity comes from rapidfuzz (Jaro-Winkler, Damerau-Levenshtein, token sort ratio) and
phonetic keys from jellyfish (metaphone); nothing here measures strings itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.fuzz import token_sort_ratio
from rapidfuzz.process import extractOne

from gateway.matching import normalise as nz
from gateway.matching.names import (
    VOWELS,
    nickname_forms,
    nickname_keys,
    phonetic,
    transliteration_key,
)
from gateway.matching.normalise import PartialDate
from gateway.matching.records import Record

MISSING = "missing"
# Jaro-Winkler cut-offs: "close" is a typo or OCR slip, "similar" a looser resemblance.
CLOSE_JW = 0.92
SIMILAR_JW = 0.80
# A single edit counts as "close" only in names long enough that one edit rarely turns one
# real name into another (Ava/Eva, Leo/Lea are different children).
MIN_LEN_FOR_ONE_EDIT = 5
# A transliteration key of one consonant (Aisha/Ayesha give "X") is only trusted in names
# at least this long: short names with one consonant are too often different names that
# differ in their vowels (Evie/Ivy, Leo/Lea, Ali/Eli).
MIN_LEN_FOR_ONE_CONSONANT_KEY = 5
# A surname cut short ("Whitfi" for Whitfield) keeps at least this many letters.
MIN_TRUNCATED = 5
# Spelling similarity a transliteration variant needs besides an equal key: Aisha/Ayesha
# are 0.84, Aishah/Ayesha 0.80; Amara/Umar (0.78), Emilia/Amelia (0.76) and Omar/Amir
# (0.67), different names, stay out (so, at this cut, does Ebrahim/Ibraheem at 0.78).
TRANSLITERATION_JW = 0.79


@dataclass(slots=True)
class Prepared:
    """A record with every normalised value and key the comparisons need, computed once."""

    record_id: str
    fn: str
    mids: tuple[str, ...]
    sn: str
    sn_parts: tuple[str, ...]
    dob: PartialDate | None
    dob_code: int  # see dob_code(); 0 if no date of birth
    dob_full: bool  # day, month and year all given
    sex: str
    pc: str
    sector: str
    district: str
    addr: str
    house: str
    upns: frozenset[str]
    upn: str
    nhs: str = ""  # a valid NHS number, or ""
    # Is the forename a spelling some held record has? The matcher clears this for a query
    # whose forename no record has (see ``MatchConfig.unseen_forename_records``): such a
    # spelling a slip or so away from a record's forename is read as a typo of it, not as
    # another child's name. Records, and queries against small record sets, keep True.
    fn_known: bool = True
    # The same for the surname: a surname no held record has may be damage of a held one
    # ("Obmebod" for Ormerod); two held surnames are two families, never damage of each
    # other (Wilson is not Nelson misread).
    sn_known: bool = True

    @classmethod
    def from_record(cls, rec: Record) -> Prepared:
        fparts = nz.name_parts(rec.forename, True)
        fn = fparts[0] if fparts else ""
        mids = fparts[1:] + nz.name_parts(rec.middle_names, True)
        sn_parts = nz.name_parts(rec.surname)
        sn = "".join(sn_parts)
        pc = nz.postcode(rec.postcode)
        addr = nz.address(rec.address)
        house = next((w for w in addr.split() if any(c.isdigit() for c in w)), "")
        main_upn = nz.upn(rec.upn)
        upns = frozenset(u for u in (main_upn, nz.upn(rec.former_upn)) if u)
        return cls(
            record_id=rec.record_id,
            fn=fn,
            mids=mids,
            sn=sn,
            sn_parts=sn_parts,
            dob=rec.dob,
            dob_code=dob_code(rec.dob),
            dob_full=rec.dob is not None and rec.dob.is_full,
            sex=nz.sex(rec.sex),
            pc=pc,
            sector=nz.postcode_sector(pc),
            district=nz.postcode_district(pc),
            addr=addr,
            house=house,
            upns=upns,
            upn=main_upn,
            nhs=nz.nhs_number(rec.nhs_number),
        )

    def swapped(self) -> Prepared:
        """The same record with forename and surname read the other way round."""
        fn = self.sn_parts[0] if self.sn_parts else ""
        sn_parts = (self.fn,) if self.fn else ()
        return Prepared(
            record_id=self.record_id, fn=fn, mids=self.mids, sn=self.fn, sn_parts=sn_parts,
            dob=self.dob, dob_code=self.dob_code, dob_full=self.dob_full,
            sex=self.sex, pc=self.pc, sector=self.sector, district=self.district,
            addr=self.addr, house=self.house, upns=self.upns, upn=self.upn, nhs=self.nhs,
        )


# Letter groups that OCR and hurried typing confuse ("Srnith" for Smith).
_OCR_FOLDS = (("RN", "M"), ("CL", "D"), ("VV", "W"), ("LI", "H"))


@lru_cache(maxsize=65536)
def _ocr_fold(s: str) -> str:
    for a, b in _OCR_FOLDS:
        s = s.replace(a, b)
    return s


# -- damage-aware edit distance ---------------------------------------------------------
#
# rapidfuzz's Levenshtein takes one cost per kind of edit (insert, delete, substitute), not
# per pair of letters, and jellyfish has no weighted distance at all; OCR and keying damage
# is a matter of *which* letters (N read as W, L as C), so the small dynamic programme
# below weights each substitution by the pair. It runs only on name pairs no cheaper test
# has settled, and its result is cached per pair of spellings (``_damage_pair``).

# Letter pairs that scanners and hurried hands confuse (the census-style errors:
# N/W, L/C/I, R/B, V/R, A/R, E/F, M/H, D/O; and the classic OCR pairs U/V, O/Q, C/E, C/G,
# H/B, A/O, I/J, H/N, M/N).
OCR_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (p[0], p[1]) for p in ("NW", "LC", "LI", "CI", "RB", "VR", "AR", "EF", "MH", "DO", "UV",
                           "OQ", "CE", "CG", "HB", "AO", "IJ", "HN", "MN"))
_KEY_ROWS = ("QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")
OCR_COST = 0.35  # one OCR confusion
KEY_COST = 0.5  # a neighbouring key on a QWERTY keyboard
VOWEL_COST = 0.6  # one vowel for another (a spelling slip)
DOUBLE_COST = 0.3  # a letter doubled or a double letter dropped (Hanah, Willlow)
SWAP_COST = 0.5  # two neighbouring letters swapped
_SUB_COST: dict[tuple[str, str], float] = {}
for _row in _KEY_ROWS:
    for _x, _y in zip(_row, _row[1:], strict=False):
        _SUB_COST[_x, _y] = _SUB_COST[_y, _x] = KEY_COST
for _x in VOWELS | {"Y"}:
    for _y in VOWELS | {"Y"}:
        if _x != _y:
            _SUB_COST[_x, _y] = min(_SUB_COST.get((_x, _y), 1.0), VOWEL_COST)
for _x, _y in OCR_PAIRS:
    _SUB_COST[_x, _y] = _SUB_COST[_y, _x] = OCR_COST
# Damage explains a pair of spellings when its weighted cost is at most this share of the
# longer spelling (HRWWRH for HANNAH: four OCR confusions, 1.4 of 6 letters), at least
# DAMAGE_MIN (one arbitrary letter and one confusion: MRVA for MAYA), never more than
# DAMAGE_MAX, and with few edits of full cost (arbitrary letters; see ``damaged``).
DAMAGE_SHARE = 0.3
DAMAGE_MIN = 1.4
DAMAGE_MAX = 2.4


def _indel_cost(s: str, i: int) -> float:
    """Cost of inserting or deleting ``s[i]``: cheap next to the same letter (doubling)."""
    c = s[i]
    if (i > 0 and s[i - 1] == c) or (i + 1 < len(s) and s[i + 1] == c):
        return DOUBLE_COST
    return 1.0


@lru_cache(maxsize=1 << 16)
def damage_distance(a: str, b: str) -> float:
    """Weighted Damerau-Levenshtein distance with OCR and keying costs.

    Written out here (see above for why no library does): one row of floats at a time,
    the substitution cost looked up per pair of letters.
    """
    la, lb = len(a), len(b)
    if not la or not lb:
        return float(la + lb)
    sub = _SUB_COST
    ia = [_indel_cost(a, i) for i in range(la)]
    ib = [_indel_cost(b, j) for j in range(lb)]
    prev = [0.0] * (lb + 1)
    for j in range(lb):
        prev[j + 1] = prev[j] + ib[j]
    prev2 = prev
    for i in range(1, la + 1):
        x, ca = a[i - 1], ia[i - 1]
        cur = [prev[0] + ca]
        for j in range(1, lb + 1):
            y = b[j - 1]
            best = prev[j - 1] if x == y else prev[j - 1] + sub.get((x, y), 1.0)
            v = prev[j] + ca
            if v < best:
                best = v
            v = cur[j - 1] + ib[j - 1]
            if v < best:
                best = v
            if i > 1 and j > 1 and x != y and x == b[j - 2] and a[i - 2] == y:
                v = prev2[j - 2] + SWAP_COST
                if v < best:
                    best = v
            cur.append(best)
        prev2, prev = prev, cur
    return prev[lb]


def damaged(a: str, b: str) -> bool:
    """Can OCR or keying damage explain ``a`` as ``b`` (or the reverse)?

    Explained: a weighted cost of at most ``DAMAGE_SHARE`` of the longer spelling, at
    least ``DAMAGE_MIN`` (one arbitrary letter and one confusion) and at most
    ``DAMAGE_MAX``: so one edit of full cost at most in names of up to six letters, two
    in longer ones. Letter groups read as one ("rn" for "m") are also tried folded, with
    confusions alone (cost under 1) left.
    """
    if not a or not b or abs(len(a) - len(b)) > 2 or min(len(a), len(b)) < 3:
        return False
    budget = min(DAMAGE_MAX, max(DAMAGE_MIN, DAMAGE_SHARE * max(len(a), len(b))))
    if damage_distance(a, b) <= budget:
        return True
    # Folded, only confusions may be left (Amira is not Amelia read as "Ameha").
    fa, fb = _ocr_fold(a), _ocr_fold(b)
    return (fa, fb) != (a, b) and damage_distance(fa, fb) < min(1.0, budget)


# Damage heavier than ``damaged`` accepts and still more than chance: one arbitrary
# letter and a confusion (OCR, keying, vowel, doubling) in about every other letter
# ("Wawiv" for Nancy: three OCR confusions and one arbitrary letter, 2.05 in 5 letters).
# In short names this is near chance: of pairs of different names, 28% are this near at
# three letters, 12% at four, 8% at five and 2% at six; so only a record's name of six
# letters or more (``FAR_MIN_LETTERS``) is looked for, at a cost of 2.5 in six letters,
# 3.0 in seven or eight. Two real names are often this near (Hanif and Hannah, 1.9), so the
# matcher weighs it only for a spelling that is not shaped like a name at all
# (``namelike``), where nothing else could explain the query, and only when asked
# (``MatchConfig.heavy_damage``; see ``matcher._guard``).
FAR_ARBITRARY = 1.0
FAR_CONFUSION_PER_TWO_LETTERS = 0.5
FAR_MIN_LETTERS = 6


def far_damaged(a: str, b: str) -> bool:
    """Can heavy OCR or keying damage explain the spelling ``a`` as the name ``b``: at most
    one arbitrary edit and about one confusion in two letters (weighted
    ``damage_distance``)? Only names ``b`` of ``FAR_MIN_LETTERS`` or more, and spellings
    within two letters of their length."""
    if len(b) < FAR_MIN_LETTERS or abs(len(a) - len(b)) > 2:
        return False
    halves = (max(len(a), len(b)) + 1) // 2
    return damage_distance(a, b) <= FAR_ARBITRARY + FAR_CONFUSION_PER_TWO_LETTERS * halves


def sounds_alike(a: str, b: str) -> bool:
    """Do two spellings sound alike (``_sounds_alike`` with their Jaro-Winkler similarity)?"""
    return _sounds_alike(a, b, JaroWinkler.similarity(a, b))


def _close(a: str, b: str, jw: float) -> bool:
    if jw >= CLOSE_JW:
        return True
    if _ocr_fold(a) == _ocr_fold(b):
        return True
    return min(len(a), len(b)) >= MIN_LEN_FOR_ONE_EDIT and DamerauLevenshtein.distance(a, b) <= 1


def _sounds_alike(a: str, b: str, jw: float) -> bool:
    """Same metaphone key, or a transliteration variant (Omar/Umar, Aisha/Ayesha).

    The transliteration keys (``names.transliteration_key``) are compared without their
    leading vowel only when both start with one (Omar/Umar, not Maria/Omar), and only
    together with a similar spelling overall: Omar and Amir share ``MR`` but not the
    spelling (JW 0.67).
    """
    if phonetic(a) == phonetic(b):
        return True
    key_a, key_b = transliteration_key(a), transliteration_key(b)
    if jw < TRANSLITERATION_JW or not key_a or not key_b:
        return False
    if key_a[0] in VOWELS and key_b[0] in VOWELS:
        key_a, key_b = key_a[1:], key_b[1:]
    if key_a != key_b or not key_a:
        return False
    return len(key_a) >= 2 or min(len(a), len(b)) >= MIN_LEN_FOR_ONE_CONSONANT_KEY


# Pairs of names recur constantly (every Oliver is compared with every Olivia born the same
# day), so the level of a pair of spellings is computed once. The caches are bounded; a
# pair's level depends only on the two spellings (and whether each is a known spelling).
_PAIR_CACHE = 1 << 16


def forename(q: Prepared, r: Prepared, deep: bool = True) -> str:
    """The forename level. ``deep=False`` skips the search for OCR or keying damage
    ("garbled"), which the matcher only makes where the date of birth is near enough for
    it to matter (``matcher.levels_of``)."""
    a, b = q.fn, r.fn
    if not a or not b:
        return MISSING
    if a == b:
        return "exact"
    # A two-part forename written as one word (Anne-Marie or "Anne Marie" as Annemarie, John
    # Paul as Johnpaul): the same name. (Only the first two parts: the forename's own.)
    if (r.mids and a == b + r.mids[0]) or (q.mids and b == a + q.mids[0]):
        return "exact"
    level, weak = _forename_pair(a, b, q.fn_known, r.fn_known)
    # The middle-name check outranks only the weak levels.
    if weak and (a in r.mids or b in q.mids):
        return "middle"
    # A spelling no held record has that OCR or keying damage explains ("Hrwwrh" for
    # Hannah, "Niccow" for Willow) is the record's name, damaged: not strong enough to
    # tell twins apart, and capped when another held record could be the child (see
    # ``matcher._guard``). Two real names are never read as damage of each other.
    if (deep and level in ("similar", "disagree") and not (q.fn_known and r.fn_known)
            and damaged(a, b)):
        return "garbled"
    return level


def clear_pair_caches() -> None:
    """Forget every cached pair level (benchmarks use this to time a cold start)."""
    for cached in (_forename_pair, _surname_pair, _ocr_fold, damage_distance):
        cached.cache_clear()


@lru_cache(maxsize=_PAIR_CACHE)
def _forename_pair(a: str, b: str, a_known: bool, b_known: bool) -> tuple[str, bool]:
    """The level of two different forename spellings, and whether it is a weak level
    (one that a forename equal to the other side's middle name outranks)."""
    if not nickname_keys(a).isdisjoint(nickname_keys(b)):
        return "nickname", False
    if len(a) == 1 or len(b) == 1:
        return ("initial" if a[0] == b[0] else "disagree"), False
    jw = JaroWinkler.similarity(a, b)
    if _close(a, b, jw):
        return "close", False
    if _sounds_alike(a, b, jw):
        return "phonetic", False
    # A nickname with a typo ("Abbby" for Abby, i.e. Abigail).
    if _near_form(a, nickname_forms(b), a_known) or _near_form(b, nickname_forms(a), b_known):
        return "nickname", False
    # Two known spellings this alike are only "similar": too many real names are one edit
    # apart (Ava/Eva, Leo/Lea) for that to be strong evidence. A spelling no held record
    # has is a typo ("Mla", "Aav" for Mia, Ava) if it is one slip away, or two slips in a
    # name of five letters or more with the same first letter (slips seldom hit the first
    # letter). Anything looser may be a real name no record happens to have: Mariam
    # beside Amira (JW 0.81), Amira beside Amelia, Isla beside Isabella.
    edits = DamerauLevenshtein.distance(a, b, score_cutoff=2)
    if jw >= SIMILAR_JW or edits <= 1:
        typo = not (a_known and b_known) and (
            edits <= 1 or (edits == 2 and a[0] == b[0] and min(len(a), len(b)) >= 5))
        return ("close" if typo else "similar"), True
    return "disagree", True


def _near_form(name: str, forms: tuple[str, ...], known: bool = True) -> bool:
    """Is ``name`` a typo of one of ``forms`` (the other forename's nicknames)?

    A spelling no held record has ("Ollic") may also be one slip from a form (Ollie, for
    Olivia), as for ``forename``'s own unseen-spelling rule.
    """
    if not forms or len(name) < 3:
        return False
    if extractOne(name, forms, scorer=JaroWinkler.similarity, score_cutoff=CLOSE_JW):
        return True
    return not known and extractOne(
        name, forms, scorer=DamerauLevenshtein.distance, score_cutoff=1
    ) is not None


def surname(q: Prepared, r: Prepared, deep: bool = True) -> str:
    """The surname level; ``deep=False`` skips the search for OCR or keying damage."""
    a, b = q.sn, r.sn
    if not a or not b:
        return MISSING
    if a == b:
        return "exact"
    if (len(q.sn_parts) > 1 or len(r.sn_parts) > 1) and not set(q.sn_parts).isdisjoint(
        r.sn_parts
    ):
        return "part"
    # A surname cut short by a field too narrow for it ("Whitfi" for Whitfield): the
    # shorter is the start of the longer and keeps most of it.
    short, long_ = sorted((a, b), key=len)
    if len(short) >= MIN_TRUNCATED and long_.startswith(short) and len(long_) - len(short) >= 2:
        return "part"
    level = _surname_pair(a, b)
    # Siblings share a surname, so damage in it is a typo like any other.
    if (deep and level in ("similar", "disagree") and not (q.sn_known and r.sn_known)
            and damaged(a, b)):
        return "close"
    return level


@lru_cache(maxsize=_PAIR_CACHE)
def _surname_pair(a: str, b: str) -> str:
    jw = JaroWinkler.similarity(a, b)
    if _close(a, b, jw):
        return "close"
    if _sounds_alike(a, b, jw):
        return "phonetic"
    if jw >= SIMILAR_JW:
        return "similar"
    return "disagree"


def dob_code(d: PartialDate | None) -> int:
    """A date of birth as the integer YYYYMMDD (00 for a missing month or day); 0 if none."""
    return 0 if d is None else d.year * 10000 + (d.month or 0) * 100 + (d.day or 0)


def dob_level(a: int, b: int) -> str:
    """The level of two dates of birth given as ``dob_code`` integers."""
    if not a or not b:
        return MISSING
    ay, am, ad = a // 10000, a // 100 % 100, a % 100
    by, bm, bd = b // 10000, b // 100 % 100, b % 100
    if am and ad and bm and bd:
        if a == b:
            return "exact"
        if ay == by and am == bd and ad == bm:
            return "transposed"
        # The same birthday two or more years apart is another child (brothers and sisters
        # can share a birthday), even when the years differ in one digit (2015/2017).
        if am == bm and ad == bd and abs(ay - by) >= 2:
            return "disagree"
        # One keying slip in the written date: a digit mistyped (2016 for 2017, 08 for 18)
        # or two neighbouring digits swapped. Much rarer between different children than
        # "one part differs" in general (siblings seldom share a birthday a year apart).
        if DamerauLevenshtein.distance(f"{a:08d}", f"{b:08d}") <= 1:
            return "slip"
        diffs = (ay != by) + (am != bm) + (ad != bd)
        # One part off by one (the 19th for the 20th, September for October): a slip of
        # the hand or of counting, however many digits it changes.
        if diffs == 1 and abs(ay - by) + abs(am - bm) + abs(ad - bd) == 1:
            return "slip"
        if diffs == 1:
            return "one_part"
        return "year" if ay == by else "disagree"
    if ay != by:
        return "disagree"
    if not am or not bm:
        return "partial_year"
    if am == bm:
        return "partial"
    return "year"


def dob_parts_differ(a: int, b: int) -> int:
    """How many of day, month and year differ between two full dates of birth given as
    ``dob_code`` integers (0 when either is missing or partial)."""
    if not (a % 100 and a // 100 % 100 and b % 100 and b // 100 % 100):
        return 0
    return (a // 10000 != b // 10000) + (a // 100 % 100 != b // 100 % 100) + (
        a % 100 != b % 100)


def location(q: Prepared, r: Prepared) -> str:
    """Postcode and address together: they are one piece of evidence, not two.

    A shared postcode with a different house number is a neighbour, which is much weaker
    evidence than a shared home.
    """
    if q.pc and r.pc:
        if q.pc == r.pc:
            same_addr = _same_address(q, r)
            if same_addr is None:
                return "postcode"
            return "address" if same_addr else "neighbour"
        if q.sector == r.sector and _same_address(q, r):
            return "address"  # a slip in the postcode's last letters
        if q.sector and q.sector == r.sector:
            return "sector"
        if q.district and q.district == r.district:
            return "district"
        return "disagree"
    same_addr = _same_address(q, r)
    if same_addr is None:
        return MISSING
    return "address" if same_addr else "disagree"


def _same_address(q: Prepared, r: Prepared) -> bool | None:
    """True/False when both addresses are given, None otherwise."""
    if not q.addr or not r.addr:
        return None
    # Neighbours share a street: different house numbers are different addresses however
    # similar the rest of the text is.
    if q.house and r.house and q.house != r.house:
        return False
    return token_sort_ratio(q.addr, r.addr) >= 85


def middle_names(q: Prepared, r: Prepared) -> str:
    if not q.mids or not r.mids:
        return MISSING
    if not set(q.mids).isdisjoint(r.mids):
        return "agree"
    if JaroWinkler.similarity(q.mids[0], r.mids[0]) >= CLOSE_JW:
        return "agree"
    a, b = q.mids[0], r.mids[0]
    if (min(len(a), len(b)) == 1 and a[0] == b[0]) or phonetic(a) == phonetic(b):
        return MISSING  # an initial, or the name spelt another way: no evidence either way
    return "disagree"


def upn(q: Prepared, r: Prepared) -> str:
    """Only disagreement is informative here: agreement is decisive and handled earlier.

    A temporary UPN (final character a letter) is issued until the permanent one is known,
    so a temporary UPN that differs from a permanent one says nothing either way.
    """
    if not q.upn or not r.upns or q.upn in r.upns or r.upn in q.upns:
        return MISSING
    if _temporary(q.upn) or not r.upn or _temporary(r.upn):
        return MISSING
    return "disagree"


def _temporary(upn: str) -> bool:
    return upn[-1:].isalpha()
