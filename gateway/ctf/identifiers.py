"""Identifier checks: UPN check letters (python-stdnum), LA codes and LAESTABs.

Which failures do what (deliberately):
- A UPN or FormerUPN that is malformed or has a wrong check letter does **not** reject the file:
  the pupil is flagged and the flag is shown to the officer (school census errors 1510/1530).
- A UPN whose check letter is right but whose LA code python-stdnum does not know is flagged
  as a warning only: stdnum's list is not the whole census list (pseudo-LA codes exist).
- A malformed LA code or establishment number in the CTF header **does** reject the file: the
  gateway routes on them.
"""

from __future__ import annotations

import re

from stdnum import exceptions as stdnum_exceptions
from stdnum.gb import upn as stdnum_upn

LEA_RE = re.compile(r"^[0-9]{3}$")
ESTAB_RE = re.compile(r"^[0-9]{4}$")

# The stand-in destinations of the S2S guidance (ctf-notes.md, section 2.1 and 1.4).
LOST = ("XXX", "XXXX")
OUT_OF_SECTOR = ("MMM", "MMMM")
LA_ESTAB = "LLLL"


def upn_flags(value: str, field: str = "UPN") -> list[str]:
    """Flags for one UPN: empty when it is valid."""
    upn = stdnum_upn.compact(value)
    if len(upn) != 13 or not upn[1:12].isdigit() or not upn[0].isalpha():
        return [f"{field.lower()}-format: {field} is not 13 characters of the form A12345678901A"]
    try:
        check = stdnum_upn.calc_check_digit(upn[1:])
    except (stdnum_exceptions.ValidationError, ValueError, IndexError, KeyError):
        return [f"{field.lower()}-format: {field} has characters a UPN cannot have"]
    if check != upn[0]:
        return [f"{field.lower()}-check-letter: {field} check letter is wrong (census error 1510)"]
    try:
        stdnum_upn.validate(upn)
    except stdnum_exceptions.InvalidComponent:
        return [f"{field.lower()}-la-code: {field} LA code {upn[1:4]} is not a known LA "
                f"(census error 1530; warning only)"]
    except stdnum_exceptions.ValidationError:
        return [f"{field.lower()}-format: {field} is not valid"]
    return []


def destination_kind(lea: str, estab: str) -> str:
    """``school``, ``la``, ``lost`` or ``out-of-sector``; ValueError when neither real nor a
    known stand-in code."""
    if (lea, estab) == LOST:
        return "lost"
    if (lea, estab) == OUT_OF_SECTOR:
        return "out-of-sector"
    if LEA_RE.match(lea) and estab == LA_ESTAB:
        return "la"
    if LEA_RE.match(lea) and ESTAB_RE.match(estab):
        return "school"
    raise ValueError(f"{lea}/{estab} is neither an LA code and establishment number nor a "
                     f"stand-in code (XXX/XXXX, MMM/MMMM, nnn/LLLL)")
