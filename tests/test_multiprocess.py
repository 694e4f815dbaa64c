"""Scale-out on PostgreSQL: three real gateway processes for party 355 share one outbox.

2,000 messages are queued into the shared PostgreSQL outbox while the three senders deliver
them to a real receiving gateway (352, its own SQLite store). One sender is SIGKILLed while
it holds leases. Every message must then be delivered exactly once: the receiver stores each
id once, every outbound row ends ``delivered``, the dead sender's leased messages are taken
over by the survivors after ``lease_seconds``, and each of those the receiver had already
stored comes back as a resend that the receiver answers with its stored receipt (counted in
its ``cme_inbound_accepted_total``) rather than storing twice.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sqlite3
import time
import urllib.request
from collections import Counter
from typing import Any

import asyncpg
import pytest

from gateway.core.config import Settings
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from tests.conftest import Home, enquiry, free_port, make_home
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401

N = 2000
LEASE = 4.0
TUNING = ("retry_base_seconds = 0.2\nretry_max_seconds = 1.0\nsender_poll_seconds = 0.1\n"
          f"lease_seconds = {LEASE}\nspool_poll_seconds = 5.0\nlog_level = \"INFO\"\n")
ACCEPTED = re.compile(r"accepted message=(\S+) type=\S+ from=355 duplicate=(True|False)")
DELIVERED = re.compile(r"delivered message=(\S+)")


def pg(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return asyncio.run(go())


def queue_messages(settings: Settings, n: int) -> list[str]:
    """Sign and queue ``n`` enquiries to 352 in the shared outbox, as the operator API would,
    from this (fourth) process."""
    async def go() -> list[str]:
        gw = await Gateway.open(settings)
        try:
            ids: list[str] = []
            for start in range(0, n, 50):
                msgs: list[m.Message] = [enquiry() for _ in range(start, min(n, start + 50))]
                rows = await asyncio.gather(*(queue(gw, msg) for msg in msgs))
                ids += [r.message_id for r in rows]
            return ids
        finally:
            await gw.close()
    return asyncio.run(go())


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def receiver_ids(home: Home, ids: list[str] | None = None) -> list[str]:
    with sqlite3.connect(home.path / "gateway.db", timeout=15) as conn:
        got = [r[0] for r in conn.execute("SELECT message_id FROM inbound")]
    if ids is None:
        return got
    wanted = set(ids)
    return [i for i in got if i in wanted]


def use_database(home: Home, database: str) -> None:
    """Point a home's config at ``database`` (the template already sets ``database``, so
    ``make_home(extra=...)`` cannot: TOML forbids a second value for one key)."""
    text = home.config.read_text()
    assert text.count('database = "gateway.db"\n') == 1
    home.config.write_text(text.replace('database = "gateway.db"\n',
                                        f'database = "{database}"\n'))
    assert home.settings().database == database


def receiver_metrics(home: Home) -> dict[str, float]:
    with urllib.request.urlopen(home.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@pytest.mark.slow
def test_three_senders_share_one_postgres_outbox_and_survive_a_sigkill(
        tmp_path, pg_dsn, procs) -> None:  # noqa: F811
    dsn = fresh_database(pg_dsn)
    recv_port, ports = free_port(), [free_port() for _ in range(3)]
    first = make_home(tmp_path, "355", {"352": f"http://127.0.0.1:{recv_port}/v1/messages"},
                      ports[0], extra=TUNING)
    use_database(first, dsn)
    receiver = make_home(tmp_path, "352", {"355": f"http://127.0.0.1:{ports[0]}/v1/messages"},
                         recv_port, extra=TUNING)
    first.trust(receiver)
    receiver.trust(first)
    homes = [first]
    for i, port in enumerate(ports[1:], 2):  # same config (same database) and keys
        folder = tmp_path / f"355-{i}"
        shutil.copytree(first.path, folder)
        homes.append(Home(folder, "355", port))
    procs(receiver)
    senders = [procs(h, args=("--port", str(h.port))) for h in homes]
    victim = senders[1]
    started = time.monotonic()

    ids = queue_messages(first.settings(), N)
    queued_in = time.monotonic() - started
    assert len(set(ids)) == N

    # The victim's lease owner id: the owner recorded on a message its log says it delivered.
    def victim_owner() -> str | None:
        found = DELIVERED.search(victim.log())
        if not found:
            return None
        rows = pg(dsn, "SELECT lease_owner FROM outbound WHERE message_id = $1", found[1])
        return rows[0]["lease_owner"] if rows else None

    owner = wait_for("the victim to deliver something", victim_owner, 30)

    def leases() -> set[str]:
        return {r["message_id"] for r in pg(
            dsn, "SELECT message_id FROM outbound WHERE lease_owner = $1 "
                 "AND state = 'sending'", owner)}

    # Freeze the victim (SIGSTOP) before looking at its leases, so that it cannot finish
    # them between the look and the kill (on a loaded machine it sometimes did, and held
    # none when killed); if it holds none at that moment, let it run on and look again.
    assert victim.proc is not None
    orphaned: set[str] = set()
    for _ in range(20):
        wait_for("the victim to hold leases", lambda: len(leases()) >= 3, 30)
        victim.proc.send_signal(signal.SIGSTOP)
        orphaned = leases()
        if orphaned:
            break
        victim.proc.send_signal(signal.SIGCONT)
    victim.kill()  # SIGKILL, holding leases (a stopped process dies of SIGKILL too)
    killed_at = time.monotonic() - started
    delivered_at_kill = pg(dsn, "SELECT count(*) AS n FROM outbound "
                                "WHERE state = 'delivered'")[0]["n"]
    assert delivered_at_kill < N - 200  # mid-run: most of the work is still to do
    stored_before_resend = set(receiver_ids(receiver, sorted(orphaned)))
    assert orphaned, "the victim held no leases when it was killed"

    def all_delivered() -> bool:
        rows = pg(dsn, "SELECT state, count(*) AS n FROM outbound GROUP BY state")
        return {r["state"]: r["n"] for r in rows} == {"delivered": N}

    wait_for("every message delivered", all_delivered, 90)
    took = time.monotonic() - started

    # The receiver stored each message exactly once ...
    got = receiver_ids(receiver)
    assert len(got) == N and set(got) == set(ids)
    # ... and accepted each as new exactly once (its log: one duplicate=False per id) ...
    accepted = ACCEPTED.findall((receiver.path / "gateway.log").read_text())
    assert Counter(mid for mid, dup in accepted if dup == "False") == Counter(set(ids))
    # ... while its counter of accepted POSTs (new ones and resends, each answered 200 with
    # the stored receipt) is higher by the number of resends it de-duplicated.
    metrics = receiver_metrics(receiver)
    posts = metrics.get('cme_inbound_accepted_total{type="Enquiry"}', 0.0)
    dup_posts = int(posts) - N
    assert not any(k.startswith("cme_inbound_rejected_total{") and v for k, v in metrics.items())
    # The dead sender's leases were taken over: resent by a survivor after the lease ran out.
    rows = pg(dsn, "SELECT message_id, attempts, lease_owner FROM outbound "
                   "WHERE message_id = ANY($1::text[])", sorted(orphaned))
    assert len(rows) == len(orphaned)
    assert all(r["attempts"] >= 2 and r["lease_owner"] != owner for r in rows)
    # Those the receiver already had were POSTed again, and de-duplicated, not stored twice.
    attempts = pg(dsn, "SELECT sum(attempts) AS n FROM outbound")[0]["n"]
    resends = attempts - N
    assert resends >= len(orphaned)
    assert len(stored_before_resend) <= dup_posts <= resends
    for home in [h for h, p in zip(homes, senders, strict=True) if p is not victim] + [receiver]:
        log = (home.path / "gateway.log").read_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-4000:]
    print(f"\n{N} messages, 3 senders on one PostgreSQL outbox: queued in {queued_in:.1f}s, "
          f"sender SIGKILLed at {killed_at:.1f}s ({delivered_at_kill} delivered) holding "
          f"{len(orphaned)} leases "
          f"({len(stored_before_resend)} already stored by the receiver), all delivered "
          f"in {took:.1f}s; {resends} resends, {dup_posts} duplicate POSTs "
          f"de-duplicated by the receiver, 0 stored twice")
