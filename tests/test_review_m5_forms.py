"""Reproducers from the review of 2ec8620 (sibling forms, Md/Mohd) and d842b6d (a damaged
forename with the day of birth missing). Each failed on those commits and asserts the safe
or expected answer."""
from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, Matcher, Record
from gateway.matching.names import sibling_forms
from gateway.matching.normalise import name_parts
from gateway.testing.synth import generate


@pytest.fixture(scope="module")
def bg3k() -> list[Record]:
    return generate(3000, 0, seed=13).records


def _top(m: Matcher, q: Record) -> tuple[str, str, str]:
    c = m.match(q)[0]
    return c.record_id, c.band, c.explanation.get("band_rule", "")


# -- S1: one child written with two diminutives is not capped as "could be a twin" ------
ONE_CHILD = [("Jimmy", "Jim"), ("Danny", "Dan"), ("Jenny", "Jen"), ("Katie", "Kat"),
             ("Becky", "Becca"), ("Maddie", "Maddy"), ("Abbie", "Abby"), ("Izzy", "Izzie"),
             ("Alfie", "Alf"), ("Freddie", "Fred"), ("Nell", "Nellie"), ("Md", "Mohd"),
             ("Ellie", "Ella")]


@pytest.mark.parametrize("held, asked", ONE_CHILD)
def test_one_child_under_two_diminutives_is_not_read_as_twins(bg3k, held, asked) -> None:
    assert not sibling_forms(held.upper(), asked.upper())
    rec = Record("S1", forename=held, surname="Whitfield", dob="2014-03-12", sex="M",
                 postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*bg3k, rec])
    q = replace(rec, record_id="Q", forename=asked)
    assert _top(m, q)[:2] == ("S1", MATCH)


# -- M1: dotted initials "M.D." must not become the token MD, a form of Muhammad --------
def test_initials_md_do_not_claim_the_twin_muhammad(bg3k) -> None:
    a = Record("T1", forename="Muhammad", surname="Rahman", dob="2016-02-11", sex="M",
               postcode="E1 6BB", address="4 Fournier Street")
    b = replace(a, record_id="T2", forename="Musa")  # his twin, on file
    m = Matcher.from_records([*bg3k, a, b])
    assert _top(m, replace(a, record_id="Q", forename="M. D."))[1] != MATCH
    assert _top(m, replace(a, record_id="Q", forename="M.D."))[:2] != ("T1", MATCH)


def test_a_full_stop_after_an_initial_or_md_separates_given_names() -> None:
    assert name_parts("M.D.", True) == ("M", "D")
    assert name_parts("Md.Abdul", True) == ("MD", "ABDUL")
    assert name_parts("Md. Abdul", True) == ("MD", "ABDUL")
    assert name_parts("Ha.nnah", True) == ("HANNAH",)  # a stray dot inside a name
    assert name_parts("O.Brien") == ("OBRIEN",)  # surnames: the dot is dropped, as before
    assert name_parts("O'Brien") == ("OBRIEN",)


# -- M2: Md is a prefix; the name the boy goes by is the next one ----------------------
def test_mohammed_karim_is_not_claimed_as_his_twin_md_rahim(bg3k) -> None:
    r = Record("R1", forename="Md Rahim", surname="Uddin", dob="2015-06-02", sex="M",
               postcode="E1 5AA", address="9 Hanbury Street")
    m = Matcher.from_records([*bg3k, r])
    q = replace(r, record_id="Q", forename="Mohammed Karim")  # absent twin Karim
    assert _top(m, q)[:2] != ("R1", MATCH)


# -- P1: a namesake held with a partial date has no day key; _lone must still see her ---
HANNAH = Record("E1", forename="Hannah", dob="2014-03-12", sex="F", surname="Whitfield",
                postcode="LS8 3HT", address="5 Kerry Street")


