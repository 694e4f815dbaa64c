"""Probe: a school-scoped client against path tricks and methods (expected to pass)."""
import pytest

from gateway.web.access import add_client
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY
from tests.conftest import make_home


@pytest.fixture
async def setup(aiohttp_client, tmp_path):
    home = make_home(tmp_path, "355", extra='api_token = "op-token"\n')
    app = create_app(home.settings(), background=False)
    client = await aiohttp_client(app)
    _, token = await add_client(app[GATEWAY].store, "Oak MIS", "school:3552001")
    return client, token


PATHS = ["/v1/admin/outbox", "/v1/admin/schools/3552001/ctf/../../../outbox",
         "/v1/admin/schools/3552001/ctf/..%2F..%2F..%2Foutbox",
         "/v1/admin/schools/3552001/ctf/%2e%2e/%2e%2e/%2e%2e/outbox",
         "/v1/admin/schools/3552002/ctf", "/v1/admin/schools/3552001/ctf/",
         "/v1/admin/schools/3552001%2Fctf", "/v1/admin//schools/3552001/ctf",
         "/v1/admin/schools/3552001/ctf/x/..", "/v1/admin/cases", "/v1/admin/inbox",
         "/v1/admin/transfers/x", "/v1//admin/outbox",
         "/v1/admin/schools/３５５２００１/ctf"]


async def test_school_scope(setup):
    client, token = setup
    h = {"Authorization": f"Bearer {token}"}
    ok = await client.get("/v1/admin/schools/3552001/ctf", headers=h)
    assert ok.status == 200
    leaks = []
    for p in PATHS:
        for method in ("GET", "HEAD", "OPTIONS", "POST"):
            r = await client.request(method, p, headers=h, skip_auto_headers=())
            if r.status == 200 or (200 <= r.status < 300):
                leaks.append((method, p, r.status, (await r.text())[:80]))
    assert not leaks, leaks
