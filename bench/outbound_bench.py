"""Outbound benchmark: messages delivered per second by one sending gateway process.

    python -m bench.outbound_bench [-n 2000] [--database DSN]

N signed enquiries are queued in the sender's outbox first; then the sender (355) and a
receiver (352, SQLite) start as real processes, and the time until every message is
``delivered`` (a verified receipt stored) is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import machine, start, wait_http


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


async def _counts(settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from gateway.store import open_store

    store = await open_store(settings.database, settings.home)
    try:
        return dict(await store.outbox.counts())
    finally:
        await store.close()


def _tail(log: Path, lines: int = 5) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run(n: int, database: str | None = None) -> dict[str, float]:
    from tests.conftest import pair

    tmp = Path(tempfile.mkdtemp(prefix="cme-out-bench-"))
    extra = 'log_level = "WARNING"\nsender_concurrency = 32\nsender_poll_seconds = 0.05\n'
    a, b = pair(tmp, extra=extra)
    if database:
        a.config.write_text(a.config.read_text().replace(
            'database = "gateway.db"', f'database = "{database}"'))
    settings = a.settings()
    asyncio.run(_queue(settings, n))
    receiver = start(["-m", "gateway", "--config", str(b.config), "serve"], tmp / "b.log")
    try:
        wait_http(b.url + "/healthz", proc=receiver)
        t0 = time.perf_counter()
        sender = start(["-m", "gateway", "--config", str(a.config), "serve"], tmp / "a.log")
        try:
            while (counts := asyncio.run(_counts(settings))).get("delivered", 0) < n:
                # Fail at once, and say what is still queued, rather than wait out a dead
                # process or a message stuck in back-off.
                for name, proc, log in (("sender", sender, tmp / "a.log"),
                                        ("receiver", receiver, tmp / "b.log")):
                    if proc.poll() is not None:
                        raise RuntimeError(f"outbound bench: the {name} exited with "
                                           f"{proc.returncode}; outbox {counts}; its log ends:\n"
                                           f"{_tail(log)}")
                if time.perf_counter() - t0 > 300:
                    raise RuntimeError(f"outbound bench did not finish in 5 minutes; outbox "
                                       f"{counts}; the sender's log ends:\n{_tail(tmp / 'a.log')}")
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
        finally:
            sender.terminate()
            sender.wait()
    finally:
        receiver.terminate()
        receiver.wait()
    got = sqlite3.connect(b.path / "gateway.db").execute("SELECT COUNT(*) FROM inbound")
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "received": got.fetchone()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--database")
    r = run(ap.parse_args().n, ap.parse_args().database)
    print(f"machine: {machine()}")
    print(f"outbound: {r['n']} messages delivered in {r['seconds']:.1f} s = {r['rate']:.0f}/s "
          f"(receiver stored {r['received']}); includes the sender's start-up")


if __name__ == "__main__":
    main()
