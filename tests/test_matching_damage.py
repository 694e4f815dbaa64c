"""Comparisons that know how data goes wrong: OCR and keying damage, short forms, slips
in dates and surnames cut short (issue 14, item 2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, Matcher, Record
from gateway.matching.compare import (
    Prepared,
    damage_distance,
    damaged,
    dob_level,
    forename,
    surname,
)
from gateway.matching.names import nickname_equivalent, sibling_forms
from gateway.testing.synth import generate


def _p(forename: str = "", surname: str = "", known: bool = True) -> Prepared:
    p = Prepared.from_record(Record("x", forename=forename, surname=surname))
    p.fn_known = p.sn_known = known
    return p


@pytest.mark.parametrize(("damaged_form", "name"), [
    ("HRWWRH", "HANNAH"),  # A read as R, N as W
    ("WICCOW", "WILLOW"),  # L read as C
    ("NICCOW", "WILLOW"),  # and W as N
    ("OBMEBOD", "ORMEROD"),  # R as B
    ("FNANS", "EVANS"),  # E as F, V as N
    ("HANAH", "HANNAH"),  # a double letter dropped
    ("VVALKER", "WALKER"),  # VV for W
])
def test_ocr_and_keying_damage_is_recognised(damaged_form: str, name: str) -> None:
    assert damaged(damaged_form, name) and damaged(name, damaged_form)


@pytest.mark.parametrize(("other", "name"), [
    ("HBXKAH", "HANNAH"),  # arbitrary letters
    ("AMIRA", "AMELIA"),  # another name
    ("ISLA", "ISABELLA"),
    ("JACK", "JACOB"),
    ("HARRY", "HENRY"),
])
def test_differences_no_damage_explains_are_not_damage(other: str, name: str) -> None:
    assert not damaged(other, name)


def test_confusions_cost_less_than_other_edits() -> None:
    assert damage_distance("HRWWRH", "HANNAH") < damage_distance("HXQQXH", "HANNAH")
    assert damage_distance("HANAH", "HANNAH") < damage_distance("HANAH", "HANNAHX")
    assert damage_distance("HANNHA", "HANNAH") < 1.0  # two letters swapped
    assert damage_distance("WILLOW", "WILLOW") == 0.0


def test_a_damaged_unseen_forename_is_garbled_but_two_real_names_are_not() -> None:
    assert forename(_p("Hrwwrh", known=False), _p("Hannah")) == "garbled"
    # Both real names (held spellings): never damage of each other.
    assert forename(_p("Leo"), _p("Lea")) != "garbled"
    assert forename(_p("Hrwwrh"), _p("Hannah")) == "disagree"
    # Not looked for when the matcher says the dates of birth are too far apart.
    assert forename(_p("Hrwwrh", known=False), _p("Hannah"), deep=False) == "disagree"


@pytest.mark.parametrize(("damaged_form", "name"), [("Obmebod", "Ormerod"),
                                                    ("Fnans", "Evans")])
def test_damage_in_a_surname_is_a_typo(damaged_form: str, name: str) -> None:
    assert surname(_p(surname=damaged_form, known=False), _p(surname=name)) == "close"
    # Two surnames held on file are two families, not damage of each other.
    assert surname(_p(surname=damaged_form), _p(surname=name)) != "close"


def test_a_surname_cut_short_is_part_of_it() -> None:
    assert surname(_p(surname="Whitfi"), _p(surname="Whitfield")) == "part"
    assert surname(_p(surname="Whitfield"), _p(surname="Whitfi")) == "part"
    # Too short to say.
    assert surname(_p(surname="Whit"), _p(surname="Whitfield")) != "part"


@pytest.mark.parametrize(("short", "formal"), [
    ("Liz", "Elizabeth"), ("Becky", "Rebecca"), ("Will", "William"), ("Ella", "Isabella"),
    ("Katie", "Katherine"), ("Kate", "Catherine"), ("Soph", "Sophie"), ("Zak", "Zakariya"),
    ("Maddie", "Madison"), ("Georgie", "Georgia"), ("Flossie", "Florence"),
])
def test_short_forms_both_ways(short: str, formal: str) -> None:
    s, f = short.upper(), formal.upper()
    assert nickname_equivalent(s, f) and nickname_equivalent(f, s)
    assert forename(_p(short), _p(formal)) == "nickname"
    assert forename(_p(formal), _p(short)) == "nickname"


@pytest.mark.parametrize(("a", "b", "level"), [
    (20140312, 20140312, "exact"),
    (20140312, 20141203, "transposed"),  # day and month swapped
    (20140319, 20140320, "slip"),  # the day off by one (two digits change)
    (20140930, 20141030, "slip"),  # the month off by one
    (20141231, 20151231, "slip"),  # the year off by one
    (20140312, 20140300, "partial"),  # the day missing
    (20140312, 20140322, "slip"),  # one digit
    (20140312, 20140328, "one_part"),  # another day altogether
    (20140312, 20160312, "disagree"),  # the same birthday two years on: a sibling
])
def test_date_slips(a: int, b: int, level: str) -> None:
    assert dob_level(a, b) == level


# -- the same in the matcher, among other children -------------------------------------

CHILD = Record("D1", forename="Willow", surname="Ormerod", dob="2013-09-30", sex="F",
               postcode="LS8 3HT", address="5 Kerry Street")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_records([*generate(3000, 0, seed=17).records, CHILD])


@pytest.mark.parametrize("changes", [
    {"forename": "Wiccow", "surname": "Obmebod"},  # OCR damage in both names
    {"forename": "Niccow"},  # damage past a slip, no competitor on file
    {"surname": "Ormer", "dob": "2013-10-30"},  # cut short, month off by one
    {"dob": "2013-09-29", "postcode": ""},  # day off by one
])
def test_damaged_details_find_the_child(matcher: Matcher, changes: dict[str, str]) -> None:
    c = matcher.match(replace(CHILD, record_id="Q", **changes))[0]
    assert (c.record_id, c.band) == ("D1", MATCH), c


@pytest.mark.parametrize("a, b, siblings", [
    ("ALFIE", "FREDDIE", True),  # through Alfred, which neither is
    ("DAISY", "MAISIE", True),  # through Margaret
    ("ALFIE", "ALFRED", False),  # a form and its formal name
    ("LIZ", "ELIZABETH", False),
    ("JOCK", "JACK", False),  # one slip apart: more likely Jack mistyped
    ("ANA", "ANNA", False),
    ("OLIVER", "AMELIA", False),  # not linked at all
    ("ALFIE", "ALFIE", False),
])
def test_sibling_forms(a: str, b: str, siblings: bool) -> None:
    assert sibling_forms(a, b) is siblings
    assert sibling_forms(b, a) is siblings
