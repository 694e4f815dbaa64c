"""Plain-English explanations of comparison levels, for the officer reviewing a candidate.

They describe how the fields compare, never what they contain: a stored explanation must
not copy a child's name, date of birth or address.
"""

from __future__ import annotations

DESCRIBE: dict[str, dict[str, str]] = {
    "forename": {
        "exact": "same forename",
        "nickname": "one forename is a nickname of the other",
        "close": "forenames differ by a typo",
        "phonetic": "forenames sound alike (spelling or transliteration variant)",
        "middle": "one forename is the other's middle name",
        "garbled": "forenames differ by OCR or keying damage",
        "similar": "forenames loosely similar",
        "initial": "only an initial given, and it fits",
        "disagree": "different forenames",
    },
    "surname": {
        "exact": "same surname",
        "part": "one surname is part of a double-barrelled surname",
        "close": "surnames differ by a typo",
        "phonetic": "surnames sound alike",
        "similar": "surnames loosely similar",
        "disagree": "different surnames",
    },
    "middle_names": {"agree": "middle names agree", "disagree": "different middle names"},
    "dob": {
        "exact": "same date of birth",
        "partial": "partial date of birth fits (year and month)",
        "partial_year": "partial date of birth fits (year only)",
        "transposed": "day and month swapped",
        "slip": "dates of birth differ by one keying slip (a digit, or two swapped)",
        "one_part": "date of birth differs in one part (day, month or year)",
        "year": "same birth year only",
        "disagree": "different dates of birth",
    },
    "sex": {"agree": "same sex", "disagree": "different sex"},
    "location": {
        "address": "same address",
        "postcode": "same postcode (address not given on both)",
        "neighbour": "same postcode but a different house",
        "sector": "same postcode sector",
        "district": "same postcode district",
        "disagree": "different postcode or address",
    },
    "upn": {"disagree": "both have valid UPNs and they differ"},
}
NOT_GIVEN = "not given on both sides (no weight)"


def describe(field: str, level: str, weight: float) -> str:
    if level == "missing":
        return NOT_GIVEN
    return f"{DESCRIBE[field][level]} ({weight:+.1f})"
