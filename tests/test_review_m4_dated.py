"""Reproducers from the review of the two-part date rule (a9e5181): each asserts the safe
answer (never `match` for another child). D1-D5 failed on that commit and pass since."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from gateway.matching import MATCH, POSSIBLE, Matcher, Record
from gateway.matching.matcher import _name_bucket
from gateway.testing.synth import generate

FIRST = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Freya", "Leo", "Ivy",
         "Arthur", "Rosie", "Jack", "Elsie", "Harry", "Maya", "Oscar", "Lily", "Alfie",
         "Grace", "Henry", "Evie", "Jacob", "Ruby", "Thomas", "Poppy", "Charlie"]


def families(n: int, namesakes: int, seed: int = 7, tag: str = "F") -> list[Record]:
    """``n`` homes of two children; in ``namesakes`` of them the two share a forename."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.choice(FIRST)
        b = a if i < namesakes else rng.choice([f for f in FIRST if f != a])
        for j, fn in enumerate((a, b)):
            out.append(Record(f"{tag}{i}-{j}", forename=fn, surname=f"Fam{tag}{i}",
                              dob=f"{2010 + j * 2}-0{1 + i % 9}-1{i % 10}",
                              sex=rng.choice("MF"), postcode=f"ZZ{i % 90 + 10} 1AB",
                              address=f"{i} Long Road"))
    return out


def hostel(n: int, seed: int = 9) -> list[Record]:
    """Temporary accommodation: ``n`` unrelated children at one address."""
    rng = random.Random(seed)
    return [Record(f"TA{i}", forename=rng.choice(FIRST) + rng.choice(["", "a", "e", "o"]),
                   surname=f"Guest{i}", dob=f"{rng.randint(2009, 2020)}-"
                   f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", sex=rng.choice("MF"),
                   postcode="M1 1AA", address="1 Station Approach") for i in range(n)]


def _top(m: Matcher, q: Record) -> tuple[str, str, str]:
    c = m.match(q)[0]
    return c.record_id, c.band, c.explanation.get("band_rule", "")


KHAN = Record("K1", forename="Mohammed", middle_names="Hassan", surname="Khan",
              dob="2013-03-14", sex="M", postcode="BD8 7AA", address="12 Lumb Lane")
# His absent brother "Mohammed Khan" (known as Yusuf), born 2016-03-02: two parts differ.
BROTHER = replace(KHAN, record_id="Q", middle_names="", dob="2016-03-02")


def test_hostel_pairs_of_unrelated_children_swamp_the_namesake_share() -> None:  # D1
    base = [*families(600, 24), KHAN]          # families share forenames 4% of the time
    m0 = Matcher.from_records(base)
    assert m0._namesake_share() > 1 / 64
    assert _top(m0, BROTHER)[:2] == ("K1", POSSIBLE)
    m = Matcher.from_records([*base, *hostel(120)])
    top = _top(m, BROTHER)
    assert top[:2] != ("K1", MATCH), (m._namesake_share(), top)


def test_namesake_brothers_under_one_spelling_do_not_clear_another_spelling() -> None:  # D2
    muh = [Record(f"M{i}-{j}", forename="Muhammad", middle_names=mid, surname=f"Hussain{i}",
                  dob=f"{2011 + 2 * j}-05-1{i}", sex="M", postcode="BD3 9AA",
                  address=f"{i + 1} Mill Lane") for i in range(8)
           for j, mid in enumerate(("Ali", "Bilal"))]
    m = Matcher.from_records([*families(1500, 0), *muh, KHAN])
    assert m._name_namesake_share("MUHAMMAD") > 0.1
    top = _top(m, BROTHER)
    assert top[:2] != ("K1", MATCH), (m._name_namesake_share("MOHAMMED"), top)


def test_one_namesake_pair_in_thirteen_fails_the_per_name_check() -> None:  # D2 stats
    recs = families(1500, 0, tag="A")
    for i in range(13):
        recs += [Record(f"H{i}-0", forename="Reuben", surname=f"Dale{i}", dob="2012-04-11",
                        sex="M", postcode="YO1 1AA", address=f"{i + 1} Bar Lane"),
                 Record(f"H{i}-1", forename="Reuben" if i == 0 else "Isla", surname=f"Dale{i}",
                        dob="2014-08-03", sex="M" if i == 0 else "F", postcode="YO1 1AA",
                        address=f"{i + 1} Bar Lane")]
    m = Matcher.from_records(recs)
    assert m._name_namesakes[_name_bucket("REUBEN")] == 1
    assert m._name_namesake_share("REUBEN") > 1 / 64, m._name_namesake_share("REUBEN")


