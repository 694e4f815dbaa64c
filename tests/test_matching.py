"""Unit tests of the matcher: one per kind of messy data and per sibling/twin trap."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from stdnum.gb import upn as stdnum_upn

from gateway.matching import MATCH, NO_MATCH, POSSIBLE, Candidate, MatchConfig, Matcher, Record
from gateway.testing.synth import generate


def make_upn(body: str) -> str:
    return stdnum_upn.calc_check_digit(body) + body


UPN_ALFRED = make_upn("801200005001")
UPN_UNKNOWN_LA = make_upn("000200005001")  # LA 000 is not in python-stdnum's list
UPN_FORMER = make_upn("330400012123")

FAMILY = [
    Record("R1", upn=UPN_ALFRED, forename="Alfred", middle_names="James",
           surname="Smith-Jones", dob="2015-03-04", sex="M", postcode="LS6 1AB",
           address="12 Acacia Road"),
    Record("R2", forename="Eleanor", surname="Smith-Jones", dob="2017-06-20", sex="F",
           postcode="LS6 1AB", address="12 Acacia Road"),
    # Same-sex twins.
    Record("R3", forename="Jack", surname="Brown", dob="2016-05-10", sex="M",
           postcode="M1 2AB", address="3 Mill Lane"),
    Record("R4", forename="Harry", surname="Brown", dob="2016-05-10", sex="M",
           postcode="M1 2AB", address="3 Mill Lane"),
    Record("R5", forename="Muhammad", middle_names="Ali", surname="Khan", dob="2014-11-02",
           sex="M", postcode="B8 1QQ", address="45 Alum Rock Road"),
    Record("R6", forename="James", surname="Walker", dob="2013-02-07", sex="M",
           postcode="NG7 2RD", address="8 Derby Road", upn=UPN_UNKNOWN_LA,
           former_upn=UPN_FORMER),
    Record("R7", forename="Zofia", surname="Wójcik", dob="2012-09-15", sex="F",
           postcode="SE15 4QL", address="Flat 2, 19 Peckham Hill Street"),
    Record("R8", forename="Chloe", surname="Taylor", dob="2011-01-22", sex="F",
           postcode="BD7 1DP", address="77 Great Horton Road"),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    # A background population makes the tests meaningful: the right child must win among
    # a few thousand others, including namesakes.
    background = generate(3000, 0, seed=11).records
    return Matcher.from_records([*background, *FAMILY])


def best(m: Matcher, query: Record) -> Candidate:
    cands = m.match(query)
    assert cands, "no candidate at all"
    return cands[0]


def q(base: str, **changes: object) -> Record:
    rec = next(r for r in FAMILY if r.record_id == base)
    fields: dict[str, object] = {"upn": "", "former_upn": "", **changes}
    return replace(rec, record_id="Q", **fields)


def assert_match(m: Matcher, query: Record, record_id: str) -> Candidate:
    c = best(m, query)
    assert (c.record_id, c.band) == (record_id, MATCH), c
    return c


def assert_no_match(m: Matcher, query: Record) -> None:
    assert all(c.band != MATCH for c in m.match(query)), m.match(query)


# -- clean and messy data -------------------------------------------------------------

def test_exact_details_match(matcher: Matcher) -> None:
    c = assert_match(matcher, q("R1"), "R1")
    assert c.explanation["forename"].startswith("same forename")


def test_forename_typo(matcher: Matcher) -> None:
    c = assert_match(matcher, q("R1", forename="Alferd"), "R1")
    assert "typo" in c.explanation["forename"]


def test_ocr_letter_confusion_in_surname(matcher: Matcher) -> None:
    assert_match(matcher, q("R8", surname="Tay1or"), "R8")  # digit 1 for letter l
    assert_match(matcher, q("R6", surname="VValker"), "R6")  # VV for W


@pytest.mark.parametrize(("base", "nick"), [("R1", "Alfie"), ("R2", "Ellie"), ("R6", "Jim")])
def test_nicknames(matcher: Matcher, base: str, nick: str) -> None:
    c = assert_match(matcher, q(base, forename=nick), base)
    assert "nickname" in c.explanation["forename"]


def test_forename_and_surname_swapped(matcher: Matcher) -> None:
    c = assert_match(matcher, q("R6", forename="Walker", surname="James"), "R6")
    assert "other way round" in c.explanation["names"]


def test_day_and_month_transposed(matcher: Matcher) -> None:
    c = assert_match(matcher, q("R6", dob="2013-07-02"), "R6")
    assert "swapped" in c.explanation["dob"]


@pytest.mark.parametrize("partial", ["2015-03", "03/2015"])
def test_partial_date_of_birth(matcher: Matcher, partial: str) -> None:
    c = assert_match(matcher, q("R1", dob=partial), "R1")
    assert "partial" in c.explanation["dob"]


@pytest.mark.parametrize("surname", ["Jones", "Smith", "Smith Jones", "SMITH-JONES"])
def test_double_barrelled_surname_in_full_or_one_part(matcher: Matcher, surname: str) -> None:
    assert_match(matcher, q("R1", surname=surname), "R1")


@pytest.mark.parametrize("variant", ["Mohammed", "Mohamed", "Muhammed", "Mohammad"])
def test_transliteration_variants(matcher: Matcher, variant: str) -> None:
    assert_match(matcher, q("R5", forename=variant), "R5")


def test_changed_surname_after_family_change(matcher: Matcher) -> None:
    c = assert_match(matcher, q("R8", surname="Evans"), "R8")
    assert "different surnames" in c.explanation["surname"]


@pytest.mark.parametrize("pc", ["ls61ab", "LS61AB", " ls6  1ab "])
def test_postcode_with_or_without_space(matcher: Matcher, pc: str) -> None:
    c = assert_match(matcher, q("R1", postcode=pc, address=""), "R1")
    assert c.explanation["location"].startswith("same postcode")


def test_accents_and_polish_letters(matcher: Matcher) -> None:
    assert_match(matcher, q("R7", surname="Wojcik"), "R7")


def test_several_errors_at_once(matcher: Matcher) -> None:
    query = q("R1", forename="Alfie", surname="Jones", dob="2015-04-03", postcode="ls61ab")
    assert_match(matcher, query, "R1")


# -- UPN ----------------------------------------------------------------------------

def test_valid_upn_is_decisive(matcher: Matcher) -> None:
    # Every other detail wrong: the UPN alone decides.
    query = Record("Q", upn=UPN_ALFRED.lower(), forename="Zed", surname="Nobody")
    c = assert_match(matcher, query, "R1")
    assert c.score == MatchConfig().upn_score
    assert "decisive" in c.explanation["upn"]


def test_upn_with_unknown_la_code_but_valid_check_letter_is_decisive(matcher: Matcher) -> None:
    assert not stdnum_upn.is_valid(UPN_UNKNOWN_LA)  # stdnum rejects the LA code ...
    query = Record("Q", upn=UPN_UNKNOWN_LA, forename="Zed", surname="Nobody")
    assert_match(matcher, query, "R6")  # ... but the check letter is right


def test_former_upn_is_decisive(matcher: Matcher) -> None:
    assert_match(matcher, Record("Q", upn=UPN_FORMER, forename="X"), "R6")


def test_upn_with_wrong_check_letter_is_not_decisive(matcher: Matcher) -> None:
    bad = ("A" if UPN_ALFRED[0] != "A" else "B") + UPN_ALFRED[1:]
    cands = matcher.match(Record("Q", upn=bad, forename="Zed", surname="Nobody"))
    assert not cands or cands[0].band != MATCH


def test_different_valid_upns_count_against(matcher: Matcher) -> None:
    other = make_upn("801200005999")
    with_upn = best(matcher, q("R1", upn=other))
    without = best(matcher, q("R1"))
    assert with_upn.record_id == "R1"
    assert with_upn.score < without.score
    assert "differ" in with_upn.explanation["upn"]


# -- siblings and twins ---------------------------------------------------------------

def test_sibling_at_same_address_is_not_taken_for_the_child(matcher: Matcher) -> None:
    # A younger brother with no record of his own: same surname, postcode and address.
    query = Record("Q", forename="Freddie", surname="Smith-Jones", dob="2019-01-05", sex="M",
                   postcode="LS6 1AB", address="12 Acacia Road")
    assert_no_match(matcher, query)
    c = best(matcher, query)
    assert c.band == NO_MATCH or "could be a sibling" in c.explanation.get("band_rule", "")


def test_dob_and_forename_disagreement_outweighs_surname_and_address(matcher: Matcher) -> None:
    sibling = Record("Q", forename="Freddie", surname="Smith-Jones", dob="2019-01-05",
                     sex="F", postcode="LS6 1AB", address="12 Acacia Road")
    scores = {c.record_id: c for c in matcher.match(sibling)}
    # Even before the band rules, the score is below the match threshold.
    assert all(c.score < MatchConfig().match_threshold for c in scores.values())


def test_sibling_with_similar_name_and_other_dob_is_not_a_match(matcher: Matcher) -> None:
    # "Eleanora" is close to Eleanor, but the date of birth is a different child's.
    query = q("R2", forename="Eleanora", dob="2019-02-11")
    assert_no_match(matcher, query)


def test_twin_is_told_apart_by_forename(matcher: Matcher) -> None:
    assert_match(matcher, q("R3"), "R3")
    assert_match(matcher, q("R4"), "R4")


def test_absent_triplet_is_not_taken_for_a_twin(matcher: Matcher) -> None:
    # Same date of birth, surname and address as R3/R4, different forename.
    query = q("R3", forename="Charlie")
    assert_no_match(matcher, query)
    assert "forename" in best(matcher, query).explanation["band_rule"]


def test_twin_with_forename_missing_is_not_guessed(matcher: Matcher) -> None:
    cands = matcher.match(q("R3", forename=""))
    assert {c.record_id for c in cands[:2]} == {"R3", "R4"}
    assert all(c.band == POSSIBLE for c in cands[:2])


# -- API behaviour --------------------------------------------------------------------

def test_candidate_to_dict_is_json_and_round_trips(matcher: Matcher) -> None:
    c = best(matcher, q("R1", forename="Alfie"))
    data = json.loads(json.dumps(c.to_dict()))
    assert Candidate.from_dict(data) == c
    assert set(data) == {"record_id", "score", "band", "explanation"}


def test_explanations_do_not_copy_personal_details(matcher: Matcher) -> None:
    c = best(matcher, q("R1", forename="Alfie"))
    text = " ".join(c.explanation.values()).lower()
    for value in ("alfie", "alfred", "smith", "jones", "2015", "ls6", "acacia"):
        assert value not in text


def test_no_personal_details_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway.matching"):
        m = Matcher.from_records(FAMILY)
        m.match(q("R1"))
    text = caplog.text.lower()
    assert "alfred" not in text and "acacia" not in text and "2015-03-04" not in text


def test_add_replaces_record_with_same_id() -> None:
    m = Matcher.from_records(FAMILY)
    moved = replace(FAMILY[7], postcode="LS1 4AP", address="1 Park Row")
    m.add(moved)
    assert len(m) == len(FAMILY)
    c = best(m, q("R8", postcode="LS1 4AP", address="1 Park Row"))
    assert c.record_id == "R8" and "same address" in c.explanation["location"]


def test_remove_record() -> None:
    m = Matcher.from_records(FAMILY)
    assert m.remove("R6") is True
    assert m.remove("R6") is False
    assert "R6" not in m
    assert all(c.record_id != "R6" for c in m.match(q("R6")))
    assert m.match(Record("Q", upn=UPN_ALFRED))[0].record_id == "R1"


def test_thresholds_come_from_config() -> None:
    strict = Matcher.from_records(FAMILY, MatchConfig.from_dict({"match_threshold": 60}))
    assert best(strict, q("R1")).band == POSSIBLE
    default = Matcher.from_records(FAMILY)
    assert best(default, q("R1")).band == MATCH


def test_limit_caps_candidates(matcher: Matcher) -> None:
    assert len(matcher.match(q("R3", forename=""), limit=1)) == 1


def test_match_many_equals_match(matcher: Matcher) -> None:
    queries = [q("R1"), q("R5", forename="Mohammed"), q("R3", forename="Charlie")]
    assert matcher.match_many(queries) == [matcher.match(x) for x in queries]
