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


def test_a_full_stop_between_letters_separates_names() -> None:
    assert name_parts("M.D.") == ("M", "D")
    assert name_parts("Md.Abdul") == ("MD", "ABDUL")
    assert name_parts("Md. Abdul") == ("MD", "ABDUL")
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
