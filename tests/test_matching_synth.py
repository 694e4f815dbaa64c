"""The synthetic generator's populations of names."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from gateway.testing.synth import generate


def _share(values: list[str]) -> tuple[str, float]:
    name, n = Counter(values).most_common(1)[0]
    return name, n / len(values)


def test_england_population_is_near_national_name_frequencies() -> None:
    recs = generate(20_000, 0, seed=7).records
    boys = [r.forename for r in recs if r.sex == "M"]
    girls = [r.forename for r in recs if r.sex == "F"]
    # ONS baby names for 2008-2020 births: the commonest name is about 2% of each sex;
    # Smith is about 1.2% of people in England.
    assert _share(boys)[1] < 0.03 and _share(girls)[1] < 0.03
    assert len(set(boys)) > 250 and len(set(girls)) > 250
    assert Counter(r.surname for r in recs)["Smith"] / len(recs) < 0.016


def test_concentrated_population_keeps_the_first_generator() -> None:
    data = generate(2000, 500, seed=5, population="concentrated")
    h = hashlib.sha256()
    for r in data.records + data.queries:
        # (fields added to Record since, empty in the generator's output, left out)
        h.update(repr(sorted((k, v) for k, v in r.to_dict().items()
                             if k != "nhs_number")).encode())
    h.update(repr(sorted(data.truth.items())).encode())
    # The same output, byte for byte, as the generator before populations existed
    # (commit 380b0aa), so earlier figures can be reproduced.
    assert h.hexdigest() == "0f5ff9451be49839f931dbef0108a3ed623e8f3eec1495109d59d3467f131142"
    boys = [r.forename for r in generate(20_000, 0, seed=7, population="concentrated").records
            if r.sex == "M"]
    assert _share(boys) == ("Oliver", pytest.approx(0.09, abs=0.01))


def test_unknown_population_is_refused() -> None:
    with pytest.raises(ValueError, match="population"):
        generate(10, 0, seed=1, population="wales")


def test_realistic_errors_resemble_real_linkage_data() -> None:
    from gateway.matching.normalise import name_key
    from gateway.testing.synth import generate_set

    data = generate_set("realistic", 6000, 3000, seed=9)
    recs = {r.record_id: r for r in data.records}
    pairs = [(q, recs[t]) for q in data.queries if (t := data.truth[q.record_id])]
    n = len(pairs)

    def share(agree: list[bool]) -> float:
        return sum(agree) / n

    # The figures for true pairs in real linkage data, with some slack.
    assert 0.62 < share([name_key(q.forename) == name_key(r.forename) for q, r in pairs]) < 0.75
    assert 0.66 < share([name_key(q.surname) == name_key(r.surname) for q, r in pairs]) < 0.80
    assert 0.95 < share([q.sex == r.sex for q, r in pairs]) < 0.99
    day = share([bool(q.dob and r.dob and q.dob.day == r.dob.day) for q, r in pairs])
    month = share([bool(q.dob and r.dob and q.dob.month == r.dob.month) for q, r in pairs])
    assert 0.94 < day < 0.99 and 0.89 < month < 0.96
    assert 0.84 < share([q.address == r.address for q, r in pairs]) < 0.94
    # Initials only in about 5% of enquiries.
    assert 0.03 < sum(len(q.forename) == 1 for q in data.queries) / len(data.queries) < 0.07
    # 2-3% of enquiries are about a child with no record, and each has a brother, sister
    # or twin who has one.
    absent = [qid for qid, t in data.truth.items() if t is None]
    assert 0.02 <= len(absent) / len(data.queries) <= 0.035
    assert all(data.household_of[qid] for qid in absent)
    # OCR damage of the kinds the issue lists is among the corruptions.
    assert sum("ocr" in tags for tags in data.tags.values()) > 0.1 * len(data.queries)


def test_unknown_error_model_is_refused() -> None:
    with pytest.raises(ValueError, match="errors"):
        generate(10, 0, seed=1, errors="perfect")


def test_the_families_set_makes_the_families_the_review_found() -> None:
    # Brothers all named Muhammad (known by their middle names), alike-named brothers and
    # sisters, and same-named cousins at one home: the cases the first generator never
    # made, where a matcher claims a real other child.
    from gateway.testing.synth import ALIKE_SIBLING_NAMES, generate_set

    d = generate_set("families", 20_000, 2000, 7)
    homes: dict[tuple[str, str], list] = {}
    for r in d.records:
        homes.setdefault((r.postcode, r.address), []).append(r)
    brothers = alike = cousins = 0
    pairs = {frozenset((a, b)) for a, _, b, _ in ALIKE_SIBLING_NAMES}
    for kids in homes.values():
        names = [k.forename for k in kids]
        if names.count("Muhammad") >= 2 and all(k.middle_names for k in kids
                                                if k.forename == "Muhammad"):
            brothers += 1
        if any(frozenset((a, b)) in pairs for a in names for b in names if a != b):
            alike += 1
        if any(names.count(n) >= 2 and len({k.dob for k in kids if k.forename == n}) >= 2
               for n in set(names) - {"Muhammad"}):
            cousins += 1
    assert brothers >= 20 and alike >= 20 and cousins >= 20, (brothers, alike, cousins)
    # A quarter of the enquiries are about children with no record, each with a brother,
    # sister, twin or cousin held.
    absent = [q for q, t in d.truth.items() if t is None]
    assert 0.2 < len(absent) / len(d.truth) < 0.3
    assert all(d.household_of[q] for q in absent)


def test_the_longtail_set_gives_children_rare_names_no_list_holds() -> None:
    # About 8% of children have a forename no list holds and no other child has, shaped
    # like their group's names; the closed lists alone never give an unseen real name.
    from gateway.matching.names import known_name
    from gateway.testing.synth import generate_set
    from gateway.testing.synth_names import GROUPS, MORE_NAMES

    d = generate_set("longtail", 20_000, 2000, 7)
    listed = {n for g in GROUPS.values() for n in g[1] + g[2]}
    listed |= {n for more in MORE_NAMES.values() for n in more[0] + more[1]}
    counts = Counter(r.forename for r in d.records)
    rare = [n for n, k in counts.items() if n not in listed and n]
    assert all(counts[n] == 1 for n in rare)
    assert 0.05 < len(rare) / len(d.records) < 0.11, len(rare) / len(d.records)
    assert sum(known_name(n.upper()) for n in rare) < len(rare) / 10
    assert all(3 <= len(n) <= 9 and n.isalpha() for n in rare)
    # The same seed gives the same names.
    again = generate_set("longtail", 20_000, 2000, 7)
    assert [r.forename for r in again.records] == [r.forename for r in d.records]
    # A quarter of the enquiries are about children with no record.
    absent = [q for q, t in d.truth.items() if t is None]
    assert 0.2 < len(absent) / len(d.truth) < 0.3
