"""The /outbox web page at 100,000 messages: an officer's page views over HTTP, end to end.

    python -m bench.outbox_page_bench [-n 100000] [--requests 400]

Makes a gateway home (keys, config) and fills its outbox with N messages over 50 partners, in
every state, each with a real signed Enquiry body (20 distinct signed enquiries of 1 to 3
children, reused: the page parses each row's body for its children, so the bodies are real;
their header ids differ from the rows' ids, which the page does not read). Then it serves the
real app on loopback, signs an officer in through the sign-in form, and times GET /outbox:
unfiltered, by state, by partner, by type and date, overdue, pages 2-5 by the "older" link,
and a search by message id. Prints p50 and p95 of the whole request, and separately a search
by a child's name (which reads up to 2,000 bodies a page).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine, pct

STATES = ("queued", "sending", "delivered", "answered", "failed", "expired")
SURNAMES = ("Kowalski", "Smith", "Nowak", "Jones", "Ahmed", "Brown", "Taylor", "Khan")


async def fill(home: Path, n: int) -> tuple[list[str], str]:
    from gateway.core.clock import SYSTEM
    from gateway.core.config import load_settings
    from gateway.exchange.gateway import Gateway
    from gateway.exchange.outgoing import prepare
    from gateway.messages import model as m
    from gateway.store import OutboundRow

    gw = await Gateway.open(load_settings(home / "gateway.toml", env={}), SYSTEM)
    rng = random.Random(1)
    partners = [str(300 + i) for i in range(50)]
    bodies = []
    for i in range(20):
        h = gw.header(m.MessageType.ENQUIRY, "352")
        kids = tuple(m.EnquiryChild(child_ref=str(j + 1), surname=rng.choice(SURNAMES),
                                    forename=f"Child{i}{j}", dob=dt.date(2015, 1, 1 + j))
                     for j in range(1 + i % 3))
        bodies.append(prepare(gw, m.Enquiry(header=h, enquiry_date=dt.date(2026, 11, 2),
                                            officer=gw.officer(), children=kids)).body)
    now = time.time()
    ids = []
    for start in range(0, n, 2000):
        rows = []
        for i in range(start, min(n, start + 2000)):
            mid = f"{i:08x}-0000-4000-8000-000000000000"
            ids.append(mid)
            rows.append(OutboundRow(
                message_id=mid, recipient=rng.choice(partners), message_type="Enquiry",
                conversation_id=mid, in_reply_to=None, created_at=now - (n - i) * 60,
                state="queued", attempts=0, next_attempt_at=now + 86400,  # type: ignore[arg-type]
                expires_at=now + 86400, digest="d", body=rng.choice(bodies)))

        async def op(tx: Any, rows: list[OutboundRow] = rows) -> None:
            for r in rows:
                await gw.store.outbox.insert(tx, r)
                state = rng.choice(STATES)
                if state != "queued":
                    await tx.execute("UPDATE outbound SET state = ?, attempts = 1, "
                                     "delivered_at = created_at + 5 WHERE message_id = ?",
                                     state, r.message_id)
        await gw.store.backend.write(op)
    await gw.close()
    return ids, partners[0]


async def run_async(n: int, requests: int) -> dict[str, float]:
    import aiohttp
    from aiohttp import web

    from gateway.accounts import add_user
    from gateway.cli.setup import make_keys, write_config
    from gateway.core.config import load_settings
    from gateway.store import Role, open_store
    from gateway.web.app import create_app

    home = Path(tempfile.mkdtemp(prefix="cme-outbox-page-bench-"))
    write_config(home, "355", 8000, endpoints={"352": "http://127.0.0.1:9/v1/messages"})
    make_keys(home / "keys/gateway.key", home / "keys/gateway.pem", "355")
    t0 = time.perf_counter()
    ids, partner = await fill(home, n)
    fill_s = time.perf_counter() - t0
    store = await open_store("gateway.db", home)
    await add_user(store, "bench", Role.OFFICER, "bench password 1")
    await store.close()
    settings = load_settings(home / "gateway.toml", env={}, cookie_secure=False)
    runner = web.AppRunner(create_app(settings, background=False), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(2)
    lat: list[float] = []
    names: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(base + "/sign-in")).text()
        token = re.search(r'name="signin_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = await http.post(base + "/sign-in", data={"username": "bench", "password":
                                                        "bench password 1",
                                                        "signin_token": token})
        assert resp.status == 200 and "Outbox" in await resp.text()

        async def get(path: str, params: dict[str, str] | None = None) -> str:
            t = time.perf_counter()
            async with http.get(base + path, params=params) as r:
                text = await r.text()
                assert r.status == 200, (path, params, r.status)
            lat.append(time.perf_counter() - t)
            return text

        for i in range(requests):
            kind = i % 7
            if kind == 0:
                await get("/outbox")
            elif kind == 1:
                await get("/outbox", {"state": rng.choice(STATES)})
            elif kind == 2:
                await get("/outbox", {"partner": partner})
            elif kind == 3:
                await get("/outbox", {"type": "Enquiry", "from-day": "1", "from-month": "1",
                                      "from-year": "2026"})
            elif kind == 4:
                await get("/outbox", {"state": "overdue"})
            elif kind == 5:
                text = await get("/outbox", {"state": "delivered"})
                for _ in range(rng.randint(1, 4)):
                    found = re.search(r'href="(/outbox\?[^"]*before=[^"]*)"', text)
                    if not found:
                        break
                    text = await get(found.group(1).replace("&amp;", "&"))
            else:
                await get("/outbox", {"q": rng.choice(ids)})
        for _ in range(max(5, requests // 20)):
            t = time.perf_counter()
            async with http.get(base + "/outbox", params={"q": rng.choice(SURNAMES)}) as r:
                await r.text()
            names.append(time.perf_counter() - t)
    await runner.cleanup()
    return {"n": n, "fill_s": fill_s, "requests": len(lat), "p50_ms": pct(lat, 50) * 1e3,
            "p95_ms": pct(lat, 95) * 1e3, "name_p50_ms": pct(names, 50) * 1e3,
            "name_p95_ms": pct(names, 95) * 1e3}


def run(n: int, requests: int = 400) -> dict[str, float]:
    return asyncio.run(run_async(n, requests))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    r = run(args.n, args.requests)
    print(f"machine: {machine()}")
    print(f"/outbox page with {r['n']} messages, {r['requests']:.0f} requests: p50 "
          f"{r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms (filled in {r['fill_s']:.1f} s)")
    print(f"search by a child's name (reads up to 2,000 bodies a page): p50 "
          f"{r['name_p50_ms']:.1f} ms, p95 {r['name_p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
