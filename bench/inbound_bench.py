"""Inbound benchmark: POST N signed enquiries at concurrency C to a real gateway process.

    python -m bench.inbound_bench [-n 4000] [-c 32] [--workers N] [--scaling 1,2,4]
                                  [--loop uvloop|asyncio] [--profile]
                                  [--database sqlite|postgres|DSN]

Prints messages/s and p50/p99 latency at full load (closed loop, C in flight), then p50/p99 at
half that rate (open loop, fixed arrival rate), beside the same client against a bare aiohttp
handler (the HTTP floor) and the per-message cost of XML-DSig sign + verify.
``--profile`` runs the gateway server under cProfile with the same load and prints where
its time goes. ``--scaling 1,2,4`` adds a run of ``serve --workers N`` for each N.

The load comes from ``bench.load`` (wrk, or a multi-process Python client where wrk is
missing); besides messages/s and p50/p99 each row gives the server's CPU time per accepted
message, read from /proc, and its ratio to the bare handler's and to the primitives floor.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pstats
import subprocess
import tempfile
import time
from pathlib import Path

from bench import load
from bench.common import machine, start, wait_http
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


def primitives(signer: Signer, body: bytes, trust) -> tuple[float, float]:
    from gateway.core import xmlsafe
    from gateway.crypto import dsig

    el = mx.build(__import__("tests.conftest").conftest.enquiry())
    n = 300
    t = time.process_time()
    for _ in range(n):
        signer.sign(el)
    sign_ms = (time.process_time() - t) / n * 1000
    t = time.process_time()
    for _ in range(n):
        dsig.verify(xmlsafe.parse(body, max_depth=48, max_elements=20000), body, trust)
    verify_ms = (time.process_time() - t) / n * 1000
    return sign_ms, verify_ms


def profile(b, tmp: Path, bodies: list[bytes], conc: int) -> str:  # type: ignore[no-untyped-def]
    """The gateway server itself under cProfile (one process) while wrk sends ``bodies``:
    where its time goes, by own time and, for the gateway's functions, by cumulative time.
    cProfile slows Python code far more than C, so read the shares, not the seconds."""
    out_file = tmp / "gateway.prof"
    log = tmp / "gateway-profile.log"
    gw = start(["-m", "cProfile", "-o", str(out_file), "-m", "gateway", "--config",
                str(b.config), "serve"], log)
    try:
        wait_http(b.url + "/healthz", proc=gw, timeout=60)
        url = b.url + "/v1/messages"
        load.closed_loop(url, bodies[:100], conc)
        r = load.closed_loop(url, bodies[100:], conc)
    finally:
        gw.terminate()
        gw.wait(60)
    out = io.StringIO()
    out.write(f"profile of the server, {int(r['ok'])} accepted under load "
              f"({r['rps']:.0f}/s under cProfile)\n")
    st = pstats.Stats(str(out_file), stream=out)
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(r"gateway/|aiohttp/web_protocol|sqlite3", 30)
    return out.getvalue()


def _wait_listening(log: Path, processes: int, proc: subprocess.Popen,
                    timeout: float = 60) -> None:
    """Until every process of ``serve --workers N`` says it is listening."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count(" listening on ") < processes:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway's {processes} processes did not all start; "
                               f"see {log}")
        time.sleep(0.1)


def _per_msg_us(cpu_s: float, accepted: float) -> float:
    return cpu_s / max(1.0, accepted) * 1e6


