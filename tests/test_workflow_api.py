"""The workflow's operator API in process: each route's answers, and bad input as 4xx with a
stable code (never a 500)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.web.app import create_app
from tests.conftest import pair

H = {"Authorization": "Bearer op"}


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path):  # type: ignore[no-untyped-def]
    _, b = pair(tmp_path)
    return await aiohttp_client(create_app(b.settings(api_token="op"), background=False))


async def test_a_case_opened_moved_and_read_through_the_api(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.post("/v1/admin/cases", headers=H, json={
        "surname": "Nowak", "forename": "Ola", "category": 7, "referrer": "Police",
        "child_protection_plan": True, "year_group": "=cmd|' /C calc'!A0"})
    assert r.status == 201
    case_id = (await r.json())["case_id"]
    r = await client.post(f"/v1/admin/cases/{case_id}/move", headers=H,
                          json={"state": "closed", "why": "x"})
    assert r.status == 409 and (await r.json())["code"] == "case-transition"
    r = await client.post(f"/v1/admin/cases/{case_id}/move", headers=H,
                          json={"state": "logged", "why": "checked"})
    assert r.status == 200 and (await r.json())["status"] == "logged"
    r = await client.get(f"/v1/admin/cases/{case_id}", headers=H)
    body = await r.json()
    assert body["urgent"] and [e["kind"] for e in body["events"]][:2] == ["opened", "flag"]
    queue = await (await client.get("/v1/admin/queue", headers=H)).json()
    assert [c["case_id"] for c in queue["urgent_cases"]] == [case_id]
    r = await client.get("/v1/admin/reports?format=csv", headers=H)
    text = await r.text()
    assert r.content_type == "text/csv" and "'=cmd" in text and "\n=cmd" not in text
    notes = await (await client.get("/v1/admin/notifications", headers=H)).json()
    assert notes["items"][0]["kind"] == "safeguarding"


@pytest.mark.parametrize("method,path,body,code", [
    ("get", "/v1/admin/cases?category=0", None, "bad-request"),
    ("get", "/v1/admin/cases?state=lost", None, "bad-request"),
    ("post", "/v1/admin/cases", {"surname": "A"}, "bad-request"),
    ("post", "/v1/admin/cases", {"surname": "A", "forename": "B", "category": "x",
                                 "referrer": "r"}, "bad-request"),
    ("post", "/v1/admin/cases", {"surname": ["A"], "forename": "B", "category": 1,
                                 "referrer": "r"}, "bad-request"),
    ("post", "/v1/admin/cases", {"surname": "A", "forename": "B", "category": 1,
                                 "referrer": "r", "looked_after": "yes"}, "bad-request"),
    ("post", "/v1/admin/cases", {"surname": "A\u000b", "forename": "B", "category": 1,
                                 "referrer": "r"}, "bad-request"),
    ("get", "/v1/admin/cases/nope", None, "not-found"),
    ("post", "/v1/admin/cases/nope/move", {"state": "logged", "why": "x"}, "not-found"),
    ("post", "/v1/admin/cases/nope/events", {"kind": "gossip", "text": "x"}, "bad-request"),
    ("post", "/v1/admin/cases/nope/flag", {"why": "bored"}, "bad-request"),
    ("get", "/v1/admin/inbox/nope/proposal", None, "not-found"),
    ("post", "/v1/admin/inbox/nope/answer", {"approve": "yes"}, "bad-request"),
    ("get", "/v1/admin/monitoring?state=lost", None, "bad-request"),
    ("post", "/v1/admin/monitoring/nope/approve", {"outcome": "not-known"}, "bad-request"),
    ("post", "/v1/admin/monitoring/nope/approve", {}, "not-found"),
    ("post", "/v1/admin/monitoring/nope/dismiss", {"reason": " "}, "bad-request"),
    ("get", "/v1/admin/reports/termly?term=winter", None, "bad-request"),
    ("get", "/v1/admin/reports/termly?term=autumn+2026&census=2026-02-30", None,
     "bad-request"),
    ("get", "/v1/admin/reviews?within=x", None, "bad-request"),
])
async def test_bad_input_is_a_4xx_with_its_code(client, method, path, body, code) -> None:  # type: ignore[no-untyped-def]
    r = await getattr(client, method)(path, headers=H,
                                      data=json.dumps(body) if body is not None else None)
    assert 400 <= r.status < 500, await r.text()
    assert (await r.json())["code"] == code
