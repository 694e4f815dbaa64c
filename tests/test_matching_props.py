"""Property tests: a record always matches itself; bands do not depend on record order."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.matching import MATCH, Matcher, Record
from gateway.testing.synth import generate
from gateway.testing.synth_names import GROUPS

FORENAMES = sorted({n for g in GROUPS.values() for n in g[1] + g[2]})
SURNAMES = sorted({n for g in GROUPS.values() for n in g[3]})

# Background children are born 2005-2008; generated ones 2009-2020, so no background
# record can be the generated child's double.
BACKGROUND = Matcher.from_records(
    r for r in generate(1500, 0, seed=21).records
    if r.dob is not None and r.dob.year <= 2008
)

postcodes = st.builds(
    lambda a, d, n, x, y: f"{a}{d} {n}{x}{y}",
    st.sampled_from(["LS", "M", "B", "E", "NG", "BD"]), st.integers(1, 20),
    st.integers(1, 9), st.sampled_from("ABDEFGHJ"), st.sampled_from("LNPQRSTUWXYZ"),
)
children = st.builds(
    Record,
    record_id=st.uuids().map(str),
    forename=st.sampled_from(FORENAMES),
    surname=st.sampled_from(SURNAMES) | st.tuples(
        st.sampled_from(SURNAMES), st.sampled_from(SURNAMES)).map("-".join),
    middle_names=st.sampled_from(["", *FORENAMES[:40]]),
    dob=st.dates(dt.date(2009, 1, 1), dt.date(2020, 12, 31)),
    sex=st.sampled_from(["M", "F", ""]),
    postcode=postcodes | st.just(""),
    address=st.integers(1, 200).map(lambda n: f"{n} High Street") | st.just(""),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(child=children)
def test_a_record_always_matches_itself(child: Record) -> None:
    BACKGROUND.add(child)
    try:
        query = replace(child, record_id="query")
        cands = BACKGROUND.match(query)
        assert cands[0].record_id == child.record_id
        assert cands[0].band == MATCH
    finally:
        BACKGROUND.remove(child.record_id)


def _household(base: Record, n: int, names: list[str], dobs: list[dt.date]) -> list[Record]:
    return [
        replace(base, record_id=f"{base.record_id}-{i}", forename=names[i], dob=dobs[i])
        for i in range(n)
    ]


families = st.builds(
    _household,
    base=children,
    n=st.integers(1, 4),
    names=st.lists(st.sampled_from(FORENAMES), min_size=4, max_size=4),
    # Repeated dates give twins.
    dobs=st.lists(st.sampled_from([dt.date(2012, 3, 4), dt.date(2014, 7, 1),
                                   dt.date(2012, 4, 3)]), min_size=4, max_size=4),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.lists(families, min_size=1, max_size=4),
    data=st.data(),
)
def test_bands_do_not_depend_on_record_order(groups: list[list[Record]], data: st.DataObject
                                             ) -> None:
    records = [r for g in groups for r in g]
    ids = [r.record_id for r in records]
    if len(set(ids)) != len(ids):
        return
    shuffled = data.draw(st.permutations(records))
    queries = [replace(r, record_id="q") for r in records]
    queries.append(replace(records[0], record_id="q", forename=""))  # twins ambiguity
    a = Matcher.from_records(records).match_many(queries)
    b = Matcher.from_records(shuffled).match_many(queries)
    assert [[(c.record_id, c.band, c.score) for c in cs] for cs in a] == [
        [(c.record_id, c.band, c.score) for c in cs] for cs in b
    ]