def _gateway(b, tmp: Path, fresh, n: int, conc: int, workers: int,  # type: ignore[no-untyped-def]
             half: bool, db_pid: int | None, loop: str = "") -> dict[str, float]:
    """One gateway run: start ``serve --workers N``, warm it, then the measured closed loop
    (and the half-rate open loop); the server's CPU per accepted message for each."""
    log = tmp / f"gateway-{workers}-{time.monotonic_ns()}.log"
    gw = start(["-m", "gateway", "--config", str(b.config), "serve", "--workers", str(workers),
                *(["--loop", loop] if loop else [])], log)
    out: dict[str, float] = {}
    try:
        wait_http(b.url + "/healthz", proc=gw)
        _wait_listening(log, workers, gw)
        url = b.url + "/v1/messages"
        load.closed_loop(url, fresh(min(200, n // 4) * workers), conc)  # warm every process
        db0 = load.tree_cpu_seconds(db_pid) if db_pid else 0.0
        r, cpu = load.measured(gw.pid, lambda: load.closed_loop(url, fresh(n), conc))
        db = load.tree_cpu_seconds(db_pid) - db0 if db_pid else 0.0
        out |= {"rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "ok": r["ok"],
                "cpu_us": _per_msg_us(cpu, r["ok"]), "db_cpu_us": _per_msg_us(db, r["ok"]),
                "workers": workers}
        if half:
            rate = r["rps"] / 2
            h, hcpu = load.measured(gw.pid, lambda: asyncio.run(
                load.open_loop(url, fresh(max(300, n // 4)), rate)))
            out |= {"half_rate": rate, "half_offered": h["offered_rps"],
                    "half_p50_ms": h["p50_ms"], "half_p99_ms": h["p99_ms"], "half_ok": h["ok"],
                    "half_cpu_us": _per_msg_us(hcpu, h["ok"])}
    finally:
        gw.terminate()
        gw.wait()
    return out


def run(n: int, conc: int, do_profile: bool, workers: int = 1,
        database: str | None = None, scaling: tuple[int, ...] = (),
        db_pid: int | None = None, loop: str = "") -> dict[str, float]:
    """The inbound figures: the bare handler, the gateway at ``workers`` processes (full and
    half load), the same at each count in ``scaling``, and the floor, all in one run."""
    from bench import primitives as prim
    from gateway.crypto.trust import TrustStore
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="cme-bench-"))
    a, b, signer, enquiry = _setup(tmp, database)

    def fresh(count: int) -> list[bytes]:  # unique message ids: none is a resend
        return presign(signer, enquiry, count)

    results: dict[str, float] = {"n": n, "c": conc, "workers": workers}
    floor = prim.run(1000)
    results["floor_us"] = floor["floor_per_msg_ms"] * 1e3

    port = free_port()
    bare = start(["-m", "bench.bare_server", str(port), *([loop] if loop else [])],
                 tmp / "bare.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=bare)
        url = f"http://127.0.0.1:{port}/v1/messages"
        bodies = fresh(n)
        load.closed_loop(url, bodies[:200], conc)
        r, cpu = load.measured(bare.pid, lambda: load.closed_loop(url, bodies, conc))
        results |= {"bare_rps": r["rps"], "bare_p50_ms": r["p50_ms"],
                    "bare_p99_ms": r["p99_ms"], "bare_cpu_us": _per_msg_us(cpu, r["ok"])}
    finally:
        bare.terminate()
        bare.wait()

    g = _gateway(b, tmp, fresh, n, conc, workers, True, db_pid, loop)
    results |= {f"gw_{k}": v for k, v in g.items() if not k.startswith("half")}
    results |= {k: v for k, v in g.items() if k.startswith("half")}
    for w in scaling:
        s = g if w == workers else _gateway(b, tmp, fresh, n, conc, w, False, db_pid, loop)
        results |= {f"w{w}_rps": s["rps"], f"w{w}_cpu_us": s["cpu_us"],
                    f"w{w}_p99_ms": s["p99_ms"], f"w{w}_ok": s["ok"]}
    body = fresh(1)[0]
    sign_ms, verify_ms = primitives(signer, body, TrustStore(b.path / "keys/partners"))
    results |= {"sign_ms": sign_ms, "verify_ms": verify_ms, "scaling": len(scaling),
                "asyncio": loop == "asyncio"}
    for i, w in enumerate(scaling):
        results[f"scaling_{i}"] = w
    if do_profile:
        print(profile(b, tmp, fresh(max(1100, n)), conc))
    return results


def scaling_of(r: dict[str, float]) -> list[int]:
    return [int(r[f"scaling_{i}"]) for i in range(int(r.get("scaling", 0)))]


def report(r: dict[str, float], backend: str = "SQLite WAL, synchronous=FULL") -> str:
    gw, bare, floor = r["gw_cpu_us"], r["bare_cpu_us"], r["floor_us"]
    lines = [
        f"machine: {machine()}",
        f"client: {load.client_name()}",
        f"inbound, {int(r['n'])} signed enquiries, concurrency {int(r['c'])}, "
        f"{int(r['workers'])} gateway process(es) ({backend}; event loop "
        f"{'asyncio' if r.get('asyncio') else 'uvloop where installed'}, the bare handler's too)",
        "",
        "| what | messages/s | p50 ms | p99 ms | server CPU µs / message | × bare | × floor |",
        "|---|---|---|---|---|---|---|",
        f"| bare aiohttp handler (HTTP floor) | {r['bare_rps']:.0f} | {r['bare_p50_ms']:.1f} | "
        f"{r['bare_p99_ms']:.1f} | {bare:.0f} | 1.0 | |",
        f"| gateway, full load ({int(r['gw_ok'])} accepted) | {r['gw_rps']:.0f} | "
        f"{r['gw_p50_ms']:.1f} | {r['gw_p99_ms']:.1f} | **{gw:.0f}** | {gw / bare:.1f} | "
        f"{gw / floor:.1f} |",
        f"| gateway, half load ({r['half_rate']:.0f}/s offered, {int(r['half_ok'])} accepted) | "
        f"- | {r['half_p50_ms']:.1f} | {r['half_p99_ms']:.1f} | {r['half_cpu_us']:.0f} | | |",
        f"| primitives floor (ECDSA sign + verify, 2 × parse + C14N; in-process) | "
        f"{1e6 / floor:.0f} (one core) | | | {floor:.0f} | | 1.0 |",
        f"| the gateway's XML-DSig: sign {r['sign_ms']:.3f} ms + verify {r['verify_ms']:.3f} ms "
        f"(in-process) | {1000 / (r['sign_ms'] + r['verify_ms']):.0f} (one core) | | | "
        f"{(r['sign_ms'] + r['verify_ms']) * 1e3:.0f} | | |",
    ]
    if r.get("gw_db_cpu_us"):
        lines.append(f"| (the database server's own CPU per message, not in the figures "
                     f"above) | | | | {r['gw_db_cpu_us']:.0f} | | |")
    ws = scaling_of(r)
    if ws:
        lines += ["", "`serve --workers N` (same client, same run):", "",
                  "| processes | messages/s | p99 ms | server CPU µs / message |",
                  "|---|---|---|---|"]
        lines += [f"| {w} | {r[f'w{w}_rps']:.0f} | {r[f'w{w}_p99_ms']:.1f} | "
                  f"{r[f'w{w}_cpu_us']:.0f} |" for w in ws]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=4000)
    ap.add_argument("-c", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--scaling", default="",
                    help="also run serve --workers N for each N in this comma list (1,2,4)")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="",
                    help="the event loop of the gateway and the bare handler (default: serve's)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--database", default="sqlite",
                    help="sqlite (default), postgres (a throwaway server started for the run, "
                         "as `make bench` does; its own CPU is reported too) or a DSN")
    args = ap.parse_args()
    scaling = tuple(int(x) for x in args.scaling.split(",") if x)
    if args.database != "postgres":
        dsn = None if args.database == "sqlite" else args.database
        print(report(run(args.n, args.c, args.profile, args.workers, dsn, scaling=scaling,
                         loop=args.loop), "SQLite WAL, synchronous=FULL" if dsn is None
                     else "PostgreSQL"))
        return
    from tests.pgserver import postgres_server
    with postgres_server() as pg:
        dsn = pg.create_database(f"inb_{int(time.time() * 1000) % 10**9}")
        pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        print(report(run(args.n, args.c, args.profile, args.workers, dsn, scaling=scaling,
                         db_pid=pg_pid, loop=args.loop), "PostgreSQL"))


if __name__ == "__main__":
    main()
