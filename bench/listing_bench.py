"""Outbox listing benchmark: the query behind the status page, with 100k messages.

    python -m bench.listing_bench [-n 100000] [--database DSN]

Fills the outbox with N messages over 50 partners and all states, then times 300 listings of
50 rows: unfiltered, by state, by partner, and pages 2-5 by keyset cursor. Prints p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from bench.common import machine, pct

STATES = ("queued", "sending", "delivered", "answered", "failed", "expired")


async def run_async(n: int, database: str | None) -> dict[str, float]:
    from gateway.store import OutboundRow, open_store

    tmp = Path(tempfile.mkdtemp(prefix="cme-list-bench-"))
    store = await open_store(database or str(tmp / "list.db"))
    rng = random.Random(1)
    partners = [str(300 + i) for i in range(50)]
    now = time.time()
    t_fill = time.perf_counter()
    batch = 2000

    async def fill(start: int) -> None:
        rows = [OutboundRow(message_id=f"{i:08d}-0000-4000-8000-000000000000", recipient=
                            rng.choice(partners), message_type="Enquiry", conversation_id="c",
                            in_reply_to=None, created_at=now - n + i, state="queued", attempts=0,
                            next_attempt_at=now + 86400, expires_at=now + 86400, digest="d",
                            body=b"<x/>") for i in range(start, min(n, start + batch))]

        async def op(tx) -> None:  # type: ignore[no-untyped-def]
            for r in rows:
                await store.outbox.insert(tx, r)
                state = rng.choice(STATES)
                if state != "queued":
                    await tx.execute("UPDATE outbound SET state = ? WHERE message_id = ?",
                                     state, r.message_id)
        await store.backend.write(op)

    for start in range(0, n, batch):
        await fill(start)
    fill_s = time.perf_counter() - t_fill
    lat: list[float] = []
    for i in range(300):
        kind = i % 4
        t = time.perf_counter()
        if kind == 0:
            await store.outbox.recent(limit=50)
        elif kind == 1:
            await store.outbox.recent(state=rng.choice(STATES), limit=50)
        elif kind == 2:
            await store.outbox.recent(recipient=rng.choice(partners), limit=50)
        else:
            page = await store.outbox.recent(state="delivered", limit=50)
            for _ in range(rng.randint(1, 4)):
                last = page[-1]
                page = await store.outbox.recent(state="delivered", limit=50,
                                                 before=(last.created_at, last.message_id))
        lat.append(time.perf_counter() - t)
    await store.close()
    return {"n": n, "fill_s": fill_s, "p50_ms": pct(lat, 50) * 1e3, "p95_ms": pct(lat, 95) * 1e3}


def run(n: int, database: str | None = None) -> dict[str, float]:
    return asyncio.run(run_async(n, database))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--database")
    args = ap.parse_args()
    r = run(args.n, args.database)
    print(f"machine: {machine()}")
    print(f"outbox listing with {r['n']} messages: p50 {r['p50_ms']:.2f} ms, p95 "
          f"{r['p95_ms']:.2f} ms (filled in {r['fill_s']:.1f} s)")


if __name__ == "__main__":
    main()
