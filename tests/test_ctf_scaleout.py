"""CTF payloads with no shared folder: real gateway processes on PostgreSQL.

1. Two hub processes (party S2S, hub role) on one PostgreSQL database, each with its own home
   folder (own ``ctf_dir``). A school uploads a CTF to hub A; hub A cannot reach LA 352 (its
   endpoint for 352 is a closed port), so only hub B can deliver it: B's sender reads the
   payload that A stored, from the database, and delivers it to LA 352 (also on PostgreSQL),
   whose collection API streams it back byte for byte. No CTF file is written by any hub.
2. A client that disconnects half-way through an upload leaves nothing: no transfer, no
   payload row or chunk, no file (SQLite and PostgreSQL), and the same gateway then accepts
   the whole upload.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.core.files import file_digest
from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.testing.ctf import write_ctf
from tests.conftest import ROOT, Home, free_port, make_home
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401
from tests.test_e2e import wait_for
from tests.test_multiprocess import pg

SCHOOL, DEST_SCHOOL = "3552001", "3524001"
TUNING = ("retry_base_seconds = 0.2\nretry_max_seconds = 0.5\nsender_poll_seconds = 0.1\n"
          "lease_seconds = 3.0\nlog_level = \"INFO\"\n")
TOKEN = "test-token"


def waited(what: str, check: Any, timeout: float = 60.0, logs: Any = None) -> Any:
    """``wait_for``, with the processes' logs in the failure."""
    try:
        return wait_for(what, check, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs() if logs else ''}") from None


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(home.config), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def get(home: Home, path: str) -> bytes:
    req = urllib.request.Request(home.url + path)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


def ctf_files(home: Home) -> list[str]:
    """Every file under the home's ctf_dir (payloads, and temporary uploads in .incoming)."""
    folder = home.settings().path(home.settings().ctf_dir)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) \
        if folder.exists() else []


def same_identity(src: Home, dst: Home) -> None:
    """``dst`` signs as ``src`` (one party, two hosts) and trusts whom ``src`` trusts."""
    for name in ("gateway.key", "gateway.pem"):
        shutil.copyfile(src.path / "keys" / name, dst.path / "keys" / name)
    for cert in (src.path / "keys/partners").glob("*.pem"):
        shutil.copyfile(cert, dst.path / "keys/partners" / cert.name)