@pytest.mark.parametrize("held_dob, other_dob, asked_dob", [
    ("2014-03-12", "2014-03", "2014-03"),  # query partial, namesake partial
    ("2014-03", "2014-03", "2014-03-12"),  # record partial, query full, namesake partial
])
def test_a_namesake_held_with_only_the_month_keeps_the_veto(
        bg3k, held_dob, other_dob, asked_dob) -> None:
    other = Record("E8", forename="Hannah", dob=other_dob, sex="F", surname="Whitfield",
                   postcode="YO1 7HH", address="2 Petergate")
    m = Matcher.from_records([*bg3k, replace(HANNAH, dob=held_dob), other])
    q = replace(HANNAH, record_id="Q", forename="Hrwwrh", dob=asked_dob)
    assert _top(m, q)[:2] != ("E1", MATCH), _top(m, q)


# -- review 4 (a0b2ec5) ----------------------------------------------------------------
# D1: two short forms of one formal name with the same first sound are still names of
# their own (twins Billy and Bobby): only the same sound key, or a like spelling, is one
# child written two ways.
@pytest.mark.parametrize("held, asked", [("Billy", "Bobby"), ("Sally", "Sadie"),
                                         ("Meg", "Maisie"), ("Harry", "Hal")])
def test_twin_with_a_sibling_short_form_is_not_claimed(bg3k, held, asked) -> None:
    sex = "F" if held in ("Sally", "Meg") else "M"
    rec = Record("T1", forename=held, surname="Whitfield", dob="2014-03-12", sex=sex,
                 postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*bg3k, rec])
    q = replace(rec, record_id="Q", forename=asked)
    assert _top(m, q)[:2] != ("T1", MATCH), _top(m, q)


# D2: a stray full stop inside a name is dropped, not a separator.
@pytest.mark.parametrize("asked", ["Ha.nnah", "Hann.ah", "Oli.ver"])
def test_a_stray_full_stop_in_a_forename_still_finds_the_child(bg3k, asked) -> None:
    fn = "Hannah" if asked.startswith("Ha") else "Oliver"
    rec = Record("H1", forename=fn, surname="Whitfield", dob="2014-03-12",
                 sex="F" if fn == "Hannah" else "M", postcode="LS8 3HT",
                 address="5 Kerry Street")
    m = Matcher.from_records([*bg3k, rec])
    q = replace(rec, record_id="Q", forename=asked)
    assert _top(m, q)[:2] == ("H1", MATCH), _top(m, q)


@pytest.mark.parametrize("held, asked", [("O'Brien", "O.Brien"), ("OBrien", "O.Brien"),
                                         ("StJohn", "St.John"), ("Whitfield", "Whit.field")])
def test_a_full_stop_in_a_surname_still_finds_the_child(bg3k, held, asked) -> None:
    rec = Record("O1", forename="Hannah", surname=held, dob="2014-03-12", sex="F",
                 postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*bg3k, rec])
    q = replace(rec, record_id="Q", surname=asked, dob="2014-03", postcode="", address="")
    assert _top(m, q)[0] == "O1", _top(m, q)


# D3: a middle name given as an initial, or spelt another way, is no disagreement.
@pytest.mark.parametrize("held_fn, held_mid, asked_fn, asked_mid", [
    ("William", "James", "Bill", "J"),
    ("Alfred", "Muhammad", "Alfie", "Mohammed"),
    ("Katherine", "Louise", "Katie", "L"),
])
def test_a_nickname_and_a_middle_name_written_another_way_is_the_child(
        bg3k, held_fn, held_mid, asked_fn, asked_mid) -> None:
    sex = "F" if held_fn == "Katherine" else "M"
    rec = Record("N1", forename=held_fn, middle_names=held_mid, surname="Whitfield",
                 dob="2014-03-12", sex=sex, postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*bg3k, rec])
    q = replace(rec, record_id="Q", forename=asked_fn, middle_names=asked_mid)
    assert _top(m, q)[:2] == ("N1", MATCH), _top(m, q)