def test_absent_twin_of_a_held_sister_is_not_claimed_as_the_namesake_brother() -> None:  # D3
    ali = Record("S1", forename="Muhammad", middle_names="Ali", surname="Begum",
                 dob="2014-01-05", sex="M", postcode="E1 2AB", address="7 Hanbury Street")
    aisha = replace(ali, record_id="S2", forename="Aisha", middle_names="", sex="F",
                    dob="2014-12-20")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, ali, aisha])
    top = _top(m, replace(ali, record_id="Q", middle_names="", dob=aisha.dob))
    assert top[:2] != ("S1", MATCH), top


def test_namesake_cousin_next_door_with_postcode_only_is_not_claimed() -> None:  # D4
    adam = Record("C1", forename="Adam", surname="Hussain", dob="2012-09-04", sex="M",
                  postcode="BD8 7AA", address="12 Lumb Lane")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, adam])
    top = _top(m, replace(adam, record_id="Q", address="", dob="2012-02-17"))
    assert top[:2] != ("C1", MATCH), top


def test_compare_agrees_with_match_for_a_cousin_with_a_damaged_address() -> None:  # D5
    bg = generate(3000, 0, seed=13).records
    c1 = Record("C1", forename="Jack", surname="Whitaker", dob="2012-01-05", sex="M",
                postcode="LS8 3HT", address="5 Kerry Street")
    c2 = replace(c1, record_id="C2", dob="2012-11-20", postcode="", address="5 Kery Street")
    m = Matcher.from_records([*bg, c1, c2])
    q = replace(c2, record_id="Q", postcode="LS8 3HT", address="5 Kerry Street",
                dob="2012-06-15")
    assert next(c for c in m.match(q) if c.record_id == "C1").band != MATCH
    assert m.compare(q, "C1").band != MATCH


def test_home_counts_follow_any_sequence_of_adds_removes_and_reimports() -> None:
    rng = random.Random(3)
    homes = [("LS1 1AA", "1 A Street"), ("LS1 1AA", "2 A Street"), ("", "3 B Road"),
             ("LS2 2BB", ""), ("LS2 2BB", "4 C Close")]
    dobs = ["2012-01-05", "2014-07-09", "2014-07-09", "2013", "2015-02", "", "2016-11-30"]
    names = ["Jack", "Jack", "Jak", "Amy", "", "Noah"]
    surnames = ["Lee", "Lee", "Lee-Khan", "Khan"]

    def rec(i: int) -> Record:
        pc, addr = rng.choice(homes)
        return Record(f"R{i}", forename=rng.choice(names), surname=rng.choice(surnames),
                      dob=rng.choice(dobs), sex="M", postcode=pc, address=addr)

    m = Matcher()
    held: dict[str, Record] = {}
    for _ in range(1500):
        i = rng.randrange(12)
        if rng.random() < 0.3 and f"R{i}" in held:
            m.remove(f"R{i}")
            del held[f"R{i}"]
        else:
            r = rec(i)
            m.add(r)
            held[r.record_id] = r
        fresh = Matcher.from_records(held.values())
        assert (m._home_pairs, m._home_namesakes) == (fresh._home_pairs, fresh._home_namesakes)
        assert m._name_pairs == fresh._name_pairs
        assert m._name_namesakes == fresh._name_namesakes
        assert dict(m._homes) == dict(fresh._homes)


# -- second review (c19cb63) --------------------------------------------------------------

