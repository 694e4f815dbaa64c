"""Unit tests of the finer comparison levels, band rules and the wider second look-up.

One test per kind of handling, each with the sibling/twin trap it must not fall into.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, MatchConfig, Matcher, Record
from gateway.matching.synth import generate

HOME = {"surname": "Clarke", "postcode": "LS6 2QD", "address": "14 Orchard Grove"}
KIDS = [
    Record("K1", forename="Mia", dob="2016-04-03", sex="F", **HOME),
    Record("K2", forename="Oscar", dob="2012-10-21", sex="M", **HOME),
    # Twins: Daniel Jude and Henry; same-initial twins Harriet and Hannah.
    Record("K3", forename="Daniel", middle_names="Jude", dob="2014-07-09", sex="M",
           surname="Okafor", postcode="B8 1QQ", address="9 Alum Rock Road"),
    Record("K4", forename="Henry", dob="2014-07-09", sex="M", surname="Okafor",
           postcode="B8 1QQ", address="9 Alum Rock Road"),
    Record("K5", forename="Harriet", dob="2013-05-30", sex="F", surname="Novak",
           postcode="M14 5RT", address="2 Cedar Close"),
    Record("K6", forename="Hannah", dob="2013-05-30", sex="F", surname="Novak",
           postcode="M14 5RT", address="2 Cedar Close"),
    # Another child elsewhere whose forename is a real name one letter from Mia.
    Record("K7", forename="Mya", dob="2015-01-11", sex="F", surname="Hughes",
           postcode="NE4 7PL", address="30 Elm Street"),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    background = generate(3000, 0, seed=12).records
    return Matcher.from_records([*background, *KIDS])


def kid(record_id: str, **changes: object) -> Record:
    rec = next(r for r in KIDS if r.record_id == record_id)
    return replace(rec, record_id="Q", **changes)


def top(m: Matcher, query: Record) -> tuple[str, str, dict[str, str]]:
    c = m.match(query)[0]
    return c.record_id, c.band, c.explanation


# -- a forename spelling no record has is a typo of the record's name -----------------

def test_unseen_spelling_one_slip_from_a_short_name_is_a_typo(matcher: Matcher) -> None:
    rid, band, expl = top(matcher, kid("K1", forename="Mla"))
    assert (rid, band) == ("K1", MATCH)
    assert "typo" in expl["forename"]


def test_real_name_one_slip_away_is_only_loosely_similar(matcher: Matcher) -> None:
    # "Mya" is another child's name on file: with Mia's home and date of birth it could
    # be Mia's twin, so it must not be matched to Mia.
    rid, band, expl = top(matcher, kid("K1", forename="Mya"))
    assert rid == "K1" and band != MATCH
    assert "loosely similar" in expl["forename"]
    assert "twin" in expl["band_rule"]


def test_unseen_spelling_is_not_trusted_among_few_records() -> None:
    # Among a handful of records an unseen spelling may be a real name.
    small = Matcher.from_records(KIDS)
    rid, band, expl = top(small, kid("K1", forename="Mla"))
    assert rid == "K1" and band != MATCH
    assert "loosely similar" in expl["forename"]


def test_unseen_spelling_threshold_is_configurable() -> None:
    small = Matcher.from_records(KIDS, MatchConfig(unseen_forename_records=5))
    expl = top(small, kid("K1", forename="Mla"))[2]
    assert expl["forename"].startswith("forenames differ by a typo")


# -- partial dates of birth -----------------------------------------------------------

@pytest.mark.parametrize("dob", ["2016-04", "04/2016", "2016"])
def test_agreeing_partial_date_counts_for_the_child(matcher: Matcher, dob: str) -> None:
    c = matcher.compare(kid("K1", dob=dob), "K1")
    weight = float(c.explanation["dob"].rsplit("(", 1)[1].rstrip(")"))
    assert weight > 0, c.explanation["dob"]
    assert c.band == MATCH


def test_partial_date_of_a_sibling_born_another_year_is_not_a_match(matcher: Matcher) -> None:
    # Oscar's year with Mia's forename misspelt: a sibling's date cannot make a match.
    query = kid("K1", forename="Mla", dob="2012")
    assert all(c.band != MATCH for c in matcher.match(query))


# -- twins told apart by a middle name or an initial ----------------------------------

def test_twin_named_by_middle_name_is_matched(matcher: Matcher) -> None:
    rid, band, expl = top(matcher, kid("K3", forename="Jude", middle_names=""))
    assert (rid, band) == ("K3", MATCH), expl


def test_twin_named_by_initial_that_fits_only_one_twin_is_matched(matcher: Matcher) -> None:
    rid, band, expl = top(matcher, kid("K3", forename="D"))
    assert (rid, band) == ("K3", MATCH), expl


def test_twins_sharing_an_initial_are_not_guessed(matcher: Matcher) -> None:
    cands = matcher.match(kid("K5", forename="H"))
    assert {c.record_id for c in cands[:2]} == {"K5", "K6"}
    assert all(c.band != MATCH for c in cands)


def test_absent_triplet_with_a_twins_middle_name_as_forename_is_not_matched(
    matcher: Matcher,
) -> None:
    # A third child whose forename is Henry's initial letter and not Daniel's middle name.
    query = kid("K4", forename="Hugo")
    assert all(c.band != MATCH for c in matcher.match(query))


# -- wider second look-up ---------------------------------------------------------------

def test_missing_date_of_birth_after_a_move_is_still_found(matcher: Matcher) -> None:
    # No date of birth and a new home: none of the first keys (date of birth, postcode)
    # can find the child; the names-only second look-up does.
    query = kid("K2", dob=None, postcode="YO1 7HH", address="5 Minster Yard")
    assert "K2" in {c.record_id for c in matcher.match(query)}


def test_missing_postcode_and_wrong_date_found_by_address(matcher: Matcher) -> None:
    query = kid("K2", forename="Oskar", surname="Walsh", postcode="", dob="2012-10-12")
    cands = matcher.match(query)
    assert "K2" in {c.record_id for c in cands}
