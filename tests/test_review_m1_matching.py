"""Reproducers from the review of the issue-14 second pass: each asserts the safe behaviour
(never `match` for a different child). They failed on the pass as first written (sole
namesake, a typo against a different sex, the dates weighed as realistic errors), which was
taken back; the household key is bounded and looked up with the first keys.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.matching import MATCH, Matcher, Record
from gateway.testing.synth import generate


@pytest.fixture(scope="module")
def bg3k() -> list[Record]:
    return generate(3000, 0, seed=13).records


@pytest.fixture(scope="module")
def bg10k() -> list[Record]:
    return generate(10000, 0, seed=13).records


def _home(rid: str, **kw: object) -> Record:
    base = dict(surname="Whitaker", postcode="LS8 3HT", address="5 Kerry Street")
    base.update(kw)
    return Record(rid, **base)  # type: ignore[arg-type]


# -- (5) a "close" forename that is no held name outweighs a different sex -------------

@pytest.mark.parametrize("held_fn, held_sex, twin_fn, twin_sex", [
    ("Reese", "F", "Reece", "M"),   # REGRESSION: opposite-sex twins Reese and Reece
    ("Kian", "M", "Kiana", "F"),    # REGRESSION: opposite-sex twins Kian and Kiana
])
def test_opposite_sex_twin_with_an_unheld_real_name_is_not_claimed(
        bg3k, held_fn, held_sex, twin_fn, twin_sex) -> None:
    held = Record("T1", forename=held_fn, dob="2016-05-04", sex=held_sex, surname="Ashworth",
                  postcode="BS5 9QQ", address="43 Mina Road")
    m = Matcher.from_records([*bg3k, held])
    # The held child's opposite-sex twin, who has no record here (not on any roll).
    q = replace(held, record_id="Q", forename=twin_fn, sex=twin_sex)
    top = m.match(q)[0]
    assert not (top.record_id == "T1" and top.band == MATCH), top.explanation


# -- (6) _sole_namesake: "the record's forename (or a listed nickname)" -------------------
# The nickname lists link distinct given names that are common as brother/sister names
# (Emily/Amelia, Alfie/Freddie via Alfred, Harry/Henry, Ella/Ellie, Hannah/Anna). The
# synthetic generator never gives siblings nickname-equivalent names, so the evaluation
# cannot see this.

def test_sister_amelia_sharing_a_middle_name_is_not_claimed_as_emily(bg10k) -> None:
    # REGRESSION: Emily Rose (held) and her sister Amelia Rose (no record), 2.5 years apart.
    emily = _home("S1", forename="Emily", middle_names="Rose", dob="2013-04-02", sex="F")
    m = Matcher.from_records([*bg10k, emily])
    q = replace(emily, record_id="Q", forename="Amelia", dob="2015-09-10")
    top = m.match(q)[0]
    assert not (top.record_id == "S1" and top.band == MATCH), top.explanation


@pytest.mark.parametrize("held_fn, sib_fn, sex", [
    ("Alfie", "Freddie", "M"),   # REGRESSION
    ("Harry", "Henry", "M"),     # REGRESSION
    ("Emily", "Amelia", "F"),    # REGRESSION
    ("Hannah", "Anna", "F"),     # REGRESSION
])
def test_sibling_born_the_same_calendar_year_with_a_nickname_equivalent_name(
        bg3k, held_fn, sib_fn, sex) -> None:
    # Siblings born 11.5 months apart (January and December of one year: dob level "year").
    held = _home("S1", forename=held_fn, dob="2013-01-05", sex=sex)
    m = Matcher.from_records([*bg3k, held])
    q = replace(held, record_id="Q", forename=sib_fn, dob="2013-12-20")
    top = m.match(q)[0]
    assert not (top.record_id == "S1" and top.band == MATCH), top.explanation


def test_same_named_cousin_three_years_apart_is_not_claimed(bg10k) -> None:
    # REGRESSION: two cousins "Mohammed Ali Whitaker" at one home; only one has a record.
    held = _home("S1", forename="Mohammed", middle_names="Ali", dob="2011-01-05", sex="M")
    m = Matcher.from_records([*bg10k, held])
    q = replace(held, record_id="Q", dob="2014-08-20")
    top = m.match(q)[0]
    assert not (top.record_id == "S1" and top.band == MATCH), top.explanation


@pytest.mark.parametrize("cousin_pc, cousin_addr", [
    ("", "5 Kery Street"),          # REGRESSION: postcode missing, one-letter street typo
    ("LS8 3HF", "5 Kery Street"),   # REGRESSION: postcode slip, one-letter street typo
])
def test_same_named_cousin_held_with_a_damaged_address_blocks_sole_namesake(
        bg3k, cousin_pc, cousin_addr) -> None:
    # Two cousins called Jack Whitaker at one home, both held. compare.location() calls
    # the cousin's record the same home, and match() scores it exactly as high as C1, but
    # _sole_namesake only looks the home up by exact ("ps", postcode) and ("a", address)
    # keys, so it does not see the cousin and lifts C1's "different dates of birth" cap.
    c1 = _home("C1", forename="Jack", dob="2012-01-05", sex="M")
    c2 = _home("C2", forename="Jack", dob="2012-11-20", sex="M", postcode=cousin_pc,
               address=cousin_addr)
    m = Matcher.from_records([*bg3k, c1, c2])
    q = replace(c2, record_id="Q", postcode="LS8 3HT", address="5 Kerry Street",
                dob="2012-06-15")  # C2's form with the month and the day wrong
    cands = m.match(q)
    assert {c.record_id for c in cands[:2]} == {"C1", "C2"}
    assert cands[0].score == cands[1].score  # a dead heat...
    assert cands[0].band != MATCH, [(c.record_id, c.band, c.score) for c in cands]  # ...claimed


def test_brother_charlie_with_no_sex_given_is_not_claimed_as_sister_charlotte() -> None:
    # REGRESSION: the sole-namesake lift requires only that sex is not *different*; an
    # enquiry with no sex and a nickname the lists give to both sexes passes. (A small
    # register, 1,000 records: the prior is at its floor.)
    held = _home("S1", forename="Charlotte", dob="2013-01-05", sex="F")
    m = Matcher.from_records([*generate(1000, 0, seed=13).records, held])
    q = replace(held, record_id="Q", forename="Charlie", sex="", dob="2013-12-20")
    top = m.match(q)[0]
    assert not (top.record_id == "S1" and top.band == MATCH), top.explanation


def test_an_enquiry_at_a_hostel_does_not_score_every_child_held_there() -> None:
    # The address is a second-look-up key for every enquiry with a full date of birth; at
    # a hostel address with 400 held children it must not make each enquiry there score
    # them all (the reviewer measured p50 0.31 -> 11 ms). Counted, not timed.
    import random
    data = generate(10000, 0, seed=21)
    rng = random.Random(5)
    sns = [r.surname for r in data.records]
    fns = [r.forename for r in data.records]

    def child(rid: str) -> Record:
        return Record(rid, forename=rng.choice(fns), surname=rng.choice(sns),
                      dob=f"{rng.randint(2009, 2020)}-{rng.randint(1, 12):02d}-"
                          f"{rng.randint(1, 28):02d}",
                      sex=rng.choice("MF"), postcode="M1 1AA", address="1 Station Approach")

    m = Matcher.from_records([*data.records, *(child(f"H{i}") for i in range(400))])
    scored: list[str] = []
    real_score = m._score

    def counting(q, qs, r):  # type: ignore[no-untyped-def]
        scored.append(r.record_id)
        return real_score(q, qs, r)

    m._score = counting  # type: ignore[method-assign]
    queries = [child(f"Q{i}") for i in range(50)]
    for q in queries:
        m.match(q)
    per_query = len(scored) / len(queries)
    assert per_query < 100, per_query


@pytest.mark.parametrize("n_records", [1000, 3000, 30000])
def test_brothers_both_named_muhammad_are_not_claimed_for_each_other(n_records) -> None:
    # Many British Pakistani/Bangladeshi families give every son the first name Muhammad
    # and call him by the middle name; an enquiry often drops the middle name. The held
    # brother Muhammad Ali (2011) and the enquiry's Muhammad (no middle name, born 2014,
    # same home and surname): "the record's forename" is no evidence of the same child.
    # a7a8167: match at 1,000 records (prior at its floor). e711a29 (dob "year"/"disagree"
    # m raised to 0.0028/0.0036): match at 1,000, 3,000 and 30,000 records.
    held = _home("S1", forename="Mohammed", middle_names="Ali", dob="2011-01-05", sex="M")
    m = Matcher.from_records([*generate(n_records, 0, seed=13).records, held])
    q = replace(held, record_id="Q", middle_names="", dob="2014-08-20")
    top = m.match(q)[0]
    assert not (top.record_id == "S1" and top.band == MATCH), (top.score, top.explanation)


# -- low severity -------------------------------------------------------------------------

@pytest.mark.xfail(strict=True, reason=(
    "known limitation (issue 14): a real name no held record has and no nickname list "
    "knows, within OCR/keying damage of the record's name (Nilou, 1.65 from Willow), is "
    "read as damage; the matcher has no list of real names beyond these"))
def test_absent_triplet_with_a_real_unheld_name_is_not_claimed(bg3k) -> None:
    # LOW: Willow and Poppy (twins) are held; their triplet Nilou (a real Persian name no
    # held record has) is asked about. "Nilou" is within OCR damage of "Willow", disagrees
    # with Poppy, so the twin is "apart", _lone skips it, and garbled+lone passes the twin
    # rule. 0de3005: possible ("a damaged forename, and another record on file could be
    # the child"); a7a8167: match. (Without Poppy on file the _real_name change alone
    # turns the same query from possible into match: Nilou was one slip from a held name.)
    tw = [Record(rid, forename=fn, dob="2015-08-21", sex="F", surname="Ashby",
                 postcode="BS5 9QP", address="41 Mina Road")
          for rid, fn in (("E2", "Willow"), ("E3", "Poppy"))]
    m = Matcher.from_records([*bg3k, *tw])
    top = m.match(replace(tw[0], record_id="Q", forename="Nilou"))[0]
    assert top.band != MATCH, top.explanation


def test_a_record_at_the_home_is_looked_up_even_when_another_is_placed(bg3k) -> None:
    from gateway.matching.compare import Prepared

    # The reviewer's case: with no postcode on the query, a record at its address with its
    # date of birth (both names damaged) scores above the second pass's bound, so when
    # another record is placed beyond it, the household must still be looked up.
    louie = Record("L1", forename="Louie", dob="2019-03-12", sex="M", surname="Taylor",
                   postcode="SO21 5RE", address="10 Laburnum Place")
    # Another child of the query's names and birthday at a "10 Laburnum Place" in another
    # town: with no postcode on the query, the same address text.
    other = Record("O1", forename="Rovie", dob="2019-03-12", sex="M", surname="Jayldr",
                   postcode="LS1 1AA", address="10 Laburnum Place")
    m = Matcher.from_records([*bg3k, louie, other])
    q = replace(louie, record_id="Q", forename="Rovie", surname="Jayldr", postcode="")
    cands = m.match(q, limit=5)
    # (O1 is placed beyond what the second pass's other keys could reach ...)
    p = Prepared.from_record(q)
    m._mark_spelling(p)
    assert cands[0].record_id == "O1"
    assert cands[0].score > m._deferred_bound(p, m._swapped(p)) + m.config.ambiguity_margin
    # (... and the household is looked up all the same.)
    assert any(c.record_id == "L1" for c in cands)
