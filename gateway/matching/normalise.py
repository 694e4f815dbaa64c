"""Normalisation of names, dates, postcodes, addresses and UPNs.

Everything here is pure and deterministic; the matcher compares normalised values only.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from stdnum.gb import nhs as stdnum_nhs
from stdnum.gb import upn as stdnum_upn

# Letters that NFKD does not decompose into an ASCII base letter (Polish, Nordic, Turkish,
# German). Without these "Łukasz" would lose its first letter.
_EXTRA_FOLD = str.maketrans(
    {
        "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss",
        "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ı": "i", "Þ": "TH", "þ": "th",
        # Letters NFKD does not decompose, which folding to ASCII had dropped ("Səxavət"
        # became SXAVT, "Kwabɛna" KWABNA, "Ħanna" ANNA): Azerbaijani, Akan and Ewe, Maltese,
        # Icelandic.
        "Ə": "E", "ə": "e", "Ɛ": "E", "ɛ": "e", "Ɔ": "O", "ɔ": "o", "Ŋ": "NG", "ŋ": "ng",
        "Ħ": "H", "ħ": "h", "Ð": "D", "ð": "d",
        # Ewe and Hausa letters (review p3); anything else Latin falls back to its name.
        "Ɖ": "D", "ɖ": "d", "Ʋ": "V", "ʋ": "v", "Ɣ": "G", "ɣ": "g", "Ƒ": "F", "ƒ": "f",
        "Ɓ": "B", "ɓ": "b", "Ɗ": "D", "ɗ": "d", "Ƙ": "K", "ƙ": "k", "Ƴ": "Y", "ƴ": "y",
        "Ǝ": "E", "ǝ": "e",
    }
)
# Digits that appear in names only as OCR or typing slips for the letter they resemble.
_OCR_DIGITS = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "3": "E", "6": "G"})
_NON_NAME = re.compile(r"[^A-Z \-']")
_SEPARATORS = re.compile(r"[\s\-']+")
_DOT_BETWEEN_LETTERS = re.compile(
    r"(?:(?<![^\W\d_])[^\W\d_]|\b(?:[Mm][Dd]|[Mm][Oo][Hh][Dd]|[Mm][Uu][Hh][Dd]))\.(?=[^\W\d_])")


def fold(text: str) -> str:
    """Upper-case ASCII with accents removed."""
    text = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLD))
    if not text.isascii():
        text = "".join(c if c.isascii() else _latin_base(c) for c in text)
    return text.upper()


def _latin_base(c: str) -> str:
    """A Latin letter NFKD does not decompose, by its Unicode name ("LATIN SMALL LETTER D
    WITH HOOK" is D); anything else (a combining mark, another script) is dropped."""
    m = _LATIN_NAME.match(unicodedata.name(c, ""))
    return m.group(1) if m else ""


_LATIN_NAME = re.compile(r"LATIN (?:CAPITAL|SMALL) LETTER ([A-Z])\b")


@lru_cache(maxsize=65536)
def name_parts(text: str | None, split_dots: bool = False) -> tuple[str, ...]:
    """The parts of a name: ``"Smith-Jones"`` and ``"smith jones"`` give ``("SMITH", "JONES")``.

    Apostrophes join rather than split (O'Brien is one part, OBRIEN).
    """
    if not text:
        return ()
    # A full stop between letters separates ("M.D." is two initials, "Md.Abdul" two
    # names), where dropping it would make one name of them ("MD", a form of Muhammad).
    if split_dots:
        text = _DOT_BETWEEN_LETTERS.sub(lambda m: m.group(0)[:-1] + " ", text)
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


# A whole UK postcode (spaces removed): only such a code has a sector and a district.
# A foreign or partial code ("2617", an Australian postcode in FEBRL) is compared whole.
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")


def postcode_sector(pc: str) -> str:
    """Outward code plus the first inward digit (``LS61AB`` -> ``LS61``); needs a full
    UK code."""
    return pc[:-2] if _UK_POSTCODE.match(pc) else ""


def postcode_district(pc: str) -> str:
    """Outward code (``LS61AB`` -> ``LS6``); needs a full UK code."""
    return pc[:-3] if _UK_POSTCODE.match(pc) else ""


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


_ISO = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?$")
_UK = re.compile(r"^(?:(\d{1,2})[/.\-])?(\d{1,2})[/.\-](\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_WORDS = re.compile(
    r"^(?:(\d{1,2})(?:st|nd|rd|th)?[\s\-/.]+)?([A-Za-z]{3,9})\.?,?[\s\-/.]+(\d{4})$")
# A midnight time as spreadsheets and databases append it to a date ("2015-03-04 00:00:00",
# "2015-03-04T00:00:00Z", "04/03/2015 00:00"): only the date part is read. Any other time
# is refused: "2015-06-03T23:00:00Z" is most likely 4 June at midnight in summer time,
# stored in UTC, and reading it as 3 June would be silently wrong.
_TIME = re.compile(r"^(.*?\d)(?:T| +)00:00(?::00(?:\.0+)?)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?$")
_MONTH_WORDS = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december", "sept")
_MONTHS = {w[:3]: i for i, w in enumerate(_MONTH_WORDS[:12], 1)}  # "jan" -> 1


@lru_cache(maxsize=65536)
def parse_date(text: str | None) -> PartialDate | None:
    """Read a full or partial date written in the ways English records write them.

    ISO (``2015-03-04``, ``2015/03/04``, ``2015-03``, ``2015``), UK day first
    (``04/03/2015``, ``4.3.2015``, ``03/2015``), compact (``20150304``), with the month
    in words (``4 March 2015``, ``04-Mar-2015``, ``March 2015``), and any of these with a
    midnight time after them (``2015-03-04 00:00:00``). Nothing is guessed: a month over
    12 (``2015-25-03``, US-style ``03/25/2015``) is refused rather than read swapped,
    because the same file's ``03/04/2015`` could not be told apart; two-digit years are
    refused because the century is a guess.

    Returns ``None`` for an empty value and raises ``ValueError`` for anything else that is
    not a real (partial) date, so the caller can reject the row or blank it.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    t = _TIME.match(text)
    if t:
        text = t.group(1)
    day: int | None
    month: int | None
    if m := _ISO.match(text) or _COMPACT.match(text):  # year first
        year, month, day = (int(g) if g else None for g in m.groups())
    elif m := _UK.match(text):
        day, month, year = (int(g) if g else None for g in m.groups())
    elif m := _WORDS.match(text):
        word = m.group(2).lower()
        if word not in _MONTH_WORDS and not (len(word) == 3 and word in _MONTHS):
            raise ValueError("not a month")
        month = _MONTHS[word[:3]]
        day, year = (int(m.group(1)) if m.group(1) else None), int(m.group(3))
    else:
        raise ValueError("not a date")
    assert year is not None  # every pattern requires a year
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


def nhs_number(text: str | None) -> str:
    """The NHS number (10 digits) if its modulus-11 check digit is right, otherwise ``""``
    (python-stdnum's ``gb.nhs``): a wrong number must neither decide nor forbid a match."""
    if not text:
        return ""
    number = stdnum_nhs.compact(text)
    return number if stdnum_nhs.is_valid(number) else ""


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


_SEX_CODES = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F", "BOY": "M", "GIRL": "F",
              "1": "M", "2": "F", "01": "M", "02": "F"}


def sex(text: str | None) -> str:
    """``M``, ``F`` or ``""`` (unknown/other values are treated as missing, not disagreement).

    Reads ``M``/``F``/``Male``/``Female`` (CTF and most MIS exports), ``Boy``/``Girl``,
    and the NHS Data Dictionary's person gender codes ``1`` (male) and ``2`` (female),
    which health registration extracts use; anything else (``0``/``9``/``X``/``U``, "not
    known", or a value such as "Mixed") is missing rather than a guess.
    """
    if not text:
        return ""
    return _SEX_CODES.get(text.strip(" .").upper(), "")
