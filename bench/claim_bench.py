"""The outbox claim against a backlog: milliseconds per claim as the queue grows.

    python -m bench.claim_bench [--backlog 1000,50000] [--database postgres|sqlite|DSN]

After an outage a partner's queue can hold tens of thousands of messages; every claim of
the sender must then cost the same as with an empty queue, or the backlog drains ever more
slowly. For each backlog size a fresh store is filled with that many due messages, then
50 claims of 8 are timed, and apart from them the storing of the receipts of what each
claimed, as the sender does. ``postgres`` starts a throwaway server (as ``make bench`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import machine

CLAIMS = 50
BATCH = 8


async def _fill(database: str, n: int) -> float:
    from gateway.store import open_store

    store = await open_store(database)
    now = time.time()
    try:
        async def op(tx) -> None:  # type: ignore[no-untyped-def]
            for i in range(n):
                await tx.execute(
                    "INSERT INTO outbound (message_id, recipient, message_type, "
                    "conversation_id, created_at, state, attempts, next_attempt_at, "
                    "expires_at, body, digest, updated_at) "
                    "VALUES (?, '352', 'Enquiry', ?, ?, 'queued', 0, ?, ?, ?, 'd', ?)",
                    f"m{i:08d}", f"m{i:08d}", now, now + i * 1e-6, now + 3600, b"x" * 3400,
                    now)
        await store.backend.write(op)
        if database.startswith("postgres"):
            async def analyze(tx) -> None:  # type: ignore[no-untyped-def]
                await tx.execute("ANALYZE outbound")
            await store.backend.write(analyze)
    finally:
        await store.close()
    return now


async def _claims(database: str, now: float) -> tuple[float, float]:
    from gateway.store import open_store

    store = await open_store(database)
    try:
        claim = receipts = 0.0
        for _ in range(CLAIMS):
            t = time.perf_counter()
            rows = await store.outbox.claim_due(now + 1, "bench", 60, BATCH)
            claim += time.perf_counter() - t
            assert len(rows) == BATCH
            t = time.perf_counter()
            await store.outbox.mark_delivered_many([(r.message_id, b"r") for r in rows],
                                                   now + 1)
            receipts += time.perf_counter() - t
        return claim / CLAIMS * 1000, receipts / CLAIMS * 1000
    finally:
        await store.close()


@contextlib.contextmanager
def _databases(kind: str) -> Iterator[object]:
    if kind == "postgres":
        from tests.pgserver import fresh_database, postgres_server
        with postgres_server() as pg:
            yield lambda: fresh_database(pg.dsn())
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cme-claim-") as tmp:
            names = iter(range(1000))
            yield lambda: str(Path(tmp) / f"claim{next(names)}.db")
    else:
        yield lambda: kind


def run(backlogs: list[int], kind: str) -> list[tuple[int, tuple[float, float]]]:
    out = []
    with _databases(kind) as fresh:
        for n in backlogs:
            database = fresh()  # type: ignore[operator]
            now = asyncio.run(_fill(database, n))
            out.append((n, asyncio.run(_claims(database, now))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backlog", default="1000,50000")
    ap.add_argument("--database", default="postgres")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    for n, (claim, receipts) in run([int(x) for x in args.backlog.split(",")], args.database):
        print(f"{args.database}, {n} queued: a claim of {BATCH} {claim:.2f} ms, storing their "
              f"receipts {receipts:.2f} ms (wall, mean of {CLAIMS})")


if __name__ == "__main__":
    main()
