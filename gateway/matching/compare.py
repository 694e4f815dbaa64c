"""Field comparisons: each returns the comparison level used for Fellegi-Sunter weights.

Similarity comes from rapidfuzz (Jaro-Winkler, Damerau-Levenshtein, token sort ratio) and
phonetic keys from jellyfish (metaphone); nothing here measures strings itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.fuzz import token_sort_ratio
from rapidfuzz.process import extractOne

from gateway.matching import normalise as nz
from gateway.matching.names import nickname_forms, nickname_keys, phonetic
from gateway.matching.normalise import PartialDate
from gateway.matching.records import Record

MISSING = "missing"
# Jaro-Winkler cut-offs: "close" is a typo or OCR slip, "similar" a looser resemblance.
CLOSE_JW = 0.92
SIMILAR_JW = 0.80
# A single edit counts as "close" only in names long enough that one edit rarely turns one
# real name into another (Ava/Eva, Leo/Lea are different children).
MIN_LEN_FOR_ONE_EDIT = 5


@dataclass(slots=True)
class Prepared:
    """A record with every normalised value and key the comparisons need, computed once."""

    record_id: str
    fn: str
    fn_keys: frozenset[str]
    fn_meta: str
    fn_forms: tuple[str, ...]
    mids: tuple[str, ...]
    sn: str
    sn_parts: tuple[str, ...]
    sn_meta: str
    dob: PartialDate | None
    sex: str
    pc: str
    sector: str
    district: str
    addr: str
    house: str
    upns: frozenset[str]
    upn: str
    # Is the forename a spelling some held record has? The matcher clears this for a query
    # whose forename no record has (see ``MatchConfig.unseen_forename_records``): such a
    # spelling a slip or so away from a record's forename is read as a typo of it, not as
    # another child's name. Records, and queries against small record sets, keep True.
    fn_known: bool = True

    @classmethod
    def from_record(cls, rec: Record) -> Prepared:
        fparts = nz.name_parts(rec.forename)
        fn = fparts[0] if fparts else ""
        mids = fparts[1:] + nz.name_parts(rec.middle_names)
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
            fn_keys=nickname_keys(fn),
            fn_meta=phonetic(fn),
            fn_forms=nickname_forms(fn),
            mids=mids,
            sn=sn,
            sn_parts=sn_parts,
            sn_meta=phonetic(sn),
            dob=rec.dob,
            sex=nz.sex(rec.sex),
            pc=pc,
            sector=nz.postcode_sector(pc),
            district=nz.postcode_district(pc),
            addr=addr,
            house=house,
            upns=upns,
            upn=main_upn,
        )

    def swapped(self) -> Prepared:
        """The same record with forename and surname read the other way round."""
        fn = self.sn_parts[0] if self.sn_parts else ""
        sn_parts = (self.fn,) if self.fn else ()
        return Prepared(
            record_id=self.record_id, fn=fn, fn_keys=nickname_keys(fn), fn_meta=phonetic(fn),
            fn_forms=nickname_forms(fn), mids=self.mids, sn=self.fn, sn_parts=sn_parts,
            sn_meta=self.fn_meta, dob=self.dob,
            sex=self.sex, pc=self.pc, sector=self.sector, district=self.district,
            addr=self.addr, house=self.house, upns=self.upns, upn=self.upn,
        )


# Letter groups that OCR and hurried typing confuse ("Srnith" for Smith).
_OCR_FOLDS = (("RN", "M"), ("CL", "D"), ("VV", "W"), ("LI", "H"))


def _ocr_fold(s: str) -> str:
    for a, b in _OCR_FOLDS:
        s = s.replace(a, b)
    return s


def _close(a: str, b: str, jw: float) -> bool:
    if jw >= CLOSE_JW:
        return True
    if _ocr_fold(a) == _ocr_fold(b):
        return True
    return min(len(a), len(b)) >= MIN_LEN_FOR_ONE_EDIT and DamerauLevenshtein.distance(a, b) <= 1


def forename(q: Prepared, r: Prepared) -> str:
    a, b = q.fn, r.fn
    if not a or not b:
        return MISSING
    if a == b:
        return "exact"
    if not q.fn_keys.isdisjoint(r.fn_keys):
        return "nickname"
    if len(a) == 1 or len(b) == 1:
        return "initial" if a[0] == b[0] else "disagree"
    jw = JaroWinkler.similarity(a, b)
    if _close(a, b, jw):
        return "close"
    if q.fn_meta == r.fn_meta:
        return "phonetic"
    # A nickname with a typo ("Abbby" for Abby, i.e. Abigail).
    if _near_form(a, r.fn_forms) or _near_form(b, q.fn_forms):
        return "nickname"
    if a in r.mids or b in q.mids:
        return "middle"
    # Short names with one slip are only "similar" when both spellings are real names:
    # too many real short names are one edit apart (Ava/Eva, Leo/Lea) for this to count
    # as strong evidence. A spelling no held record has ("Mla", "Aav" for Mia, Ava) is a
    # slip in the record's name, which is as strong as any other typo.
    if jw >= SIMILAR_JW or DamerauLevenshtein.distance(a, b) <= 1:
        return "similar" if q.fn_known and r.fn_known else "close"
    return "disagree"


def _near_form(name: str, forms: tuple[str, ...]) -> bool:
    if not forms or len(name) < 3:
        return False
    return extractOne(name, forms, scorer=JaroWinkler.similarity, score_cutoff=CLOSE_JW) is not None


def surname(q: Prepared, r: Prepared) -> str:
    a, b = q.sn, r.sn
    if not a or not b:
        return MISSING
    if a == b:
        return "exact"
    if (len(q.sn_parts) > 1 or len(r.sn_parts) > 1) and not set(q.sn_parts).isdisjoint(
        r.sn_parts
    ):
        return "part"
    jw = JaroWinkler.similarity(a, b)
    if _close(a, b, jw):
        return "close"
    if q.sn_meta == r.sn_meta:
        return "phonetic"
    if jw >= SIMILAR_JW:
        return "similar"
    return "disagree"


def dob(a: PartialDate | None, b: PartialDate | None) -> str:
    if a is None or b is None:
        return MISSING
    if a.is_full and b.is_full:
        if a == b:
            return "exact"
        if a.year == b.year and a.month == b.day and a.day == b.month:
            return "transposed"
        diffs = (a.year != b.year) + (a.month != b.month) + (a.day != b.day)
        if diffs == 1:
            return "one_part"
        return "year" if a.year == b.year else "disagree"
    if a.year != b.year:
        return "disagree"
    if a.month is None or b.month is None:
        return "partial_year"
    if a.month == b.month:
        return "partial"
    return "year"


def sex(q: Prepared, r: Prepared) -> str:
    if not q.sex or not r.sex:
        return MISSING
    return "agree" if q.sex == r.sex else "disagree"


def location(q: Prepared, r: Prepared) -> str:
    """Postcode and address together: they are one piece of evidence, not two.

    A shared postcode with a different house number is a neighbour, which is much weaker
    evidence than a shared home.
    """
    same_addr = _same_address(q, r)
    if not q.pc or not r.pc:
        if same_addr is None:
            return MISSING
        return "address" if same_addr else "disagree"
    if q.pc == r.pc:
        if same_addr is None:
            return "postcode"
        return "address" if same_addr else "neighbour"
    if same_addr and q.sector == r.sector:
        return "address"  # a slip in the postcode's last letters
    if q.sector and q.sector == r.sector:
        return "sector"
    if q.district and q.district == r.district:
        return "district"
    return "disagree"


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
    return "disagree"


def upn(q: Prepared, r: Prepared) -> str:
    """Only disagreement is informative here: agreement is decisive and handled earlier."""
    if not q.upn or not r.upns or q.upn in r.upns or r.upn in q.upns:
        return MISSING
    return "disagree"