@pytest.mark.slow
def test_a_ctf_uploaded_to_one_hub_process_is_served_by_another(
        tmp_path, pg_dsn, procs) -> None:  # noqa: F811
    hub_db, la_db = fresh_database(pg_dsn), fresh_database(pg_dsn)
    port_a, port_b, port_la, dead = (free_port() for _ in range(4))
    la = make_home(tmp_path / "la", "352", {"S2S": f"http://127.0.0.1:{port_b}/v1/messages"},
                   port_la, extra=TUNING + f'database = "{la_db}"\n')
    hub_a = make_home(tmp_path / "a", "S2S", {"352": f"http://127.0.0.1:{dead}/v1/messages"},
                      port_a, role="hub", extra=TUNING + f'database = "{hub_db}"\n')
    hub_b = make_home(tmp_path / "b", "S2S",
                      {"352": f"http://127.0.0.1:{port_la}/v1/messages"}, port_b, role="hub",
                      extra=TUNING + f'database = "{hub_db}"\n')
    school = make_home(tmp_path / "school", SCHOOL,
                       {"S2S": f"http://127.0.0.1:{port_a}/v1/messages"})
    for h in (la, school):
        hub_a.trust(h)
        h.trust(hub_a)
    same_identity(hub_a, hub_b)
    assert hub_a.settings().path(hub_a.settings().ctf_dir) != \
        hub_b.settings().path(hub_b.settings().ctf_dir)
    started = [procs(h) for h in (la, hub_a, hub_b)]

    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=40)
    assert ctf.stat().st_size > 600_000  # more than two 256 KiB chunks
    out = cli(school, "ctf", "post", str(ctf), "--to", "S2S")
    assert out.returncode == 0, out.stdout + out.stderr + started[1].log()
    tid = out.stdout.split()[2]

    (row,) = pg(hub_db, "SELECT path, state FROM transfers WHERE transfer_id = $1", tid)
    assert row["state"] == "forwarded" and row["path"].startswith("db:")
    (chunks,) = pg(hub_db, "SELECT count(*) AS n, sum(length(data)) AS bytes "
                           "FROM ctf_payload_chunks WHERE payload_id = $1", row["path"][3:])
    size = ctf.stat().st_size
    assert (chunks["n"], chunks["bytes"]) == (-(-size // (256 * 1024)), size)

    def delivered() -> list[asyncpg.Record]:
        return pg(hub_db, "SELECT message_id, attempts FROM outbound WHERE "
                          "message_type = 'Transfer' AND state = 'delivered'")
    (fwd,) = waited("the forwarded CTF delivered", delivered,
                    logs=lambda: started[1].log() + started[2].log())
    assert f"delivered message={fwd['message_id']}" in hub_b.path.joinpath(
        "gateway.log").read_text()  # B delivered what A received (A cannot reach 352)
    assert f"delivered message={fwd['message_id']}" not in hub_a.path.joinpath(
        "gateway.log").read_text()

    # The LA's spool copies it from its database for the school's system, byte for byte
    # (before the collection below: the spool copies only CTFs not yet collected).
    held = la.path / "inbox" / DEST_SCHOOL
    (copy,) = waited("the CTF in 352's spool folder",
                     lambda: list(held.glob("*.xml")) if held.exists() else [],
                     logs=started[0].log)
    assert copy.read_bytes() == ctf.read_bytes()
    items = waited("the CTF held at 352", lambda: pg(
        la_db, "SELECT transfer_id, path FROM transfers WHERE for_school = $1", DEST_SCHOOL))
    assert items[0]["path"].startswith("db:")
    got = get(la, f"/v1/admin/schools/{DEST_SCHOOL}/ctf/{items[0]['transfer_id']}")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(ctf.read_bytes()).hexdigest()
    # No hub (nor the LA) wrote a CTF file: the database is the only storage they share.
    assert (ctf_files(hub_a), ctf_files(hub_b), ctf_files(la)) == ([], [], [])


# ---- a client gone half-way -------------------------------------------------------------

def signed_envelope(school: Home, ctf: Path) -> tuple[str, bytes]:
    signer = Signer(k.load_private_key(school.path / "keys/gateway.key"),
                    k.load_certificate(school.path / "keys/gateway.pem"))
    digest, size = file_digest(ctf)
    mid = m.new_id()
    h = m.Header(mid, mid, m.utcnow(), SCHOOL, "S2S", m.MessageType.TRANSFER)
    return mid, signer.sign(mx.build(m.Transfer(header=h, purpose=m.Purpose.DELIVER,
                                                payload=m.Payload(digest, size))))


def upload_and_vanish(home: Home, envelope: bytes, ctf: Path, send: int) -> None:
    """POST /v1/transfers with the whole multipart length declared, send the envelope and
    ``send`` bytes of the CTF, then close the connection."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"envelope\"\r\n"
            f"Content-Type: application/xml\r\n\r\n").encode() + envelope + \
        (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"payload\"; "
         f"filename=\"ctf.xml\"\r\nContent-Type: application/xml\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    data = ctf.read_bytes()
    length = len(head) + len(data) + len(tail)
    with socket.create_connection(("127.0.0.1", home.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode() + head)
        for i in range(0, send, 65536):
            sock.sendall(data[i:min(send, i + 65536)])
        # Vanish only once the gateway has verified the envelope and is spooling the CTF.
        incoming = home.settings().path(home.settings().ctf_dir) / ".incoming"
        wait_for("the upload spooling", lambda: incoming.is_dir() and
                 any(p.stat().st_size >= send // 2 for p in incoming.glob("*.part")), 30)


def leftovers(home: Home, dsn: str | None) -> dict[str, Any]:
    sql = {"transfers": "SELECT count(*) FROM transfers",
           "inbound": "SELECT count(*) FROM inbound",
           "payloads": "SELECT count(*) FROM ctf_payloads",
           "chunks": "SELECT count(*) FROM ctf_payload_chunks"}
    if dsn:
        counts = {name: pg(dsn, q)[0][0] for name, q in sql.items()}
    else:
        with sqlite3.connect(home.path / "gateway.db", timeout=15) as conn:
            counts = {name: conn.execute(q).fetchone()[0] for name, q in sql.items()}
    return {**counts, "files": ctf_files(home)}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_client_gone_half_way_through_an_upload_leaves_nothing(
        tmp_path, backend, procs, request) -> None:
    dsn = fresh_database(request.getfixturevalue("pg_dsn")) if backend == "postgres" else None
    extra = TUNING + (f'database = "{dsn}"\n' if dsn else "")
    port = free_port()
    hub = make_home(tmp_path, "S2S", {"352": "http://127.0.0.1:9/v1/messages"}, port,
                    role="hub", extra=extra)
    school = make_home(tmp_path, SCHOOL, {"S2S": f"http://127.0.0.1:{port}/v1/messages"})
    hub.trust(school)
    school.trust(hub)
    proc = procs(hub)
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=60)
    size = ctf.stat().st_size
    _, envelope = signed_envelope(school, ctf)

    upload_and_vanish(hub, envelope, ctf, size // 2)
    empty = {"transfers": 0, "inbound": 0, "payloads": 0, "chunks": 0, "files": []}
    waited("the half upload cleaned away", lambda: leftovers(hub, dsn) == empty, 30,
           logs=lambda: f"{leftovers(hub, dsn)}\n{proc.log()}")
    waited("the disconnect logged", lambda: "client disconnected path=/v1/transfers" in
           proc.log(), 30, logs=proc.log)

    # The same gateway takes the whole CTF (so the checks above could have failed).
    out = cli(school, "ctf", "post", str(ctf), "--to", "S2S")
    assert out.returncode == 0, out.stdout + out.stderr + proc.log()
    got = leftovers(hub, dsn)
    assert (got["transfers"], got["inbound"]) == (1, 1)
    if dsn:
        assert (got["payloads"], got["chunks"], got["files"]) == (1, -(-size // (256 * 1024)),
                                                                  [])
    else:
        assert len(got["files"]) == 1 and got["payloads"] == 0


def test_uploads_left_by_a_dead_process_are_swept_and_live_ones_kept(tmp_path) -> None:
    """kill -9 in the middle of an upload leaves its ``.part`` in this host's
    ``.incoming``; the next start removes it, never a younger one (another worker's upload
    still in flight)."""
    from gateway.web.partners import incoming_dir, sweep_incoming
    s = make_home(tmp_path, "S2S", role="hub").settings()
    folder = incoming_dir(s)
    assert sweep_incoming(s) == 0  # no folder yet
    folder.mkdir(parents=True)
    dead, live, other = folder / "dead.part", folder / "live.part", folder / "keep.txt"
    for p in (dead, live, other):
        p.write_bytes(b"x")
    old = time.time() - (s.body_timeout_seconds + s.transfer_timeout_seconds + 61)
    os.utime(dead, (old, old))
    os.utime(other, (old, old))
    assert sweep_incoming(s) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt", "live.part"]


def test_move_to_database_command(tmp_path, pg_dsn) -> None:  # noqa: F811
    """An operator moving to PostgreSQL: the CTF files a host kept become rows, through the
    real command; a second run has nothing left to move; on SQLite it refuses with a reason."""
    dsn = fresh_database(pg_dsn)
    home = make_home(tmp_path, "S2S", role="hub", extra=f'database = "{dsn}"\n')
    folder = home.settings().path(home.settings().ctf_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ctf = folder / "t1-0123456789abcdef.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=2)
    data = ctf.read_bytes()
    digest, size = file_digest(ctf)
    out = cli(home, "ctf", "check", str(ctf))  # (creates nothing; the store is made below)
    assert out.returncode == 0, out.stdout + out.stderr
    first = cli(home, "ctf", "move-to-database")  # an empty store: migrates, nothing to move
    assert first.returncode == 0 and "moved=0 " in first.stdout, first.stdout + first.stderr
    pg(dsn, "INSERT INTO transfers (transfer_id, sender, purpose, version, source_lea, "
            "source_estab, dest_lea, dest_estab, destination, pupils, flagged, size_bytes, "
            "digest, path, received_at, state) VALUES ('t1', '3552001', 'deliver', '25.0', "
            "'355', '2001', '352', '4001', 'school', 2, 0, $1, $2, $3, 0, 'forwarded')",
       size, digest, str(ctf))
    out = cli(home, "ctf", "move-to-database")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0] == "moved=1 missing=0 mismatched=0 too-large=0"
    assert not ctf.exists()
    (row,) = pg(dsn, "SELECT path FROM transfers WHERE transfer_id = 't1'")
    assert row["path"] == "db:t1-0123456789abcdef.xml"
    chunks = pg(dsn, "SELECT data FROM ctf_payload_chunks ORDER BY seq")
    assert b"".join(bytes(r["data"]) for r in chunks) == data
    sqlite_home = make_home(tmp_path / "sqlite", "S2S", role="hub")
    out = cli(sqlite_home, "ctf", "move-to-database")
    assert out.returncode == 1 and out.stdout.startswith("REJECTED config-invalid: "), \
        out.stdout + out.stderr
