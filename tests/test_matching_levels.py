"""Unit tests of the finer comparison levels, band rules and the wider second look-up.

One test per kind of handling, each with the sibling/twin trap it must not fall into.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, MatchConfig, Matcher, Record
from gateway.testing.synth import generate

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


# -- transliteration variants beyond metaphone -------------------------------------------

TRANSLIT = [
    Record("T1", forename="Umar", dob="2017-12-24", sex="M", surname="Malik",
           postcode="BS27 4TB", address="1 Springfield Close"),
    Record("T2", forename="Aisha", dob="2019-11-13", sex="F", surname="Kaur",
           postcode="ST5 2PU", address="31 School Place"),
]


@pytest.fixture(scope="module")
def translit() -> Matcher:
    background = generate(3000, 0, seed=13).records
    return Matcher.from_records([*background, *TRANSLIT])


@pytest.mark.parametrize(("rid", "variant"), [("T1", "Omar"), ("T2", "Ayesha")])
def test_transliteration_variant_at_the_same_home_is_a_match(
    translit: Matcher, rid: str, variant: str
) -> None:
    # Metaphone keeps the leading vowel and the Y (OMR/UMR, X/AYX): without the
    # transliteration key these were "loosely similar" and held back as a possible twin.
    query = replace(next(r for r in TRANSLIT if r.record_id == rid), record_id="Q",
                    forename=variant)
    got, band, expl = top(translit, query)
    assert (got, band) == (rid, MATCH)
    assert "sound alike" in expl["forename"]


def test_names_sharing_consonants_are_not_variants(translit: Matcher) -> None:
    # Amir shares Umar's consonants (MR) but is another name: at the same home with the
    # same date of birth it could be Umar's twin, never a match.
    query = replace(TRANSLIT[0], record_id="Q", forename="Amir")
    got, band, expl = top(translit, query)
    assert band != MATCH
    assert "sound alike" not in expl.get("forename", "")


# -- dates of birth: one keying slip ---------------------------------------------------------

def test_a_one_digit_slip_in_the_date_of_birth_is_its_own_level(matcher: Matcher) -> None:
    slip = matcher.compare(kid("K2", dob="2013-10-21", postcode="", address=""), "K2")
    other = matcher.compare(kid("K2", dob="2012-10-08", postcode="", address=""), "K2")
    assert "keying slip" in slip.explanation["dob"]
    assert "differs in one part" in other.explanation["dob"]
    assert slip.score > other.score


# -- an initial only ---------------------------------------------------------------------------

def test_an_initial_that_fits_counts_for_the_child(matcher: Matcher) -> None:
    # An initial is a property of the enquiry: when it fits, it is evidence for the child.
    got, band, expl = top(matcher, kid("K2", forename="O"))
    assert (got, band) == ("K2", MATCH)
    assert "initial" in expl["forename"] and "(+" in expl["forename"]


def test_an_initial_does_not_tell_same_initial_twins_apart(matcher: Matcher) -> None:
    got, band, _ = top(matcher, kid("K5", forename="H"))
    assert band != MATCH


# -- vetoes: valid UPNs that differ, sex and middle names without forename agreement -----

def test_different_valid_upns_forbid_a_match() -> None:
    from stdnum.gb import upn as stdnum_upn

    def upn(body: str) -> str:
        return stdnum_upn.calc_check_digit(body) + body

    held = replace(KIDS[1], upn=upn("801200007001"))
    m = Matcher.from_records([*generate(1500, 0, seed=16).records, held])
    got, band, expl = top(m, replace(held, record_id="Q", upn=upn("801200007002")))
    assert got == "K2" and band != MATCH
    assert "UPNs" in expl["band_rule"]


def test_different_sex_without_forename_forbids_a_match(matcher: Matcher) -> None:
    # No forename, the other sex, the same home and date of birth: a twin brother.
    got, band, expl = top(matcher, kid("K1", forename="", sex="M"))
    assert got == "K1" and band != MATCH
    assert "different sex" in expl["band_rule"]


def test_different_middle_names_without_forename_forbid_a_match(matcher: Matcher) -> None:
    got, band, expl = top(matcher, kid("K3", forename="", middle_names="Samuel"))
    assert band != MATCH


# -- one name only, given in the wrong box ----------------------------------------------------

def test_a_single_name_in_the_wrong_box_is_read_the_other_way(matcher: Matcher) -> None:
    c = matcher.compare(kid("K2", forename="Clarke", surname=""), "K2")
    assert "other way round" in c.explanation["names"]
    assert c.explanation["surname"].startswith("same surname")


# -- nickname with a slip; known nicknames are names, not slips -------------------------------

def test_unseen_slip_of_a_nickname_counts_as_the_nickname() -> None:
    # "Ollic": no record has it and it is no known name; one slip from Ollie (Olivia).
    held = Record("O1", forename="Olivia", surname="Goldman", dob="2009-05-19",
                  postcode="HD18 9BT", address="19 Grange Road")
    m = Matcher.from_records([*generate(1500, 0, seed=17).records, held])
    c = m.compare(replace(held, record_id="Q", forename="Ollic"), "O1")
    assert c.explanation["forename"].startswith("one forename is a nickname")
    assert c.band == MATCH


def test_a_known_nickname_is_not_a_slip_for_another_name(matcher: Matcher) -> None:
    # Dan is a name (Daniel); one letter from Jan does not make it Jan's typo.
    m = Matcher.from_records([*generate(1500, 0, seed=14).records,
                              Record("J1", forename="Jan", surname="Nowak", dob="2014-02-02",
                                     postcode="E1 6AN", address="3 Brick Lane")])
    c = m.compare(Record("Q", forename="Dan", surname="Nowak", dob="2014-02-02",
                         postcode="E1 6AN", address="3 Brick Lane"), "J1")
    assert c.band != MATCH


# -- batch workers give exactly the one-process answer ----------------------------------------

def test_parallel_batch_equals_one_process() -> None:
    data = generate(4000, 1200, seed=15)
    m = Matcher.from_records(data.records)
    one = m.match_many(data.queries, limit=2, explain=False)
    two = m.match_many(data.queries, limit=2, explain=False, workers=2)
    assert two == one
    assert sum(bool(c) and c[0].band == MATCH for c in one) > 500  # a real batch


# -- review findings: each a twin, sibling or namesake trap ------------------------------------

HOME2 = {"surname": "Harrow", "postcode": "LS6 2AB", "address": "12 Park Road",
         "dob": "2015-03-04"}


def _held(**fields: object) -> Matcher:
    return Matcher.from_records([*generate(3000, 0, seed=13).records,
                                 Record("H1", **{**HOME2, **fields})])  # type: ignore[arg-type]


@pytest.mark.parametrize(("held", "query"), [("Rohan", "Ryan"), ("Maria", "Omar"),
                                             ("Naomi", "Niamh"), ("Mina", "Minh"),
                                             ("Amara", "Umar")])
def test_different_names_with_alike_consonants_are_not_variants(held: str, query: str) -> None:
    # At the same home with the same date of birth these could be twins: never a match.
    m = _held(forename=held)
    c = m.match(Record("Q", **{**HOME2, "forename": query}))[0]
    assert c.record_id == "H1" and c.band != MATCH


def test_different_sex_with_a_nearly_equal_forename_is_not_a_match() -> None:
    # Ellie and Ollie are one letter apart; with a different sex they could be twins.
    m = _held(forename="Ellie", sex="F")
    c = m.match(Record("Q", **{**HOME2, "forename": "Ollie", "sex": "M"}))[0]
    assert c.band != MATCH
    assert "different sex" in c.explanation["band_rule"]


def test_a_single_forename_is_not_read_as_a_longer_surname() -> None:
    # A twin brother "Jack" (surname not given) is not Harry Jackson read the other way round.
    m = Matcher.from_records([*generate(3000, 0, seed=13).records,
                              Record("H1", forename="Harry", **{**HOME2, "surname": "Jackson"},
                                     sex="M")])
    c = m.match(Record("Q", forename="Jack", sex="M", **{k: v for k, v in HOME2.items()
                                                         if k != "surname"}))[0]
    assert c.band != MATCH
    assert "different forenames" in c.explanation["band_rule"]


@pytest.mark.parametrize(("forename", "middle"), [("James", "Oliver"), ("James Oliver", "")])
def test_forename_and_middle_name_the_other_way_round(forename: str, middle: str) -> None:
    m = _held(forename="Oliver", middle_names="James")
    c = m.match(Record("Q", **{**HOME2, "forename": forename, "middle_names": middle}))[0]
    assert (c.record_id, c.band) == ("H1", MATCH)


def test_a_temporary_upn_does_not_veto_the_permanent_one() -> None:
    from stdnum.gb import upn as stdnum_upn
    body = "801200007001"
    permanent = stdnum_upn.calc_check_digit(body) + body
    temp_body = "80120000700A"
    temporary = stdnum_upn.calc_check_digit(temp_body) + temp_body
    m = _held(forename="Oliver", upn=temporary)
    c = m.match(Record("Q", **{**HOME2, "forename": "Oliver", "upn": permanent}))[0]
    assert (c.record_id, c.band) == ("H1", MATCH)


def test_a_slip_in_the_day_still_finds_the_child_beside_a_namesake() -> None:
    # The child's day of birth is mistyped as another Oliver Smith's birthday. Only the
    # names + birth year key finds the child; it must be looked up although the namesake
    # already scores in the match band, and the two are too close to call.
    true = Record("TRUE", forename="Oliver", surname="Smith", dob="2015-03-04", sex="M",
                  postcode="LS6 2AB", address="12 Park Road")
    other = Record("OTHER", forename="Oliver", surname="Smith", dob="2015-03-14", sex="M",
                   postcode="M1 1AA", address="3 Mill Lane")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, true, other])
    cands = m.match(replace(true, record_id="Q", dob="2015-03-14"))
    assert {c.record_id for c in cands[:2]} == {"TRUE", "OTHER"}
    assert all(c.band != MATCH for c in cands)


def test_a_worker_that_dies_fails_the_batch_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    from concurrent.futures.process import BrokenProcessPool

    data = generate(1500, 600, seed=3)
    m = Matcher.from_records(data.records)
    parent, victim = os.getpid(), data.queries[400].record_id
    real = Matcher.match

    def dying(self: Matcher, q: Record, limit: int = 5, explain: bool = True) -> list:  # type: ignore[type-arg]
        if os.getpid() != parent and q.record_id == victim:
            os._exit(1)
        return real(self, q, limit, explain)

    monkeypatch.setattr(Matcher, "match", dying)
    with pytest.raises(BrokenProcessPool):
        m.match_many(data.queries, limit=2, explain=False, workers=2)


def test_parallel_batches_from_two_threads_keep_their_own_matchers() -> None:
    import threading

    a, b = generate(2000, 600, seed=31), generate(2000, 600, seed=32)
    ma, mb = Matcher.from_records(a.records), Matcher.from_records(b.records)
    want = {"a": ma.match_many(a.queries, 2, False), "b": mb.match_many(b.queries, 2, False)}
    got: dict[str, list] = {}  # type: ignore[type-arg]

    def run(name: str, m: Matcher, queries: list[Record]) -> None:
        got[name] = m.match_many(queries, 2, False, workers=2)

    threads = [threading.Thread(target=run, args=("a", ma, a.queries)),
               threading.Thread(target=run, args=("b", mb, b.queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


def test_an_unseen_name_that_starts_differently_is_not_a_typo() -> None:
    # No record has "Mariam"; it is loosely like Amira (JW 0.81) but starts differently:
    # another real name (a twin sister's), not a slip, so no match at Amira's home.
    m = _held(forename="Amira", surname="Khan")
    c = m.match(Record("Q", **{**HOME2, "forename": "Mariam", "surname": "Khan"}))[0]
    assert c.band != MATCH
    assert "loosely similar" in c.explanation["forename"]


def test_the_same_birthday_years_apart_is_a_different_child() -> None:
    m = _held(forename="Lena", middle_names="Zuzanna", sex="F")
    c = m.compare(Record("Q", **{**HOME2, "forename": "Lena", "middle_names": "Zuzanna",
                                 "sex": "F", "dob": "2009-03-04", "postcode": "",
                                 "address": ""}), "H1")
    assert c.band != MATCH
    assert "different dates of birth" in c.explanation["dob"]


def test_the_same_birthday_two_years_apart_is_not_a_slip() -> None:
    # 2015 and 2017 differ in one digit, but the same birthday two years apart is a
    # brother or sister, not a typo: an initial that fits does not make it a match.
    m = _held(forename="Jack", sex="M", dob="2015-03-14")
    c = m.match(Record("Q", **{**HOME2, "forename": "J", "sex": "M", "dob": "2017-03-14"}))[0]
    assert c.band != MATCH
    assert "different dates of birth" in c.explanation["dob"]


@pytest.mark.parametrize(("held", "query"), [("Amelia", "Amira"), ("Isabella", "Isla")])
def test_an_unseen_real_name_with_the_same_initial_is_not_a_typo(held: str, query: str) -> None:
    # A small authority holds neither Amira nor Isla; they are real names, not slips of
    # Amelia or Isabella, so at the same home and date of birth they could be twins.
    background = [r for r in generate(1200, 0, seed=41).records
                  if (r.forename or "").upper() != query.upper()]
    m = Matcher.from_records([*background,
                              Record("H1", **{**HOME2, "forename": held, "sex": "F"})])
    assert len(m) >= 1000 and query.upper() not in m._fn_count
    c = m.match(Record("Q", **{**HOME2, "forename": query, "sex": "F"}))[0]
    assert c.band != MATCH


def test_a_nickname_with_a_slip_does_not_outweigh_a_different_sex() -> None:
    # Albie is one slip from Allie, a form of Elsie (Elizabeth); a boy Albie at Elsie's
    # home with her date of birth could be her twin brother.
    m = _held(forename="Elsie", sex="F")
    c = m.match(Record("Q", **{**HOME2, "forename": "Albie", "sex": "M"}))[0]
    assert c.band != MATCH


def test_the_second_look_up_bound_holds_under_configured_weights() -> None:
    # With term frequencies off and a strong exact-forename weight, the child (a slip in
    # the month, found only by the later keys) scores above a same-birthday Zarah: it must
    # be found, and the two are too close to call.
    def rec(rid: str, fn: str, dob: str) -> Record:
        return Record(rid, forename=fn, surname="Smith", dob=dob, sex="F",
                      postcode="AB1 2CD", address="1 High Street")

    cfg = MatchConfig.from_dict({"tf_adjust": False,
                                 "weights": {"forename": {"exact": [0.99, 0.000001]}}})
    m = Matcher.from_records([rec("R1", "Zara", "2015-04-14"), rec("R2", "Zarah", "2015-03-14")],
                             cfg)
    cands = m.match(rec("Q", "Zara", "2015-03-14"), limit=3)
    assert [c.record_id for c in cands[:2]] == ["R1", "R2"]
    assert all(c.band != MATCH for c in cands)
