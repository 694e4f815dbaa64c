"""Real gateway processes on loopback: the whole exchange, outages and crashes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.messages import model as m
from gateway.messages import xml as mx
from tests.conftest import ROOT, Home, enquiry, pair

TOKEN = "test-token"


def api(home: Home, path: str, data: bytes | None = None,
        ctype: str = "application/xml") -> dict:
    req = urllib.request.Request(home.url + path, data=data)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(home.config), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def wait_for(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def db(home: Home) -> sqlite3.Connection:
    return sqlite3.connect(home.path / "gateway.db", timeout=15)


def states(home: Home) -> dict[str, str]:
    with db(home) as conn:
        return dict(conn.execute("SELECT message_id, state FROM outbound").fetchall())


def unsigned_enquiry(tmp: Path) -> Path:
    path = tmp / "enquiry.xml"
    path.write_bytes(mx.to_bytes(mx.build(enquiry(n=2))))
    return path


def test_enquiry_receipt_reply_receipt_between_two_processes(tmp_path, procs) -> None:
    a, b = pair(tmp_path)
    procs(a)
    procs(b)
    out = cli(a, "send", str(unsigned_enquiry(tmp_path)), "--to", "352")
    assert out.returncode == 0, out.stderr
    mid = out.stdout.split()[1]
    wait_for("delivery", lambda: states(a).get(mid) == "delivered")
    with db(b) as conn:
        (body,) = conn.execute("SELECT body FROM inbound WHERE message_id = ?",
                               (mid,)).fetchone()
    # 352's copy verifies on its own, with the CLI an officer would use
    inbox_file = b.path / "inbox" / f"{mid}.xml"
    wait_for("the inbox spool file", inbox_file.exists)
    assert inbox_file.read_bytes() == body
    ver = cli(b, "verify", str(inbox_file))
    assert ver.returncode == 0 and ver.stdout.startswith("OK sender=355 type=Enquiry"), ver
    # 352 replies from the CLI
    out = cli(b, "reply", mid, "--outcome", "1=known-on-roll@3524001:Oak School",
              "--outcome", "2=not-known-monitoring", "--comments", "One found")
    assert out.returncode == 0, out.stderr
    wait_for("the answer", lambda: states(a).get(mid) == "answered")
    status = cli(a, "status")
    assert "answered" in status.stdout and "1=known-on-roll" in status.stdout
    reply_id = out.stdout.split()[-1]
    wait_for("the reply's receipt", lambda: states(b).get(reply_id) == "delivered")
    item = api(a, f"/v1/admin/outbox/{mid}")
    assert [o["outcome"] for o in item["outcomes"]] == ["known-on-roll", "not-known-monitoring"]
    with urllib.request.urlopen(a.url + "/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'cme_outbound_attempts_total{outcome="delivered"} 1.0' in metrics
    assert 'cme_inbound_accepted_total{type="Reply"} 1.0' in metrics
    assert [e["to_state"] for e in item["events"]] == ["queued", "sending", "delivered",
                                                       "answered"]


@pytest.mark.slow  # an outage or a SIGKILL, retries, 20-150 messages
def test_receiver_down_then_back_every_message_once(tmp_path, procs) -> None:
    a, b = pair(tmp_path, extra="retry_base_seconds = 0.1\nretry_max_seconds = 0.5\n"
                               "breaker_cooldown_seconds = 0.5\n")
    procs(a)
    ids = [api(a, "/v1/admin/messages?to=352", mx.to_bytes(mx.build(enquiry())))["message_id"]
           for _ in range(20)]
    def retried() -> bool:  # every message tried, some of them more than once
        with db(a) as conn:
            tries = [n for (n,) in conn.execute("SELECT attempts FROM outbound")]
        return len(tries) == 20 and min(tries) >= 1 and max(tries) >= 2

    wait_for("the sender to retry", retried)
    # retrying (or held back by the open circuit): not lost, not failed
    assert "sending" in set(states(a).values()) <= {"queued", "sending"}
    procs(b)
    wait_for("all delivered", lambda: set(states(a).values()) == {"delivered"}, 60)
    with db(b) as conn:
        got = [r[0] for r in conn.execute("SELECT message_id FROM inbound")]
    assert sorted(got) == sorted(ids)


@pytest.mark.slow  # an outage or a SIGKILL, retries, 20-150 messages
def test_receiver_killed_mid_stream_loses_nothing_acknowledged(tmp_path, procs) -> None:
    a, b = pair(tmp_path, extra="retry_base_seconds = 0.1\nretry_max_seconds = 0.5\n"
                               "breaker_cooldown_seconds = 0.5\nlease_seconds = 5\n")
    procs(a, args=("--workers", "2"))  # two senders leasing from one outbox
    pb = procs(b)
    ids = [api(a, "/v1/admin/messages?to=352", mx.to_bytes(mx.build(enquiry())))["message_id"]
           for _ in range(150)]
    wait_for("some deliveries", lambda: list(states(a).values()).count("delivered") >= 20)
    pb.kill()  # SIGKILL: no chance to flush anything
    with db(a) as conn:
        acked = dict(conn.execute("SELECT message_id, digest FROM outbound "
                                  "WHERE state = 'delivered'").fetchall())
    with db(b) as conn:
        stored = dict(conn.execute("SELECT message_id, digest FROM inbound").fetchall())
    # every message 355 holds a receipt for survived the SIGKILL on 352's disk
    assert acked and all(stored.get(mid) == digest for mid, digest in acked.items())
    procs(b)
    wait_for("all delivered", lambda: set(states(a).values()) == {"delivered"}, 90)
    with db(b) as conn:
        got = [r[0] for r in conn.execute("SELECT message_id FROM inbound")]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))


def test_spool_folders(tmp_path, procs) -> None:
    a, b = pair(tmp_path)
    procs(a)
    procs(b)
    msg = enquiry()
    (a.path / "outbox" / "to-manchester.xml").write_bytes(mx.to_bytes(mx.build(msg)))
    (a.path / "outbox" / "broken.xml").write_bytes(b"<Enquiry")
    wrong = m.Enquiry(**{**enquiry().__dict__,
                         "header": m.Header(**{**enquiry().header.__dict__, "recipient": "350"})})
    (a.path / "outbox" / "nowhere.xml").write_bytes(mx.to_bytes(mx.build(wrong)))
    sent = a.path / "outbox" / "sent" / "to-manchester.xml"
    wait_for("the sent file", sent.exists)
    wait_for("352's inbox file", (b.path / "inbox" / f"{msg.header.message_id}.xml").exists)
    failed = a.path / "outbox" / "failed"
    wait_for("the failed files", lambda: (failed / "nowhere.xml.reason").exists()
             and (failed / "broken.xml.reason").exists())
    assert "REJECTED xml-malformed" in (failed / "broken.xml.reason").read_text()
    assert "REJECTED unknown-partner" in (failed / "nowhere.xml.reason").read_text()
    assert not list((a.path / "outbox").glob("*.xml"))


@pytest.mark.slow  # an outage or a SIGKILL, retries, 20-150 messages
def test_sender_killed_mid_stream_resends_and_receiver_deduplicates(tmp_path, procs) -> None:
    a, b = pair(tmp_path, extra="retry_base_seconds = 0.1\nretry_max_seconds = 0.5\n"
                               "lease_seconds = 2\n")
    pa = procs(a)
    procs(b)
    ids = [api(a, "/v1/admin/messages?to=352", mx.to_bytes(mx.build(enquiry())))["message_id"]
           for _ in range(120)]
    wait_for("some deliveries", lambda: list(states(a).values()).count("delivered") >= 10)
    pa.kill()  # leases held by the dead sender run out; the restarted one resends
    procs(a)
    wait_for("all delivered", lambda: set(states(a).values()) == {"delivered"}, 90)
    with db(b) as conn:
        got = [r[0] for r in conn.execute("SELECT message_id FROM inbound")]
    assert sorted(got) == sorted(ids)
