"""The forename vetoes rest on evidence: a competitor held on file, or a cited base rate.

A forename that OCR or keying damage explains, with everything else the record's, is the
child when no other held record could be; a twin, a namesake with the same surname and
birthday, or a brother or sister, whose name the query's could be, keeps it a
``possible``. Another real name, or a spelling no damage explains (what an unrecorded
twin looks like), keeps it a ``possible`` whatever is on file (the twin base rate).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, POSSIBLE, MatchConfig, Matcher, Record
from gateway.matching.compare import Prepared
from gateway.matching.matcher import UNSEEN_NAME_SHARE
from gateway.testing.synth import generate

KIDS = [
    # An only child.
    Record("E1", forename="Hannah", dob="2014-03-12", sex="F", surname="Whitfield",
           postcode="LS8 3HT", address="5 Kerry Street"),
    # Twins.
    Record("E2", forename="Willow", dob="2015-08-21", sex="F", surname="Ashby",
           postcode="BS5 9QP", address="41 Mina Road"),
    Record("E3", forename="Poppy", dob="2015-08-21", sex="F", surname="Ashby",
           postcode="BS5 9QP", address="41 Mina Road"),
    # A namesake elsewhere: same surname and birthday, another child.
    Record("E4", forename="Hannah", dob="2013-11-02", sex="F", surname="Pemberton",
           postcode="NE6 1AA", address="7 Heaton Road"),
    Record("E5", forename="Hannah", dob="2013-11-02", sex="F", surname="Pemberton",
           postcode="PL4 8QQ", address="90 Mutley Plain"),
    # A brother and sister at one home.
    Record("E6", forename="Hamish", dob="2015-01-19", sex="M", surname="Ormerod",
           postcode="M20 2RN", address="3 Burton Road"),
    Record("E7", forename="Hannah", dob="2014-01-19", sex="F", surname="Ormerod",
           postcode="M20 2RN", address="3 Burton Road"),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    background = generate(3000, 0, seed=13).records
    return Matcher.from_records([*background, *KIDS])


def kid(record_id: str, **changes: object) -> Record:
    rec = next(r for r in KIDS if r.record_id == record_id)
    return replace(rec, record_id="Q", **changes)


def top(m: Matcher, query: Record) -> tuple[str, str, str]:
    c = m.match(query)[0]
    return c.record_id, c.band, c.explanation.get("band_rule", "")


def test_an_ocr_damaged_forename_with_no_competitor_is_a_match(matcher: Matcher) -> None:
    # "Hrwwrh" is Hannah through a scanner (A read as R, N as W): with everything else
    # Hannah's and nobody else on file who could be the child, it is Hannah.
    q = kid("E1", forename="Hrwwrh")
    assert "damage" in matcher.compare(q, "E1").explanation["forename"]
    assert top(matcher, q)[:2] == ("E1", MATCH)


@pytest.mark.parametrize("forename", ["Hbxkah", "Grace", "Gracr", "Gwendolyn"])
def test_another_name_at_the_home_and_birthday_stays_possible(
    matcher: Matcher, forename: str
) -> None:
    # A spelling no damage explains (Hbxkah), another real name some held child has
    # (Grace), one slip from one (Gracr), a name the nickname lists know though no child
    # has it (Gwendolyn): what an unrecorded twin looks like (the twin base rate).
    assert all(c.band != MATCH for c in matcher.match(kid("E1", forename=forename))), forename


def test_a_damaged_forename_that_could_be_either_twins_stays_possible() -> None:
    # "Hiccie" is Millie damaged (M read as H, L as C) and as well Hallie damaged (A as I,
    # L as C): either twin could be the child.
    twins = [Record(rid, forename=fn, dob="2016-05-04", sex="F", surname="Ashworth",
                    postcode="BS5 9QQ", address="43 Mina Road")
             for rid, fn in (("T1", "Millie"), ("T2", "Hallie"))]
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *twins])
    q = replace(twins[0], record_id="Q", forename="Hiccie")
    assert all(c.band != MATCH for c in m.match(q))
    assert "could be the child" in m.compare(q, "T1").explanation["band_rule"]


def test_a_damaged_forename_that_is_no_twins_name_is_a_match(matcher: Matcher) -> None:
    # "Niccow" is Willow damaged (W read as N, L as C); Willow's twin on file is Poppy,
    # whose name no damage leads to "Niccow": the twin is no competitor, as a namesake
    # whose name the query's cannot be is none.
    q = kid("E2", forename="Niccow")
    assert "damage" in matcher.compare(q, "E2").explanation["forename"]
    assert top(matcher, q)[:2] == ("E2", MATCH)
    # With the twin's sex instead, the twin's name still cannot be the query's, but the
    # record's sex disagrees: only a real forename agreement outweighs that.
    assert top(matcher, kid("E2", forename="Niccow", sex="M"))[1] != MATCH


def test_a_damaged_forename_beside_a_namesake_with_the_birthday_stays_possible(
    matcher: Matcher,
) -> None:
    # Another Hannah Pemberton, born the same day elsewhere, could be the child.
    rid, band, rule = top(matcher, kid("E4", forename="Hrwwrh"))
    assert (rid, band) == ("E4", POSSIBLE) and "could be the child" in rule


def test_a_namesake_whose_forename_the_query_cannot_be_is_no_competitor() -> None:
    # Holly Pemberton, born the same day elsewhere: "Hrwwrh" is no damage of Holly.
    kids = [replace(k, forename="Holly") if k.record_id == "E5" else k for k in KIDS]
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *kids])
    assert top(m, kid("E4", forename="Hrwwrh"))[:2] == ("E4", MATCH)


def test_a_damaged_name_that_could_be_a_brothers_stays_possible(matcher: Matcher) -> None:
    # "Hamwrh" is damage of Hannah, but also a slip or two from her brother Hamish, at
    # the same home, born a year after her to the day: with her date of birth (one slip
    # from his) it could still be him, so neither is claimed.
    q = kid("E7", forename="Hamwrh")
    assert "damage" in matcher.compare(q, "E7").explanation["forename"]
    assert all(c.band != MATCH for c in matcher.match(q))


def test_a_brother_born_another_year_is_no_competitor() -> None:
    # The same brother born years apart could not be the child: Hannah is matched.
    kids = [replace(k, dob="2010-05-02") if k.record_id == "E6" else k for k in KIDS]
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *kids])
    assert top(m, kid("E7", forename="Hamwrh"))[:2] == ("E7", MATCH)


@pytest.mark.parametrize("forename", ["Hbxkah", "Grace", "Hamwrh", "Hrwwrh"])
def test_an_absent_sibling_is_never_matched(matcher: Matcher, forename: str) -> None:
    # A child with no record, born another day, at the Ormerods' home.
    q = Record("Q", forename=forename, dob="2016-09-04", sex="F", surname="Ormerod",
               postcode="M20 2RN", address="3 Burton Road")
    assert all(c.band != MATCH for c in matcher.match(q))


def test_an_absent_twin_with_a_real_name_is_never_matched(matcher: Matcher) -> None:
    # Hannah's twin, who has no record: same surname, home and birthday, a real name.
    for forename in ("Isla", "Freya", "Amelia", "Hanif"):
        assert all(c.band != MATCH for c in matcher.match(kid("E1", forename=forename)))


def test_among_few_records_a_damaged_forename_keeps_its_veto() -> None:
    # Among few records an unseen spelling may be a real name nobody else has.
    m = Matcher.from_records(KIDS)
    assert top(m, kid("E1", forename="Hrwwrh"))[1] == POSSIBLE


# -- a spelling no damage explains: the twin base rate against the unseen-name rate ---

@pytest.fixture(scope="module")
def large() -> Matcher:
    # The synthetic names are a closed list: among 20,000 records almost every real
    # forename is held, so an unseen spelling is seldom a real name (Good-Turing).
    # Opted in: MatchConfig.unrecognised_name_share (off by default).
    m = Matcher.from_records([*generate(20_000, 0, seed=13).records, *KIDS],
                             MatchConfig(unrecognised_name_share=UNSEEN_NAME_SHARE))
    assert m._unseen_share() < UNSEEN_NAME_SHARE
    return m


def test_an_unrecognisable_forename_is_the_child_where_real_names_are_all_seen(
    large: Matcher, matcher: Matcher,
) -> None:
    q = kid("E1", forename="Hbxkah")
    assert top(large, q)[:2] == ("E1", MATCH)
    # Among 3,000 records more real names are held only once: the veto stays.
    assert matcher._unseen_share() > UNSEEN_NAME_SHARE
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS],
                             MatchConfig(unrecognised_name_share=UNSEEN_NAME_SHARE))
    assert top(m, q)[1] == POSSIBLE
    # And by default it stays wherever the records are held.
    default = Matcher.from_records([*generate(20_000, 0, seed=13).records, *KIDS])
    assert top(default, q)[1] == POSSIBLE


@pytest.mark.parametrize(("record_id", "forename"), [
    ("E1", "Grace"),  # a real name
    ("E2", "Hbxkqw"),  # Willow has a twin on file
    ("E4", "Hbxkah"),  # another Hannah Pemberton born that day
    ("E1", "Xannha"),  # loosely similar... and still lone: see below
    ("E1", "F"),  # an initial that does not fit
    ("E1", "Fa"),
])
def test_an_unrecognisable_forename_keeps_its_veto_beside_evidence(
    large: Matcher, record_id: str, forename: str
) -> None:
    q = kid(record_id, forename=forename)
    if forename == "Xannha":  # loosely similar, no real name, nobody else: the child
        assert top(large, q)[:2] == ("E1", MATCH)
    else:
        assert all(c.band != MATCH for c in large.match(q))


def test_a_spelling_of_another_held_name_is_a_real_name(large: Matcher) -> None:
    # Yousef is unseen but sounds as Yusuf, held: a real name, what a twin looks like.
    extra = Record("Y1", forename="Yusuf", dob="2012-02-02", sex="M", surname="Aziz",
                   postcode="B8 1QQ", address="9 Alum Rock Road")
    m = Matcher.from_records([*generate(20_000, 0, seed=13).records, *KIDS, extra],
                             large.config)
    q = kid("E1", forename="Yousef", sex="F")
    assert "YOUSEF" not in m._fn_count and m._real_name("YOUSEF", "HANNAH")
    assert all(c.band != MATCH for c in m.match(q))


def test_names_read_the_other_way_round_are_not_weighed_as_lone(large: Matcher) -> None:
    # "Hrwwrh" in the surname box, the surname in the forename box: one guess is enough.
    q = kid("E1", forename="Whitfield", surname="Hrwwrh")
    assert all(c.band != MATCH for c in large.match(q))


# -- issue 14, second pass: what counts as a real name, twins, the household key --------

def test_a_damaged_spelling_is_a_real_name_only_where_another_name_explains_it_as_well(
) -> None:
    # "Filiot" shares a consonant key with Violet, but is Elliot misread (E as F, L as I):
    # Violet explains it worse than the damage does, so it is no real name.
    held = [Record("V1", forename="Violet", dob="2011-01-01", sex="F", surname="Moss",
                   postcode="LS1 1AA", address="1 Park Row"),
            Record("K1", forename="Kofi", dob="2012-01-01", sex="M", surname="Mensah",
                   postcode="LS2 2AA", address="2 Park Row")]
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, *held])
    assert not m._real_name("FILIOT", "ELLIOT")
    # "Jofi" is one slip from Kofi, held, which explains it better than Joel's damage.
    assert m._real_name("JOFI", "JOEL")


def test_a_twin_found_only_by_the_household_key_when_both_names_are_damaged() -> None:
    # Louie Taylor's form: both names misread and the year of birth a slip. No name
    # sound, birthday or postcode key finds him; his address does.
    louie = Record("L1", forename="Louie", dob="2019-03-12", sex="M", surname="Taylor",
                   postcode="SO21 5RE", address="10 Laburnum Place")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, louie])
    q = replace(louie, record_id="Q", forename="Lovie", surname="Tavldv", dob="2018-03-12")
    assert any(c.record_id == "L1" for c in m.match(q))


def test_no_forename_and_another_surname_is_never_a_match() -> None:
    # A child with no forename given and another surname, born a day from a child at the
    # same home: nothing names him; he could be that child's brother.
    kid_ = Record("P1", forename="Patrick", dob="2016-12-27", sex="M", surname="Fairwood",
                  postcode="BS3 1ET", address="20 New Grove")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, kid_])
    q = Record("Q", dob="2016-12-26", sex="M", surname="Greendale", postcode="BS3 1ET",
               address="20 New Grove")
    c = m.match(q)
    assert all(x.band != MATCH for x in c)
    assert "no forename given" in m.compare(q, "P1").explanation["band_rule"]


def test_a_moved_child_with_both_names_damaged_is_found_by_the_day_of_birth() -> None:
    # Benjamin Lockwood moved; his form was scanned: both names' first letters misread, so
    # no sound, initials, postcode or address key is shared, only the date of birth.
    ben = Record("B1", forename="Benjamin", dob="2013-04-17", sex="M", surname="Lockwood",
                 postcode="LS6 2QT", address="12 Cardigan Road")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, ben])
    q = Record("Q", forename="Wjamtn", dob="2013-04-17", sex="M", surname="Cockwood",
               postcode="YO10 5DD", address="3 Heslington Lane")
    assert any(c.record_id == "B1" for c in m.match(q))
    # A query whose names are both held spellings does not look there: nothing damaged.
    q2 = replace(q, forename="Oliver", surname="Smith")
    assert all(c.record_id != "B1" for c in m.match(q2))


def test_the_records_own_forename_with_two_parts_of_the_date_wrong_stays_possible(
) -> None:
    # Brothers may share a first name (many families name every son Muhammad and call him
    # by his middle name), cousins a name and a home: the record's own forename with
    # another date of birth could be either, so "could be a sibling" stays.
    held = Record("S1", forename="Mohammed", middle_names="Ali", dob="2011-01-05", sex="M",
                  surname="Whitaker", postcode="LS8 3HT", address="5 Kerry Street")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, held])
    q = replace(held, record_id="Q", middle_names="", dob="2014-08-20")
    assert "could be a sibling" in m.compare(q, "S1").explanation["band_rule"]
    assert all(c.band != MATCH for c in m.match(q))


def test_the_day_of_birth_look_up_does_not_claim_a_namesake_elsewhere() -> None:
    # "Gorge Oliver Lidwell", a child with no record: the day-of-birth look-up (his
    # forename is no held spelling) finds George Oliver Williams, born that day in another
    # town. Another surname and another home: not weighed (found on a held-out split).
    george = Record("G1", forename="George", middle_names="Oliver", dob="2016-11-23",
                    sex="M", surname="Williams", postcode="L7 9RA", address="7 South Close")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, george])
    q = Record("Q", forename="Gorge", middle_names="Oliver", dob="2016-11-23", sex="M",
               surname="Lidwell", postcode="E6 3BH", address="2 Albert Drive")
    assert all(c.record_id != "G1" or c.band != MATCH for c in m.match(q))


# -- issue 14, third pass: no surname given; heavy damage (opt-in) -------------------

HANNAH = Record("H1", forename="Hannah", dob="2014-03-12", sex="F", surname="Whitfield",
                postcode="LS8 3HT", address="5 Kerry Street")


@pytest.fixture(scope="module")
def background() -> list[Record]:
    return generate(3000, 0, seed=13).records


def test_no_surname_and_a_damaged_forename_at_the_records_home_and_birthday(
    background: list[Record],
) -> None:
    # No surname, "Hrwwrh" for Hannah: at her address, on her birthday, with nobody else
    # there or born that day nearby whose name it could be, it is Hannah.
    m = Matcher.from_records([*background, HANNAH])
    q = replace(HANNAH, record_id="Q", forename="Hrwwrh", surname="")
    assert top(m, q)[:2] == ("H1", MATCH)
    # Elsewhere, on another day, or with the postcode only: the damaged name is all that
    # is left to name her.
    for changes in ({"postcode": "LS6 1AA", "address": "9 Cardigan Road"},
                    {"dob": "2014-03-13"}, {"address": ""}):
        assert all(c.band != MATCH for c in m.match(replace(q, **changes))), changes


@pytest.mark.parametrize("cousin", [
    # Born that day at the same address, another surname, a name "Hrwwrh" could be.
    Record("H2", forename="Hannan", dob="2014-03-12", sex="F", surname="Iqbal",
           postcode="LS8 3HT", address="5 Kerry Street"),
    # Born that day elsewhere in the district (found by the day of birth in LS8).
    Record("H2", forename="Hannan", dob="2014-03-12", sex="F", surname="Iqbal",
           postcode="LS8 4QD", address="77 Roundhay Road"),
    # A step-sister at the address born the next day.
    Record("H2", forename="Hannan", dob="2014-03-13", sex="F", surname="Iqbal",
           postcode="LS8 3HT", address="5 Kerry Street"),
])
@pytest.mark.parametrize("address", ["5 Kerry Street", "5 Kerry Streat"])
def test_no_surname_every_child_of_the_home_or_born_that_day_nearby_is_a_competitor(
    background: list[Record], cousin: Record, address: str,
) -> None:
    m = Matcher.from_records([*background, HANNAH, cousin])
    q = replace(HANNAH, record_id="Q", forename="Hrwwrh", surname="", address=address)
    assert not m._lone(_prepared(m, q), m._records["H1"])
    assert all(c.band != MATCH for c in m.match(q))


def _prepared(m: Matcher, q: Record) -> Prepared:
    pq = Prepared.from_record(q)
    m._mark_spelling(pq)
    return pq


def test_far_damage_is_heavy_ocr_or_keying_damage_of_a_long_name() -> None:
    from gateway.matching.compare import damaged, far_damaged
    # Three confusions and one arbitrary letter in six: beyond ``damaged``.
    assert far_damaged("DRWTFL", "DANIEL") and not damaged("DRWTFL", "DANIEL")
    # Whatever ``damaged`` explains in a long name, heavy damage explains too.
    assert far_damaged("HRWWRH", "HANNAH")
    # Not a garble past recognition, another name, a length far off, or a short name
    # (where different names are this near by chance).
    for a, b in (("JDQCDE", "ADAEZE"), ("GRACE", "HANNAH"), ("ISLA", "HANNAH"),
                 ("NANCYANNE", "NANCY"), ("WAWIV", "NANCY"), ("CICV", "LILY"),
                 ("TZVI", "EZRA"), ("QUYNH", "HUONG")):
        assert not far_damaged(a, b), (a, b)
    # Two real names can be this near: why the name-shape test comes with it.
    assert far_damaged("HANIF", "HANNAH")


HEAVY = [
    # Twins: Daniel and Dominic.
    Record("N2", forename="Daniel", dob="2012-10-30", sex="M", surname="Harcourt",
           postcode="YO10 4DP", address="3 Heslington Lane"),
    Record("N3", forename="Dominic", dob="2012-10-30", sex="M", surname="Harcourt",
           postcode="YO10 4DP", address="3 Heslington Lane"),
    # No twin.
    Record("N4", forename="Daniel", dob="2011-03-03", sex="M", surname="Ormsby",
           postcode="DN1 2AB", address="6 Thorne Road"),
]
HEAVY_ON = MatchConfig(heavy_damage=True)


@pytest.fixture(scope="module")
def heavy(background: list[Record]) -> Matcher:
    return Matcher.from_records([*background, *HEAVY], HEAVY_ON)


def hkid(record_id: str, **changes: object) -> Record:
    rec = next(r for r in HEAVY if r.record_id == record_id)
    return replace(rec, record_id="Q", **changes)


def test_heavy_damage_that_is_no_name_with_everything_else_the_records_is_the_child(
    heavy: Matcher, background: list[Record],
) -> None:
    # "Drwtfl" is Daniel through a bad scanner: no held name explains it as well, it is
    # not shaped like a name, nobody else on file could be the child, and surname, date
    # of birth, sex and home are his.
    from gateway.matching import namelike
    q = hkid("N4", forename="Drwtfl")
    assert not heavy._real_name("DRWTFL", "DANIEL")
    assert not namelike.looks_like_a_name("DRWTFL")
    rid, band, rule = top(heavy, q)
    assert (rid, band) == ("N4", MATCH), rule
    # Only when asked: by default it stays a possible.
    default = Matcher.from_records([*background, *HEAVY])
    assert top(default, q)[1] == POSSIBLE


@pytest.mark.parametrize("changes", [
    {"dob": "2011-03-04"},  # a slip in the date as well: the damage is not enough
    {"sex": "F"},
    {"sex": ""},  # an absent twin may be of either sex
    {"postcode": "DN4 9ZZ", "address": "40 Bawtry Road"},  # moved
    {"surname": ""},  # no surname: the name is all damage
    {"surname": "Okonkwo"},  # another family's surname
    {"forename": "Xqztvb"},  # past recognition: not heavy damage of Daniel
])
def test_heavy_damage_needs_everything_else_to_be_the_records(
    heavy: Matcher, changes: dict[str, str],
) -> None:
    q = hkid("N4", **{"forename": "Drwtfl", **changes})
    assert all(c.band != MATCH for c in heavy.match(q)), changes


def test_heavy_damage_beside_a_twin_whose_name_it_could_be_stays_possible(
    heavy: Matcher,
) -> None:
    # Daniel's twin Dominic is on file: the twin is the evidence that keeps it possible.
    assert all(c.band != MATCH for c in heavy.match(hkid("N2", forename="Drwtfl")))


def test_a_name_no_list_holds_is_never_read_as_heavy_damage(background: list[Record]) -> None:
    # Hanif is heavy damage's distance from Hannah (a doubled N, a vowel, one letter) and,
    # among these records, no held name; it is shaped like a name, so at Hannah's home and
    # birthday it is what an unrecorded twin looks like: possible.
    from gateway.matching import namelike
    m = Matcher.from_records([*background, HANNAH], HEAVY_ON)
    assert "HANIF" not in m._fn_count and namelike.looks_like_a_name("HANIF")
    q = replace(HANNAH, record_id="Q", forename="Hanif")
    assert all(c.band != MATCH for c in m.match(q))


def test_a_damaged_forename_with_the_day_of_birth_missing_is_a_match_when_nobody_else_could_be(
        matcher: Matcher) -> None:
    # "Hrwwrh", born March 2014 (the day left out): Hannah, alone at her home, and nobody
    # else with her surname born that month could be her.
    assert top(matcher, kid("E1", forename="Hrwwrh", dob="2014-03"))[:2] == ("E1", MATCH)


def test_a_damaged_forename_with_the_day_missing_stays_possible_beside_a_namesake_that_month(
) -> None:
    # Another Hannah Whitfield, elsewhere, born later that March: either could be "Hrwwrh".
    other = Record("E8", forename="Hannah", dob="2014-03-28", sex="F", surname="Whitfield",
                   postcode="YO1 7HH", address="2 Petergate")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, *KIDS, other])
    assert top(m, kid("E1", forename="Hrwwrh", dob="2014-03"))[1] == POSSIBLE
    # With the whole date she is told apart from the namesake by the day.
    assert top(m, kid("E1", forename="Hrwwrh"))[:2] == ("E1", MATCH)


@pytest.mark.parametrize("held,asked", [
    (("Anne-Marie", ""), ("Annemarie", "")), (("Anne Marie", ""), ("Annemarie", "")),
    (("Anne", "Marie"), ("Annemarie", "")), (("Annemarie", ""), ("Anne-Marie", "")),
    (("John Paul", ""), ("Johnpaul", "")),
])
def test_a_two_part_forename_written_as_one_word_is_the_same_forename(
        held: tuple[str, str], asked: tuple[str, str]) -> None:
    """Anne-Marie held, Annemarie asked (or the other way round): one name, not a loosely
    similar one ("could be a twin")."""
    from gateway.matching.compare import forename

    home = dict(surname="Smith", dob="2014-05-06", sex="F", postcode="M30 7LP",
                address="12 Peel Street")
    r = Record("r", forename=held[0], middle_names=held[1], **home)  # type: ignore[arg-type]
    q = Record("q", forename=asked[0], middle_names=asked[1], **home)  # type: ignore[arg-type]
    assert forename(Prepared.from_record(q), Prepared.from_record(r)) == "exact"
    [best] = Matcher.from_records([r]).match(q, limit=1)
    assert best.band == MATCH


def test_a_forename_that_only_begins_with_the_held_one_is_not_joined() -> None:
    """Johnathan is not John + a middle name: only the held two parts, joined, count."""
    from gateway.matching.compare import forename

    home = dict(surname="Smith", dob="2014-05-06", sex="M", postcode="M30 7LP")
    r = Prepared.from_record(Record("r", forename="John", middle_names="Paul", **home))  # type: ignore[arg-type]
    q = Prepared.from_record(Record("q", forename="Johnathan", **home))  # type: ignore[arg-type]
    assert forename(q, r) != "exact"
