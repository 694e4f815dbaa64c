"""Inbound benchmark: POST N signed enquiries at concurrency C to a real gateway process.

    python -m bench.inbound_bench [-n 4000] [-c 32] [--profile]

Prints messages/s and p50/p99 latency at full load (closed loop, C in flight), then p50/p99 at
half that rate (open loop, fixed arrival rate), beside the same client against a bare aiohttp
handler (the HTTP floor) and the per-message cost of XML-DSig sign + verify.
``--profile`` runs the inbound pipeline in-process under cProfile and prints where time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import machine, pct, start, wait_http
from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.messages import xml as mx


def _setup(tmp: Path, database: str | None = None) -> tuple[object, object, Signer]:
    from tests.conftest import enquiry, pair  # the same homes the tests use

    extra = 'log_level = "WARNING"\n' + (f'database = "{database}"\n' if database else "")
    a, b = pair(tmp, extra=extra)
    signer = Signer(k.load_private_key(a.path / "keys/gateway.key"),
                    k.load_certificate(a.path / "keys/gateway.pem"))
    return a, b, signer, enquiry  # type: ignore[return-value]


def presign(signer: Signer, enquiry, n: int) -> list[bytes]:
    return [signer.sign(mx.build(enquiry())) for _ in range(n)]


async def closed_loop(url: str, bodies: list[bytes], conc: int) -> tuple[float, list[float], int]:
    lat: list[float] = []
    ok = 0
    it = iter(bodies)
    conn = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=conn) as s:
        async def worker() -> None:
            nonlocal ok
            for body in it:
                t = time.perf_counter()
                async with s.post(url, data=body) as r:
                    await r.read()
                    ok += r.status == 200
                lat.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - t0
    return len(bodies) / elapsed, lat, ok


async def open_loop(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], int]:
    lat: list[float] = []
    ok = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one(body: bytes) -> None:
            nonlocal ok
            t = time.perf_counter()
            async with s.post(url, data=body) as r:
                await r.read()
                ok += r.status == 200
            lat.append(time.perf_counter() - t)
        tasks = []
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return lat, ok


def primitives(signer: Signer, body: bytes, trust) -> tuple[float, float]:
    from gateway.core import xmlsafe
    from gateway.crypto import dsig

    el = mx.build(__import__("tests.conftest").conftest.enquiry())
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        signer.sign(el)
    sign_ms = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for _ in range(n):
        dsig.verify(xmlsafe.parse(body, max_depth=48, max_elements=20000), body, trust)
    verify_ms = (time.perf_counter() - t) / n * 1000
    return sign_ms, verify_ms


def profile(b, bodies: list[bytes]) -> str:
    from gateway.exchange.gateway import Gateway
    from gateway.web.app import inbound_for

    async def go() -> None:
        gw = await Gateway.open(b.settings(database=str(b.path / "profile.db")))
        inbound = inbound_for(gw)
        try:
            await asyncio.gather(*(inbound.receive(body) for body in bodies))
        finally:
            await gw.close()

    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(go())
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


def run(n: int, conc: int, do_profile: bool, workers: int = 1,
        database: str | None = None) -> dict[str, float]:
    from gateway.crypto.trust import TrustStore
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="cme-bench-"))
    a, b, signer, enquiry = _setup(tmp, database)
    bodies = presign(signer, enquiry, n)
    half_bodies = presign(signer, enquiry, max(500, n // 4))
    results: dict[str, float] = {}

    port = free_port()
    bare = start(["-m", "bench.bare_server", str(port)], tmp / "bare.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=bare)
        rps, lat, _ = asyncio.run(closed_loop(f"http://127.0.0.1:{port}/v1/messages",
                                              bodies, conc))
        results |= {"bare_rps": rps, "bare_p50_ms": pct(lat, 50) * 1e3,
                    "bare_p99_ms": pct(lat, 99) * 1e3}
    finally:
        bare.terminate()
        bare.wait()

    gw = start(["-m", "gateway", "--config", str(b.config), "serve", "--workers", str(workers)],
               tmp / "gateway.log")
    try:
        wait_http(b.url + "/healthz", proc=gw)
        url = b.url + "/v1/messages"
        rps, lat, ok = asyncio.run(closed_loop(url, bodies, conc))
        results |= {"gw_rps": rps, "gw_p50_ms": pct(lat, 50) * 1e3,
                    "gw_p99_ms": pct(lat, 99) * 1e3, "gw_ok": ok, "n": n, "c": conc,
                    "workers": workers}
        half = rps / 2
        lat, ok2 = asyncio.run(open_loop(url, half_bodies, half))
        results |= {"half_rate": half, "half_p50_ms": pct(lat, 50) * 1e3,
                    "half_p99_ms": pct(lat, 99) * 1e3, "half_ok": ok2}
    finally:
        gw.terminate()
        gw.wait()
    sign_ms, verify_ms = primitives(signer, bodies[0], TrustStore(b.path / "keys/partners"))
    results |= {"sign_ms": sign_ms, "verify_ms": verify_ms}
    if do_profile:
        print(profile(b, presign(signer, enquiry, 1000)))
    return results


def report(r: dict[str, float]) -> str:
    return "\n".join([
        f"machine: {machine()}",
        f"inbound, {int(r['n'])} signed enquiries, concurrency {int(r['c'])}, "
        f"{int(r['workers'])} gateway process(es) (SQLite WAL, synchronous=FULL)",
        "| what | messages/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
        f"| bare aiohttp handler (HTTP floor) | {r['bare_rps']:.0f} | {r['bare_p50_ms']:.1f} | "
        f"{r['bare_p99_ms']:.1f} |",
        f"| gateway, full load ({int(r['gw_ok'])} accepted) | {r['gw_rps']:.0f} | "
        f"{r['gw_p50_ms']:.1f} | {r['gw_p99_ms']:.1f} |",
        f"| gateway, half load ({r['half_rate']:.0f}/s offered, {int(r['half_ok'])} accepted) | "
        f"- | {r['half_p50_ms']:.1f} | {r['half_p99_ms']:.1f} |",
        f"| primitives: XML-DSig sign {r['sign_ms']:.2f} ms + verify {r['verify_ms']:.2f} ms "
        f"per message | {1000 / (r['sign_ms'] + r['verify_ms']):.0f} (one core, crypto only) "
        f"| | |",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=4000)
    ap.add_argument("-c", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    print(report(run(args.n, args.c, args.profile, args.workers)))


if __name__ == "__main__":
    main()
