"""The second engineer's reproducer, kept as a regression test: on PostgreSQL an approval that
read 'found' just before an officer's dismissal committed queued the updated Reply anyway
(``Watches.move`` ignored the row count of its guarded UPDATE)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.exchange.gateway import Gateway
from gateway.store.watches import Watches, WatchState
from gateway.workflow import monitoring
from gateway.workflow.monitoring import MonitorWorker
from tests.conftest import pair
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401
from tests.test_multiprocess import use_database
from tests.test_workflow import MONDAY, ZOFIA, World, child, receive_ctf, watched


async def test_dismiss_racing_approve_sends_no_reply(tmp_path: Path, pg_dsn: str  # noqa: F811
                                                     ) -> None:
    a_home, b_home = pair(tmp_path)
    use_database(b_home, fresh_database(pg_dsn))
    clock = ManualClock(MONDAY)
    a = await Gateway.open(a_home.settings(), clock)
    b = await Gateway.open(b_home.settings(), clock)
    try:
        w = World(a, b, clock)
        await watched(w, child("1", "Nowak", "Zofia", ZOFIA))
        await receive_ctf(b, "Nowak", "Zofia", ZOFIA)
        await MonitorWorker(b).tick()
        [watch] = await b.store.watches.listing()
        assert watch.state == WatchState.FOUND
        real = Watches.load
        go = asyncio.Event()
        calls: list[str] = []

        async def slow_load(tx, watch_id, missing_ok=False):  # type: ignore[no-untyped-def]
            row = await real(tx, watch_id, missing_ok)
            calls.append(watch_id)
            if asyncio.current_task().get_name() == "approve" and len(calls) == 2:
                go.set()  # the load inside the approval's transaction (Watches.move)
                await asyncio.sleep(1.0)  # the officer's dismissal commits meanwhile
            return row
        Watches.load = staticmethod(slow_load)  # type: ignore[method-assign]
        try:
            approve = asyncio.create_task(monitoring.report(b, watch.watch_id, "officer-1"),
                                          name="approve")
            await go.wait()
            calls.append('x')
            await monitoring.dismiss(b, watch.watch_id, "not her", "officer-2")
            try:
                await approve
            except GatewayError as exc:  # the correct outcome
                assert exc.code == "watch-state"
        finally:
            Watches.load = staticmethod(real)  # type: ignore[method-assign]
        [watch] = await b.store.watches.listing()
        sent = await b.store.backend.read(lambda tx: tx.fetchall(
            "SELECT message_id FROM outbound WHERE message_type = 'Reply'"))
        assert len(sent) == 1, (f"updated reply queued although dismissed; watch is "
                                f"{watch.state}")
    finally:
        await a.close()
        await b.close()
