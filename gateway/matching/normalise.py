"""Normalisation of names, dates, postcodes, addresses and UPNs.

Everything here is pure and deterministic; the matcher compares normalised values only.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from stdnum.gb import upn as stdnum_upn

# Letters that NFKD does not decompose into an ASCII base letter (Polish, Nordic, Turkish,
# German). Without these "Łukasz" would lose its first letter.
_EXTRA_FOLD = str.maketrans(
    {
        "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss",
        "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ı": "i", "Þ": "TH", "þ": "th",
    }
)
# Digits that appear in names only as OCR or typing slips for the letter they resemble.
_OCR_DIGITS = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "3": "E", "6": "G"})
_NON_NAME = re.compile(r"[^A-Z \-']")
_SEPARATORS = re.compile(r"[\s\-']+")


def fold(text: str) -> str:
    """Upper-case ASCII with accents removed."""
    text = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLD))
    return text.encode("ascii", "ignore").decode("ascii").upper()


@lru_cache(maxsize=65536)
def name_parts(text: str | None) -> tuple[str, ...]:
    """The parts of a name: ``"Smith-Jones"`` and ``"smith jones"`` give ``("SMITH", "JONES")``.

    Apostrophes join rather than split (O'Brien is one part, OBRIEN).
    """
    if not text:
        return ()
    folded = _NON_NAME.sub("", fold(text.strip()).translate(_OCR_DIGITS)).replace("'", "")
    return tuple(p for p in _SEPARATORS.split(folded) if p)


def name_key(text: str | None) -> str:
    """A whole name with separators removed, so hyphen/space variants compare equal."""
    return "".join(name_parts(text))


@lru_cache(maxsize=65536)
def postcode(text: str | None) -> str:
    """Upper-case postcode without spaces (``"ls6 1ab"`` -> ``"LS61AB"``); ``""`` if absent."""
    if not text:
        return ""
    return re.sub(r"[^A-Z0-9]", "", fold(text))


def postcode_sector(pc: str) -> str:
    """Outward code plus the first inward digit (``LS61AB`` -> ``LS61``); needs a full code."""
    return pc[:-2] if len(pc) >= 5 else ""


def postcode_district(pc: str) -> str:
    """Outward code (``LS61AB`` -> ``LS6``); needs a full code."""
    return pc[:-3] if len(pc) >= 5 else ""


_ADDR_WORDS = re.compile(r"[A-Z0-9]+")
_ADDR_ABBREV = {"RD": "ROAD", "ST": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "LN": "LANE",
                "DR": "DRIVE", "CT": "COURT", "CL": "CLOSE", "CRES": "CRESCENT", "GDNS": "GARDENS",
                "PL": "PLACE", "SQ": "SQUARE", "TER": "TERRACE", "FLT": "FLAT"}


@lru_cache(maxsize=65536)
def address(text: str | None) -> str:
    """Address words, upper case, common abbreviations expanded, punctuation dropped."""
    if not text:
        return ""
    words = _ADDR_WORDS.findall(fold(text))
    return " ".join(_ADDR_ABBREV.get(w, w) for w in words)


@dataclass(frozen=True, order=True)
class PartialDate:
    """A date of birth that may lack its day or its day and month."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def is_full(self) -> bool:
        return self.month is not None and self.day is not None

    def as_date(self) -> dt.date | None:
        if self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_UK = re.compile(r"^(?:(\d{1,2})[/.\-])?(\d{1,2})[/.\-](\d{4})$")


@lru_cache(maxsize=65536)
def parse_date(text: str | None) -> PartialDate | None:
    """Parse ISO (``2015-03-04``, ``2015-03``, ``2015``) or UK (``04/03/2015``, ``03/2015``).

    Returns ``None`` for an empty value and raises ``ValueError`` for anything else that is
    not a real (partial) date, so the caller can reject the file with a row number.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    m = _ISO.match(text)
    if m:
        year, month, day = (int(g) if g else None for g in m.groups())
    else:
        m = _UK.match(text)
        if not m:
            raise ValueError("not a date")
        day, month, year = (int(g) if g else None for g in m.groups())
    assert year is not None  # both patterns require a year
    if month is not None and not 1 <= month <= 12:
        raise ValueError("month out of range")
    if day is not None:
        dt.date(year, month or 1, day)  # raises ValueError for 31 February and friends
    if not 1900 <= year <= 2100:
        raise ValueError("year out of range")
    return PartialDate(year, month, day)


def coerce_date(value: object) -> PartialDate | None:
    """Accept ``None``, ``PartialDate``, ``datetime.date`` or a string."""
    if value is None or isinstance(value, PartialDate):
        return value
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return PartialDate(value.year, value.month, value.day)
    if isinstance(value, str):
        return parse_date(value)
    raise TypeError(f"cannot read a date from {type(value).__name__}")


def upn(text: str | None) -> str:
    """The UPN in canonical form if its check letter is right, otherwise ``""``.

    Deliberately *not* ``stdnum.gb.upn.validate``: that also rejects LA numbers missing
    from python-stdnum's list, which lags behind LA reorganisations (e.g. new unitary
    authorities). A number whose check letter is right is very unlikely to be a typo, and a
    typo is the failure we must guard against, so the check letter alone decides.
    Temporary UPNs (final character a letter) are accepted on the same terms.
    """
    if not text:
        return ""
    number = stdnum_upn.compact(text)
    if len(number) != 13 or not number[1:12].isdigit():
        return ""
    if number[0] not in "ABCDEFGHJKLMNPQRTUVWXYZ" or not (
        number[12].isdigit() or number[12] in "ABCDEFGHJKLMNPQRTUVWXYZ"
    ):
        return ""
    if stdnum_upn.calc_check_digit(number[1:]) != number[0]:
        return ""
    return number


def sex(text: str | None) -> str:
    """``M``, ``F`` or ``""`` (unknown/other values are treated as missing, not disagreement)."""
    if not text:
        return ""
    s = text.strip().upper()[:1]
    return s if s in ("M", "F") else ""
