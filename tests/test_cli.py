"""The command line, run as a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.crypto import keys as k
from gateway.messages import xml as mx
from tests.conftest import ROOT, Pki, enquiry


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                               "PYTHONPATH": str(ROOT)})


def test_init_keys_partners_and_verify(tmp_path: Path, pki: Pki) -> None:
    out = run("init", "--party", "352", "--port", "8999", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "gateway.toml").exists() and (tmp_path / "keys/gateway.key").exists()
    assert (tmp_path / "keys/gateway.key").stat().st_mode & 0o077 == 0  # private
    again = run("init", "--party", "352", cwd=tmp_path)
    assert again.returncode == 1 and again.stderr.startswith("REJECTED config-invalid:")

    cert = tmp_path / "355.pem"
    cert.write_bytes(k.cert_pem(pki.parties["355"].cert))
    assert run("partners", "add", "355", str(cert), cwd=tmp_path).returncode == 0
    assert (tmp_path / "keys/partners/355.pem").exists()
    listed = run("partners", "list", cwd=tmp_path)
    assert listed.stdout.startswith("355")

    msg = enquiry()
    good = tmp_path / "good.xml"
    good.write_bytes(pki.parties["355"].signer.sign(mx.build(msg)))
    out = run("verify", str(good), cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == f"OK sender=355 type=Enquiry id={msg.header.message_id}"

    bad = tmp_path / "bad.xml"
    bad.write_bytes(good.read_bytes().replace(b"Child0", b"Child1"))
    out = run("verify", str(bad), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout.startswith("REJECTED signature-invalid: ") and out.stdout.count("\n") == 1

    stranger = tmp_path / "stranger.xml"
    stranger.write_bytes(pki.parties["999"].signer.sign(mx.build(enquiry(sender="999"))))
    out = run("verify", str(stranger), cwd=tmp_path)
    assert out.stdout.startswith("REJECTED certificate-untrusted")
    # an explicit partner directory that does trust 999
    out = run("verify", str(stranger), "--partners", str(pki.partners_dir("999")), cwd=tmp_path)
    assert out.returncode == 0


def test_keys_init_without_config(tmp_path: Path) -> None:
    out = run("keys", "init", "--party", "355", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    cert = k.load_certificate(tmp_path / "keys/gateway.pem")
    assert k.party_of(cert) == "355"
    out = run("keys", "init", "--party", "35", "--force", cwd=tmp_path)
    assert out.returncode == 1 and "REJECTED bad-party" in out.stderr
    assert "3-digit LA code" in out.stderr  # the expected form


def test_send_status_and_unknown_partner(tmp_path: Path) -> None:
    assert run("init", "--party", "355", cwd=tmp_path).returncode == 0
    text = (tmp_path / "gateway.toml").read_text()
    (tmp_path / "gateway.toml").write_text(
        text + '"352" = "http://127.0.0.1:9/v1/messages"\n')
    f = tmp_path / "e.xml"
    f.write_bytes(mx.to_bytes(mx.build(enquiry())))
    out = run("send", str(f), "--to", "352", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    status = run("status", cwd=tmp_path)
    assert "queued" in status.stdout and "352" in status.stdout
    out = run("send", str(f), "--to", "350", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.startswith("REJECTED unknown-partner")
    bad = tmp_path / "bad.xml"
    bad.write_text("<Enquiry xmlns='urn:cme-gateway:message:1'/>")
    out = run("send", str(bad), "--to", "352", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.startswith("REJECTED schema-invalid")


def test_reply_to_a_message_that_is_not_there(tmp_path: Path) -> None:
    run("init", "--party", "352", cwd=tmp_path)
    out = run("reply", "00000000-0000-4000-8000-000000000000", "--outcome", "1=not-known",
              cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.startswith("REJECTED not-found")
    out = run("reply", "x", "--outcome", "1=maybe", cwd=tmp_path)
    assert out.stderr.startswith("REJECTED bad-request")


def test_python_dash_m_and_console_script_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cme-gateway"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("cme-gateway ")


def test_demo_runs_the_sample_exchange(tmp_path: Path) -> None:
    import socket

    from tests.conftest import free_port

    def free(p: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
        return True

    port = free_port()
    while port < 2000 or not free(port - 3):  # the demo's 352 listens 3 below
        port = free_port()
    out = subprocess.run([sys.executable, "-m", "gateway", "demo", "--dir", str(tmp_path / "d"),
                          "--port", str(port), "--exit-after"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "answered, child 1: not-known-monitoring" in out.stdout
    # the monitoring loop: found after 352's records import, the updated reply at 355
    assert "child 1: known-on-roll at 3524001 (same conversation, updated reply)" in out.stdout
    assert "Bearer" in out.stdout and "gateways stopped" in out.stdout
    # Each gateway's web pages, with an officer's sign-in that works there.
    signs = re.findall(r"(http://127.0.0.1:\d+)/sign-in  \(user (\S+), password (\S+)\)",
                       out.stdout)
    assert len(signs) == 2 and {s[1] for s in signs} == {"officer.salford",
                                                         "officer.manchester"}


def test_demo_stopped_as_it_says_exits_cleanly(tmp_path: Path) -> None:
    """README review: stopping the demo with the `kill` it prints made `make demo` report
    an error (the demo exited 1 when its gateways ended, however they ended)."""
    import os
    import signal

    from tests.conftest import free_port

    port = free_port()
    while port < 2000:
        port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--dir",
                             str(tmp_path / "d"), "--port", str(port)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"or: kill (\d+) (\d+)", line)
            if found:
                break
        else:
            raise AssertionError("the demo never said how to stop it")
        for pid in found.groups():
            os.kill(int(pid), signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, rest
        assert "gateways stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_age_and_schooldays(capsys) -> None:  # type: ignore[no-untyped-def]
    from gateway.cli.main import main

    assert main(["age", "--dob", "2015-03-14", "--on", "2026-12-01"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "compulsory_from=2020-03-31", "compulsory_until=2031-06-27", "of_compulsory_age=yes"]
    # A 16th birthday on 31 August: the school year it falls in ends that day, so the child
    # leaves at the end of June just before; a day later, a year later.
    assert main(["age", "--dob", "2010-08-31", "--on", "2026-07-01"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["compulsory_until=2026-06-26",
                                                        "of_compulsory_age=no"]
    assert main(["age", "--dob", "2010-09-01", "--on", "2026-07-01"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["compulsory_until=2027-06-25",
                                                        "of_compulsory_age=yes"]
    # The shipped 2026-27 example: 22 weekdays in September, two of them INSET days.
    assert main(["schooldays", "--from", "2026-09-01", "--to", "2026-09-30"]) == 0
    assert capsys.readouterr().out == "school_days=20\n"
    assert main(["schooldays", "--from", "2030-09-01", "--to", "2030-09-30"]) == 1
    assert capsys.readouterr().err.startswith("REJECTED config-invalid:")