def _families_with_blanks(n: int, namesakes: int, blanks: int = 0,
                          seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.choice(FIRST)
        b = a if i < namesakes else rng.choice([f for f in FIRST if f != a])
        for j, fn in enumerate((a, b) + ("",) * blanks):
            out.append(Record(f"F{i}-{j}", forename=fn, surname=f"Fam{i}",
                              dob=f"{2008 + j * 2}-0{1 + i % 9}-1{i % 10}",
                              sex=rng.choice("MF"), postcode=f"ZZ{i % 90 + 10} 1AB",
                              address=f"{i} Long Road"))
    return out


def test_children_with_no_forename_do_not_dilute_the_namesake_share() -> None:  # E1
    m0 = Matcher.from_records([*_families_with_blanks(600, 24), KHAN])  # 4%: veto kept
    assert m0.match(BROTHER)[0].band != MATCH
    m = Matcher.from_records([*_families_with_blanks(600, 24, blanks=2), KHAN])
    top = m.match(BROTHER)[0]
    assert not (top.record_id == "K1" and top.band == MATCH), (m._namesake_share(), top)


def test_brothers_recorded_as_md_and_muhammad_count_as_namesakes() -> None:  # E2
    md = [Record(f"M{i}-{j}", forename=fn, middle_names=mid, surname=f"Uddin{i}",
                 dob=f"{2011 + 2 * j}-05-1{i}", sex="M", postcode="E1 9AA",
                 address=f"{i + 1} Brick Lane")
          for i in range(8) for j, (fn, mid) in enumerate((("Md", "Abdul"),
                                                           ("Muhammad", "Rahim")))]
    m = Matcher.from_records([*families(1500, 0), *md, KHAN])
    top = m.match(BROTHER)[0]
    assert not (top.record_id == "K1" and top.band == MATCH), (
        m._name_namesake_share("MOHAMMED"), top)


def test_home_counts_when_a_home_crosses_the_household_bound_and_records_move() -> None:
    rng = random.Random(5)
    homes = [("LS1 1AA", "1 A Street"), ("LS1 1AA", "2 A Street")]
    names = ["Jack", "Jack", "Jak", "Amy", "", "Noah", "Muhammad", "Mohammed", "Md", "J"]

    def rec(i: int) -> Record:
        pc, addr = homes[0] if rng.random() < 0.85 else homes[1]
        return Record(f"R{i}", forename=rng.choice(names),
                      surname=rng.choice(["Lee", "Lee-Khan"]),
                      dob=f"20{rng.randint(10, 19)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                      sex="M", postcode=pc, address=addr)

    m, held = Matcher(), {}
    for step in range(600):
        i = rng.randrange(70)
        if rng.random() < 0.2 and f"R{i}" in held:
            m.remove(f"R{i}")
            del held[f"R{i}"]
        else:
            r = rec(i)  # add or re-import (possibly to the other home)
            m.add(r)
            held[r.record_id] = r
        if step % 7 == 0:
            fresh = Matcher.from_records(held.values())
            assert (m._home_pairs, m._home_namesakes) == (fresh._home_pairs,
                                                          fresh._home_namesakes)
            assert m._name_pairs == fresh._name_pairs
            assert m._name_namesakes == fresh._name_namesakes
    assert max(len(k) for k in m._homes.values()) > 40


# E3 (older than the two-part date rule): an absent twin whose name is alike the held
# twin's. Two short forms that meet only in a formal name (Daisy and Maisie through
# Margaret, Alfie and Freddie through Alfred) are names of their own: at the same home
# and birthday they are now held at "possible" (names.sibling_forms). A name one letter
# from the held twin's that no record holds and no list knows (Amara beside Amira), or one
# with the same sound key (Layla beside Lola), is still read as a slip of the child's:
# known limitations, as Nilou beside Willow (tests/test_review_m1_matching.py).
@pytest.mark.parametrize("held, twin", [
    ("Daisy", "Maisie"),
    ("Alfie", "Freddie"),
    pytest.param("Amira", "Amara", marks=pytest.mark.xfail(
        strict=True, reason="an unheld, unlisted name one letter away reads as a typo")),
    pytest.param("Lola", "Layla", marks=pytest.mark.xfail(
        strict=True, reason="the same sound key reads as a spelling of the one name")),
])
def test_absent_twin_with_an_alike_name_is_not_claimed(held: str, twin: str) -> None:
    sex = "M" if held == "Alfie" else "F"
    rec = Record("T1", forename=held, surname="Ashworth", dob="2016-05-04", sex=sex,
                 postcode="BS5 9QQ", address="43 Mina Road")
    m = Matcher.from_records([*generate(3000, 0, seed=13).records, rec])
    top = m.match(replace(rec, record_id="Q", forename=twin))[0]
    assert not (top.record_id == "T1" and top.band == MATCH), top.explanation
