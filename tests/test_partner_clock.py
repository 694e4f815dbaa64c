"""Each partner's clock as its messages show it, on the diagnostics page and its JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.core.clock import ManualClock
from gateway.messages import model as m
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY, INBOUND
from tests.conftest import enquiry, pair


async def test_the_least_delay_of_the_day_estimates_a_partners_clock(aiohttp_client,
                                                                     tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    now = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
    clock = ManualClock(now)
    app = create_app(b.settings(api_token="op"), background=False, clock=clock)
    client = await aiohttp_client(app)
    gw, inbound = app[GATEWAY], app[INBOUND]
    from gateway.crypto import keys as k
    from gateway.crypto.dsig import Signer

    signer = Signer(k.load_private_key(a.path / "keys/gateway.key"),
                    k.load_certificate(a.path / "keys/gateway.pem"))

    async def arrive(created: dt.datetime) -> None:
        e = enquiry()
        e = m.Enquiry(**{**e.__dict__, "header": m.Header(**{**e.header.__dict__,
                                                               "created_at": created})})
        from gateway.messages import xml as mx
        await inbound.receive(signer.sign(mx.build(e)))

    await arrive(now - dt.timedelta(seconds=30))   # a retried message: 30 s on the way
    await arrive(now + dt.timedelta(seconds=120))  # 355's clock is 2 minutes ahead
    await arrive(now - dt.timedelta(seconds=5))
    clocks = await gw.store.inbox.clocks()
    assert clocks["355"]["min_delay"] == -120.0 and clocks["355"]["last_delay"] == 5.0
    r = await client.get("/v1/admin/diagnostics", headers={"Authorization": "Bearer op"})
    [row] = [p for p in (await r.json())["partners"] if p["party"] == "355"]
    assert row["clock_skew"]["estimate"] == -120.0 and row["clock_skew"]["status"] == "green"
    # a day later the estimate starts again
    clock.set(now + dt.timedelta(days=1, seconds=10))
    await arrive(now + dt.timedelta(days=1, seconds=8))
    assert (await gw.store.inbox.clocks())["355"]["min_delay"] == 2.0
