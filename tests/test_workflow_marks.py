"""The workflow's arrival marks: stored once per listing when nothing was found (not once per
arrival, which serialised the whole window for each one), at once after an arrival that
found something, and the same mark either way."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store.arrivals import Mark
from gateway.workflow import monitoring
from gateway.workflow.monitoring import Arrival, MonitorWorker

ROWS = st.lists(st.fixed_dictionaries({"id": st.text("abc", min_size=1, max_size=3),
                                        "t": st.floats(0, 400, allow_nan=False)}),
                max_size=30)


@given(ROWS, ROWS)
def test_a_mark_after_several_rows_is_the_mark_after_each_in_turn(
        first: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    mark = Mark().after(first)
    stepwise = functools.reduce(lambda m, r: m.after([r]), rows, mark)
    assert mark.after(rows) == stepwise


def _worker(stored: list[str]) -> MonitorWorker:
    async def get(name: str) -> str:
        return stored[-1] if stored else ""
    gw = SimpleNamespace(store=SimpleNamespace(marks=SimpleNamespace(get=get)))
    return MonitorWorker(gw)  # type: ignore[arg-type]


@pytest.mark.parametrize("finds", [set(), {"r5"}])
async def test_the_mark_is_stored_once_a_listing_and_after_each_finding(
        monkeypatch: pytest.MonkeyPatch, finds: set[str]) -> None:
    stored: list[str] = []

    async def advance(gw: object, name: str, value: str) -> None:
        stored.append(value)

    async def match(gw: object, arrival: Arrival) -> int:
        return int(arrival.ref in finds)
    monkeypatch.setattr(monitoring, "_advance", advance)
    monkeypatch.setattr(monitoring, "match_watches", match)
    rows = [{"id": f"r{i}", "t": 100.0 + i} for i in range(10)]

    async def listing(mark: Mark) -> list[dict[str, Any]]:
        return [r for r in rows if r["id"] not in mark.seen]

    async def make(gw: object, row: dict[str, Any]) -> Arrival:
        return Arrival("message", row["id"], [], {})
    found = await _worker(stored).source("watch:test", listing, make)
    assert found == len(finds)
    assert Mark.loads(stored[-1]) == Mark().after(rows)
    if finds:  # stored right after r5 found something, then at the end
        assert len(stored) == 2 and Mark.loads(stored[0]) == Mark().after(rows[:6])
    else:
        assert len(stored) == 1
