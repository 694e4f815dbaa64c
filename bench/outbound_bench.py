"""Outbound benchmark: messages delivered per second by one sending gateway process.

    python -m bench.outbound_bench [-n 2000] [--database DSN] [--profile]

N signed enquiries are queued in the sender's outbox first; then the sender (355) and a
receiver (352, SQLite) start as real processes, and the time until every message is
``delivered`` (a verified receipt stored) is measured.

Besides messages/s it reports the CPU time (utime + stime, from ``/proc``) that each process
spent per delivered message, from the moment the sender answers its health check (after its
start-up) to the last receipt stored. On a machine with two cores the sum of the two bounds
the rate: 1,000 messages/s needs under 2 ms of CPU per message across both processes. CPU is
the stable figure on a shared, noisy machine; messages/s moves with the load.

``--profile`` runs both processes under cProfile and prints, for each, where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pstats
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import machine, start, wait_http
from bench.load import tree_cpu_seconds


async def _queue(settings, n: int) -> None:  # type: ignore[no-untyped-def]
    from gateway.exchange.gateway import Gateway
    from gateway.exchange.outgoing import prepare
    from gateway.messages import model as m
    from tests.conftest import enquiry

    gw = await Gateway.open(settings)
    try:
        rows = []
        for _ in range(n):
            e = enquiry()
            rows.append(prepare(gw, m.Enquiry(**{**e.__dict__, "header": gw.header(
                m.MessageType.ENQUIRY, "352")})))
        await asyncio.gather(*(gw.store.outbox.enqueue(r) for r in rows))
    finally:
        await gw.close()


async def _pg_delivered(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM outbound WHERE state = 'delivered'"))
    finally:
        await conn.close()


def _counter(settings, database: str | None):  # type: ignore[no-untyped-def]
    """How many messages are delivered, asked cheaply: the bench polls every 0.1 s on the
    same two cores as the gateways, so it must not open a whole store each time."""
    if database and database.startswith("postgres"):
        return lambda: asyncio.run(_pg_delivered(database))
    conn = sqlite3.connect(f"file:{settings.path(Path(settings.database))}?mode=ro", uri=True,
                           timeout=15)
    return lambda: conn.execute(
        "SELECT COUNT(*) FROM outbound WHERE state = 'delivered'").fetchone()[0]


def _tail(log: Path, lines: int = 5) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _profiled(prof: Path | None) -> list[str]:
    return ["-m", "cProfile", "-o", str(prof)] if prof else []


def run(n: int, database: str | None = None, profile: bool = False,
        concurrency: int = 32) -> dict[str, float]:
    from tests.conftest import pair

    tmp = Path(tempfile.mkdtemp(prefix="cme-out-bench-"))
    extra = (f'log_level = "WARNING"\nsender_concurrency = {concurrency}\n'
             'sender_poll_seconds = 0.05\n')
    a, b = pair(tmp, extra=extra)
    if database:
        a.config.write_text(a.config.read_text().replace(
            'database = "gateway.db"', f'database = "{database}"'))
    settings = a.settings()
    asyncio.run(_queue(settings, n))
    delivered = _counter(settings, database)
    profs = (tmp / "sender.prof", tmp / "receiver.prof") if profile else (None, None)
    receiver = start([*_profiled(profs[1]), "-m", "gateway", "--config", str(b.config),
                      "serve"], tmp / "b.log")
    try:
        wait_http(b.url + "/healthz", proc=receiver, timeout=60)
        t0 = time.perf_counter()
        sender = start([*_profiled(profs[0]), "-m", "gateway", "--config", str(a.config),
                        "serve"], tmp / "a.log")
        try:
            wait_http(a.url + "/healthz", proc=sender, timeout=60)
            # The steady-state window starts once the sender is up (its start-up is not a
            # per-message cost).
            t1, d1 = time.perf_counter(), delivered()
            c1 = {"sender": tree_cpu_seconds(sender.pid),
                  "receiver": tree_cpu_seconds(receiver.pid)}
            while (got := delivered()) < n:
                # Fail at once, and say what is still queued, rather than wait out a dead
                # process or a message stuck in back-off.
                for name, proc, log in (("sender", sender, tmp / "a.log"),
                                        ("receiver", receiver, tmp / "b.log")):
                    if proc.poll() is not None:
                        raise RuntimeError(f"outbound bench: the {name} exited with "
                                           f"{proc.returncode}; {got} delivered; its log "
                                           f"ends:\n{_tail(log)}")
                if time.perf_counter() - t0 > 300:
                    raise RuntimeError(f"outbound bench did not finish in 5 minutes; {got} "
                                       f"delivered; the sender's log ends:\n"
                                       f"{_tail(tmp / 'a.log')}")
                time.sleep(0.1)
            t2 = time.perf_counter()
            c2 = {"sender": tree_cpu_seconds(sender.pid),
                  "receiver": tree_cpu_seconds(receiver.pid)}
        finally:
            sender.terminate()
            sender.wait(60)
    finally:
        receiver.terminate()
        receiver.wait(60)
    got = sqlite3.connect(b.path / "gateway.db").execute("SELECT COUNT(*) FROM inbound")
    steady = n - d1
    out: dict[str, float] = {
        "n": n, "seconds": t2 - t0, "rate": n / (t2 - t0), "received": got.fetchone()[0],
        "steady_n": steady, "steady_rate": steady / (t2 - t1) if steady else float("nan")}
    for name in ("sender", "receiver"):
        out[f"{name}_cpu_ms"] = ((c2[name] - c1[name]) / steady * 1000 if steady
                                 else float("nan"))
    if profile:
        out["profile"] = _profile_report(profs, n)  # type: ignore[assignment]
    return out


def _profile_report(profs: tuple[Path | None, Path | None], n: int) -> str:
    text = io.StringIO()
    for name, prof in zip(("sender", "receiver"), profs, strict=True):
        assert prof is not None
        text.write(f"\n=== {name} under cProfile ({n} messages) ===\n")
        st = pstats.Stats(str(prof), stream=text)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(r"gateway/|aiohttp/|sqlite3", 40)
    return text.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--database")
    ap.add_argument("--profile", action="store_true",
                    help="run both processes under cProfile and print where the time went")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="the sender's sender_concurrency (deliveries in flight)")
    args = ap.parse_args()
    r = run(args.n, args.database, args.profile, args.concurrency)
    if args.profile:
        print(r["profile"])
    print(f"machine: {machine()}")
    print(f"outbound: {r['n']} messages delivered in {r['seconds']:.1f} s = {r['rate']:.0f}/s "
          f"(receiver stored {r['received']}); includes the sender's start-up")
    print(f"steady state ({r['steady_n']:.0f} delivered after the sender was up): "
          f"{r['steady_rate']:.0f}/s; CPU per delivered message: sender "
          f"{r['sender_cpu_ms']:.3f} ms, receiver {r['receiver_cpu_ms']:.3f} ms, "
          f"both {r['sender_cpu_ms'] + r['receiver_cpu_ms']:.3f} ms")


if __name__ == "__main__":
    main()
