"""Who a party is, from its id: the one place that knows the forms of party ids.

- a local authority: its 3-digit DfE LA code (``352`` Manchester);
- a school: its 7-digit LAESTAB, the LA code then the 4-digit establishment number
  (``3524001``; written ``352/4001`` on DfE forms, and accepted in that form here);
- the national School to School hub: ``S2S``.
"""

from __future__ import annotations

import enum
import re

from gateway.core.errors import GatewayError

HUB = "S2S"
PARTY_RE = re.compile(r"^(?:[0-9]{3}|[0-9]{7}|S2S)$")
_LAESTAB_RE = re.compile(r"^([0-9]{3})/?([0-9]{4})$")
PARTY_FORMS = ("a 3-digit LA code (e.g. 352), a 7-digit LAESTAB (e.g. 3524001 or 352/4001) "
               "or S2S")


class PartyKind(enum.StrEnum):
    LA = "la"
    SCHOOL = "school"
    HUB = "hub"


def kind_of(party: str) -> PartyKind | None:
    """The kind of party ``party`` names, or None when it is not a party id."""
    if party == HUB:
        return PartyKind.HUB
    if len(party) == 3 and party.isascii() and party.isdigit():
        return PartyKind.LA
    if len(party) == 7 and party.isascii() and party.isdigit():
        return PartyKind.SCHOOL
    return None


def is_party(party: str) -> bool:
    return kind_of(party) is not None


def is_la(party: str) -> bool:
    return kind_of(party) is PartyKind.LA


def is_school(party: str) -> bool:
    return kind_of(party) is PartyKind.SCHOOL


def la_of(party: str) -> str | None:
    """The LA a party belongs to: an LA itself, a school's LA; None for the hub."""
    kind = kind_of(party)
    if kind is PartyKind.LA:
        return party
    if kind is PartyKind.SCHOOL:
        return party[:3]
    return None


def check_party(text: str, what: str = "party") -> str:
    """``text`` as a party id (a LAESTAB may be written ``381/2001``), or ``bad-party``."""
    value = text.strip()
    school = _LAESTAB_RE.fullmatch(value)
    if school:
        value = school.group(1) + school.group(2)
    if not is_party(value):
        raise GatewayError("bad-party", f"{what} {text[:40]!r}: use {PARTY_FORMS}")
    return value


def check_laestab(text: str, what: str = "LAESTAB") -> str:
    """``text`` as a 7-digit LAESTAB (``3812001`` or ``381/2001``), or ``bad-party``."""
    school = _LAESTAB_RE.fullmatch(text.strip())
    if not school:
        raise GatewayError("bad-party", f"{what} {text[:40]!r}: use 7 digits, e.g. 3812001 or "
                           f"381/2001")
    return school.group(1) + school.group(2)
