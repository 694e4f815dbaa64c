"""Reproducers from the review of the matching third pass (issue 14), kept as tests.

D1: absent twins whose real names Faker's lists lack (Quynh, Tzvi, Iqra) were claimed by the
heavy-damage rule; it is now opt-in, looks only at names of six letters or more, and needs
the sex given and the same. D2: the "loosely similar" veto was lifted without the surname
condition. D3/T1: with no surname, children of the home were missed unless the address was
given exactly as held, and the district-by-birthday competitors went untested.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, MatchConfig, Matcher, Record
from gateway.matching.normalise import name_parts
from gateway.testing.synth import generate

CONFIGS = [MatchConfig(), MatchConfig(heavy_damage=True)]


@pytest.fixture(scope="module")
def background() -> list[Record]:
    # IQRA is a generator name; an authority may hold none.
    return [r for r in generate(3000, 0, seed=13).records if r.forename.upper() != "IQRA"]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "heavy_damage"])
@pytest.mark.parametrize(("held", "twin", "sex"), [
    (Record("V1", forename="Huong", dob="2015-06-14", sex="F", surname="Nguyen",
            postcode="E8 2PB", address="14 Mare Street"), "Quynh", "F"),
    (Record("J1", forename="Ezra", dob="2016-02-03", sex="M", surname="Grunfeld",
            postcode="N16 6UN", address="22 Lampard Grove"), "Tzvi", "M"),
    (Record("Z1", forename="Zara", dob="2015-08-19", sex="F", surname="Hussain",
            postcode="BD8 7QJ", address="41 Toller Lane"), "Iqra", "F"),
    (Record("T1", forename="Tova", dob="2016-02-03", sex="F", surname="Grunfeld",
            postcode="N16 6UN", address="22 Lampard Grove"), "Tzvi", ""),
])
def test_d1_absent_twin_with_an_unlisted_real_name_is_not_claimed(
    background: list[Record], config: MatchConfig, held: Record, twin: str, sex: str,
) -> None:
    m = Matcher.from_records([*background, held], config)
    q = replace(held, record_id="Q", forename=twin, sex=sex)
    assert all(c.band != MATCH for c in m.match(q))


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "heavy_damage"])
def test_d2_the_loosely_similar_veto_keeps_its_surname_condition(
    background: list[Record], config: MatchConfig,
) -> None:
    ruby = Record("R1", forename="Ruby", dob="2015-07-21", sex="F", surname="Pickering",
                  postcode="HU5 2QS", address="12 Marlborough Avenue")
    m = Matcher.from_records([*background, ruby], config)
    for ch in ({"surname": "Okonkwo"}, {"surname": ""}, {"surname": "", "address": ""}):
        q = replace(ruby, record_id="Q", forename="Raubv", **ch)
        assert all(c.band != MATCH for c in m.match(q)), ch


def test_d3_no_surname_finds_the_children_of_the_home_however_the_address_is_given(
    background: list[Record],
) -> None:
    hannah = Record("H1", forename="Hannah", dob="2014-03-12", sex="F", surname="Whitfield",
                    postcode="LS8 3HT", address="5 Kerry Street")
    step = Record("H2", forename="Hannan", dob="2014-03-13", sex="F", surname="Iqbal",
                  postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*background, hannah, step])
    q = replace(hannah, record_id="Q", forename="Hrwwrh", surname="")
    for ch in ({}, {"address": ""}, {"address": "5 Kerry Streat"}):
        assert all(c.band != MATCH for c in m.match(replace(q, **ch))), ch


def test_t1_no_surname_a_child_born_that_day_in_the_district_is_a_competitor(
    background: list[Record],
) -> None:
    hannah = Record("H1", forename="Hannah", dob="2014-03-12", sex="F", surname="Whitfield",
                    postcode="LS8 3HT", address="5 Kerry Street")
    cousin = Record("H2", forename="Hannan", dob="2014-03-12", sex="F", surname="Iqbal",
                    postcode="LS8 4QD", address="77 Roundhay Road")
    q = replace(hannah, record_id="Q", forename="Hrwwrh", surname="")
    assert Matcher.from_records([*background, hannah]).match(q)[0].band == MATCH
    m = Matcher.from_records([*background, hannah, cousin])
    assert all(c.band != MATCH for c in m.match(q))


@pytest.mark.parametrize(("written", "folded"), [
    ("Səxavət", "SEXAVET"), ("Kwabɛna", "KWABENA"), ("Kɔfi", "KOFI"), ("Ħanna", "HANNA"),
    ("Ðan", "DAN"), ("Guðrún", "GUDRUN"), ("Ŋozi", "NGOZI"),
])
def test_d6_letters_nfkd_does_not_decompose_are_folded_not_dropped(
    written: str, folded: str,
) -> None:
    assert name_parts(written) == (folded,)


@pytest.mark.xfail(strict=True, reason=(
    "known limitation, older than this review: a spelling no held record has, two slips "
    "from the record's name with the same first letter, is read as a typo of it ('close'); "
    "an absent twin's real name the records lack (Xiaoyu beside Xiaoxue) is then claimed"))
def test_an_unseen_real_name_two_slips_from_the_twins_is_read_as_a_typo(
    background: list[Record],
) -> None:
    held = Record("X1", forename="Xiaoxue", dob="2014-09-30", sex="F", surname="Wang",
                  postcode="M14 5RB", address="8 Wilmslow Road")
    m = Matcher.from_records([*background, held])
    assert all(c.band != MATCH for c in m.match(replace(held, record_id="Q",
                                                            forename="Xiaoyu")))


@pytest.mark.parametrize(("written", "folded"), [
    ("Ɓala", "BALA"), ("Ɖeɖe", "DEDE"), ("Ɗanjuma", "DANJUMA"), ("Ʋiʋi", "VIVI"),
    ("Ƙasim", "KASIM"), ("Ǝmma", "EMMA"), ("Ȿam", "SAM"),
])
def test_p3_other_latin_letters_are_folded_by_their_names(written: str, folded: str) -> None:
    # Review p3: Ewe and Hausa letters were still dropped; any Latin letter NFKD leaves
    # whole now falls back to the letter its Unicode name gives.
    assert name_parts(written) == (folded,)


def test_heavy_damage_without_faker_is_refused_with_the_setting(
        monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Refused where the configuration is read (at start-up), not by the first enquiry.
    import importlib.util

    from gateway.matching.errors import MatchInputError
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "faker" else real(name, *a))
    with pytest.raises(ValueError, match="names' extra"):
        MatchConfig(heavy_damage=True)
    config = tmp_path / "gateway.toml"
    config.write_text("[matching]\nheavy_damage = true\n")
    with pytest.raises(MatchInputError) as info:
        MatchConfig.from_toml(config)
    assert info.value.code == "config-invalid"
