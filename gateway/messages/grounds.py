"""The deletion grounds of a school's return mapped to the letters of regulation 9(1) of the
School Attendance (Pupil Registration) (England) Regulations 2024 (SI 2024/208): "the
proprietor of a school must ensure that the name of a pupil of compulsory school age is
deleted from the school's admission register when" one of (a) to (o) applies.

Sources (docs/school-notices.md "Where the letters come from"):

1. legislation.gov.uk, the made text of regulation 9
   (https://legislation.gov.uk/cy/uksi/2024/208/regulation/9/made). The stored copy that could
   be read here holds 9(1)(a) to the start of 9(1)(e) and no further.
2. Worcestershire County Council's school leaving form
   (https://capublic.worcestershire.gov.uk/InYearAdmissions/LeavingForm.aspx), which quotes
   9(1)(a) to (d) word for word as in source 1 (the readable part of it stops there; the rest
   of the form quotes the revoked 2006 regulation 8(1), whose letters differ).
3. Torbay Council's deletion return (https://forms.torbay.gov.uk/SchoolRegisterDeletion),
   which lists 9(1)(a) to (o), one line each.
4. For 9(1)(i) only: Browne Jacobson's note "Deleting a pupil from the school admission
   register: the 20-day rule explained", as published by Local Government Lawyer
   (https://localgovernmentlawyer.co.uk/education-law/343-education-features/99510-deleting-a-pupil-from-the-school-admission-register-the-20-day-rule-explained),
   which places the 20 school days' continuous absence ground at regulation 9(1)(i) of the
   2024 regulations.

So (a) to (d) are checked against the regulation's own text and a second source. (e) is not:
source 1 stops at its start and source 2 at (d), so its letter is the regulation's but its
words rest on source 3; it is marked ``checked=False`` with its own note, and its words say
no more than that the LA revoked the attendance order. (f) to (o) rest on source 3 (and (i)
on 3 and 4) and are marked ``checked=False``. That (h) and (i) need
the school and the LA first to have jointly made reasonable enquiries is from source 4 for
(i), and for both from the CME statutory guidance as schools restate it (and regulation
8(1)(f)(iii) and (h)(iii) of the 2006 regulations they replace). Unchecked letters are shown
with "(letter from an LA's form, not yet checked against the regulation's text)". The words here
are a paraphrase, never the regulation's text.

Two older codes have no 9(1) letter: ``medically-unfit`` (a 2006 ground, regulation 8(1)(g)
of SI 2006/1751, that none of the sources lists under the 2024 regulation 9(1)) and
``whereabouts-unknown`` (not a ground of its own: it is the closing condition of (h) and (i)).
They stay in the schema, so a return from a school gateway that still sends them is accepted,
but they are deprecated (``LEGACY``), and ``whereabouts-unknown`` still opens a case at once.
Regulation 9(3) (pupils not of compulsory school age) is not mapped: a deletion return here
is about a pupil of compulsory school age, and no copy of 9(3)'s text was at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.messages.model import DeletionGround as G

REGULATION = "SI 2024/208 reg. 9(1)"
SOURCE_PRIMARY = "https://legislation.gov.uk/cy/uksi/2024/208/regulation/9/made"
SOURCE_20_DAY_RULE = ("https://localgovernmentlawyer.co.uk/education-law/"
                      "343-education-features/99510-deleting-a-pupil-from-the-school-admission-"
                      "register-the-20-day-rule-explained")
SOURCES = (SOURCE_PRIMARY,
           "https://capublic.worcestershire.gov.uk/InYearAdmissions/LeavingForm.aspx",
           "https://forms.torbay.gov.uk/SchoolRegisterDeletion",
           SOURCE_20_DAY_RULE)
UNCHECKED_NOTE = "letter from an LA's form, not yet checked against the regulation's text"
PARTLY_READ_NOTE = ("only the start of this letter was read in the regulation's text; its "
                    "condition is from an LA's form, not yet checked")
LETTERS = tuple("abcdefghijklmno")  # regulation 9(1) runs from (a) to (o)


@dataclass(frozen=True)
class Ground:
    code: G
    letter: str | None       # "h" for 9(1)(h); None for a legacy code with no 9(1) letter
    words: str               # a paraphrase of the regulation's words
    checked: bool            # letter checked against the regulation's own text
    joint_enquiries: bool = False  # the school and the LA must first jointly make
    #                                reasonable enquiries to find where the child is
    note: str | None = None  # how sure an unchecked letter is, when not UNCHECKED_NOTE
    added_in: str = "1.0"  # the school-notice schema version that added the code

    @property
    def unchecked_note(self) -> str | None:
        """What an unchecked letter is shown with; None when checked (or legacy)."""
        if self.checked or self.letter is None:
            return None
        return self.note or UNCHECKED_NOTE

    @property
    def reference(self) -> str:
        """'9(1)(h)', or 'no 9(1) letter' for a legacy code."""
        return f"9(1)({self.letter})" if self.letter else "no 9(1) letter"

    @property
    def citation(self) -> str | None:
        """'SI 2024/208 reg. 9(1)(h)', or None for a legacy code."""
        return f"SI 2024/208 reg. {self.reference}" if self.letter else None

    @property
    def citation_noted(self) -> str:
        """The citation with how sure its letter is; what a legacy code has instead."""
        if self.citation is None:
            return f"no ground of its own in {REGULATION} (legacy code)"
        return self.citation + (f" ({self.unchecked_note})" if self.unchecked_note else "")

    def label(self) -> str:
        """How a ground is shown: letter, words, and how sure the letter is."""
        if self.letter is None:
            return f"{self.code.value}: {self.words} (no ground of its own in {REGULATION})"
        note = f" ({self.unchecked_note})" if self.unchecked_note else ""
        return f"reg. {self.reference}: {self.words}{note}"

    def as_json(self) -> dict[str, object]:
        return {"code": self.code.value, "regulation": REGULATION if self.letter else None,
                "letter": self.letter, "reference": self.reference if self.letter else None,
                "words": self.words, "letter_checked": self.checked,
                "letter_note": self.unchecked_note,
                "added_in_schema": self.added_in,
                "joint_enquiries": self.joint_enquiries, "legacy": self.letter is None}


GROUNDS: dict[G, Ground] = {g.code: g for g in (
    Ground(G.REGISTERED_ELSEWHERE, "a",
           "registered at another school (not where a school attendance order names this "
           "school, it is a mobile child's main school, or dual registration was agreed)",
           checked=True),
    Ground(G.NURSERY_NOT_CONTINUING, "b",
           "admitted for nursery education, finished it, and not expected to attend again "
           "(would otherwise move up to reception or above)", checked=True),
    Ground(G.DUAL_REGISTRATION_ENDED, "c",
           "also registered at other schools, not expected to attend here again, every other "
           "school consents, no attendance order names this school, and it is not a mobile "
           "child's main school", checked=True),
    Ground(G.ATTENDANCE_ORDER_AMENDED, "d",
           "the LA amended the school attendance order to name another school", checked=True),
    Ground(G.ATTENDANCE_ORDER_REVOKED, "e",
           "the LA revoked the school attendance order naming this school", checked=False,
           note=PARTLY_READ_NOTE),
    Ground(G.EDUCATED_OTHERWISE, "f",
           "a parent told the school in writing that the pupil will be educated otherwise "
           "than at school", checked=False),
    Ground(G.NO_LONGER_RESIDES_NEAR, "g",
           "no longer normally lives within a reasonable distance of the school",
           checked=False),
    Ground(G.NOT_RETURNED_AFTER_LEAVE, "h",
           "not returned after leave of absence, and the school and the LA, after jointly "
           "making reasonable enquiries, could not find where the pupil is", checked=False,
           joint_enquiries=True),
    Ground(G.ABSENT_20_SCHOOL_DAYS, "i",
           "continuously absent without authority for at least 20 school days, not believed "
           "unable to attend through sickness or unavoidable cause, and the school and the "
           "LA, after jointly making reasonable enquiries, could not find where the pupil is",
           checked=False, joint_enquiries=True),
    Ground(G.IN_CUSTODY, "j",
           "detained under a sentence of detention (as regulation 3 defines it)",
           checked=False),
    Ground(G.DIED, "k", "the pupil has died", checked=False),
    Ground(G.CEASED_COMPULSORY_AGE, "l",
           "will be past compulsory school age before the school next meets and will not "
           "continue into its sixth form", checked=False),
    Ground(G.BOARDING_CHARGES_UNPAID, "m",
           "a boarder at a maintained school or academy whose board and lodging charges are "
           "unpaid", checked=False, added_in="1.1"),
    Ground(G.LEFT_INDEPENDENT_SCHOOL, "n",
           "has ceased to be a pupil of an independent or non-maintained special school",
           checked=False, added_in="1.1"),
    Ground(G.PERMANENTLY_EXCLUDED, "o", "permanently excluded from the school",
           checked=False),
    Ground(G.MEDICALLY_UNFIT, None,
           "certified medically unfit to attend before leaving compulsory school age (a 2006 "
           "ground, regulation 8(1)(g) of SI 2006/1751; deprecated)", checked=False),
    Ground(G.WHEREABOUTS_UNKNOWN, None,
           "whereabouts unknown after joint reasonable enquiries by school and LA (the "
           "closing condition of 9(1)(h) and (i), not a ground of its own; deprecated: send "
           "not-returned-after-leave or continuous-absence-20-school-days)", checked=False,
           joint_enquiries=True),
)}

LEGACY = frozenset(c for c, g in GROUNDS.items() if g.letter is None)
# Grounds on which the school and the LA must first have jointly made reasonable enquiries to
# find the child (9(1)(h) and (i), and the legacy code that names that condition): a deletion
# return on one of them opens a case at once.
JOINT_ENQUIRY_GROUNDS = frozenset(c for c, g in GROUNDS.items() if g.joint_enquiries)


def ground(code: G | str) -> Ground:
    return GROUNDS[G(code)]


def label(code: G | str) -> str:
    """The ground as shown to an officer; an unknown code is shown as it came."""
    try:
        return ground(code).label()
    except ValueError:
        return str(code)
