"""The cases a newcomer found, each fixed and kept fixed. In-process (``main(argv)``) unless
a real process matters; ``test_cli_bad_input.py`` walks every command with bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.cli import messages, setup
from gateway.cli.main import main
from gateway.crypto import keys as k
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import open_store
from tests.conftest import ROOT, Home, enquiry, free_port, make_home


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CME_GATEWAY_"):
            monkeypatch.delenv(name)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_rejection(text: str, code: str) -> str:
    """The text is exactly one ``REJECTED <code>: ...`` line; returns it."""
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"REJECTED {code}: "), text
    assert "Traceback" not in text
    return lines[0]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1/messages"  # nothing listens there


@pytest.fixture
def home(tmp_path: Path) -> Home:
    closed = closed_url()
    return make_home(tmp_path, "355", {"352": closed, "S2S": closed})


def outbox(h: Home) -> list[m.Message]:
    async def go() -> list[m.Message]:
        s = h.settings()
        store = await open_store(s.database, s.home)
        try:
            rows = await store.outbox.recent(limit=100)
            full = [await store.outbox.get(r.message_id, with_body=True) for r in rows]
            return [mx.parse_stored(r.body) for r in full if r is not None]
        finally:
            await store.close()

    return asyncio.run(go())


# ---- init ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, code", [
    (["--party", "35x"], "bad-party"),
    (["--party", "3812"], "bad-party"),
    (["--party", "355", "--role", "hub"], "config-invalid"),
])
def test_init_with_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            argv: list[str], code: str) -> None:
    target = tmp_path / "gw"
    rc, _, err = cli(capsys, "init", "--dir", str(target), *argv)
    assert rc == 1
    one_rejection(err, code)
    assert not target.exists()


def test_init_says_the_expected_party_form(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "init", "--party", "381-2001", "--dir", str(tmp_path / "gw"))
    assert rc == 1 and "3524001 or 352/4001" in one_rejection(err, "bad-party")
    rc, _, _ = cli(capsys, "init", "--party", "381/2001", "--dir", str(tmp_path / "gw"))
    assert rc == 0 and 'party = "3812001"' in (tmp_path / "gw/gateway.toml").read_text()


def test_init_port_out_of_range_is_a_usage_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for port in ("99999", "0", "http"):
        rc, _, err = cli(capsys, "init", "--party", "355", "--dir", str(tmp_path / "gw"),
                         "--port", port)
        assert rc == 2 and "1 to 65535" in err
    assert not (tmp_path / "gw").exists()


def test_init_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    for target in (f, f / "sub"):
        rc, _, err = cli(capsys, "init", "--party", "355", "--dir", str(target))
        assert rc == 1
        one_rejection(err, "file-error")
    assert tree(tmp_path) == ["file"] and f.read_text() == "x"


def test_init_undoes_its_writes_when_one_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(k, "write_public", full_disk)
    (tmp_path / "existing").mkdir()
    target = tmp_path / "existing" / "gw"
    rc, _, err = cli(capsys, "init", "--party", "355", "--dir", str(target))
    assert rc == 1
    line = one_rejection(err, "file-error")
    assert "gateway.pem: No space left on device" in line
    assert tree(tmp_path) == ["existing"]  # the folders it made are gone too


def test_init_keeps_another_partys_key_and_refuses(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "init", "--party", "355", "--dir", str(tmp_path))[0] == 0
    before = {p: (tmp_path / p).read_bytes() for p in ("gateway.toml", "keys/gateway.key")}
    rc, _, err = cli(capsys, "init", "--party", "352", "--dir", str(tmp_path), "--force")
    assert rc == 1 and "party 355, not 352" in one_rejection(err, "config-invalid")
    assert before == {p: (tmp_path / p).read_bytes() for p in before}
    # the same party with --force rewrites the config and keeps the key
    assert cli(capsys, "init", "--party", "355", "--dir", str(tmp_path), "--force",
               "--port", "8123")[0] == 0
    assert "listen_port = 8123" in (tmp_path / "gateway.toml").read_text()
    assert (tmp_path / "keys/gateway.key").read_bytes() == before["keys/gateway.key"]


# ---- partners, config -----------------------------------------------------------------------

def test_partners_add_refuses_outside_a_gateway_folder(
        home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cert = str(home.path / "keys/gateway.pem")
    rc, _, err = cli(capsys, "partners", "add", "352", cert)
    assert rc == 1
    line = one_rejection(err, "config-missing")
    assert "--config" in line and "$CME_GATEWAY_CONFIG" in line and "gateway's folder" in line
    assert tree(elsewhere) == []  # no ./keys/partners/352.pem
    # pointed at the gateway, by --config, a folder, or the environment, it works
    assert cli(capsys, "--config", str(home.config), "partners", "add", "352", cert)[0] == 0
    assert cli(capsys, "--config", str(home.path), "partners", "add", "353", cert)[0] == 0
    monkeypatch.setenv("CME_GATEWAY_CONFIG", str(home.config))
    assert cli(capsys, "partners", "add", "354", cert)[0] == 0
    assert {"352.pem", "353.pem", "354.pem"} <= set(os.listdir(home.path / "keys/partners"))
    assert tree(elsewhere) == []


def test_a_named_config_must_exist(home: Home, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "--config", str(tmp_path / "typo.toml"), "verify",
                     str(home.config))
    assert rc == 1 and "typo.toml: no such file" in one_rejection(out, "config-missing")
    rc, _, err = cli(capsys, "--config", str(tmp_path), "status")  # a folder without one
    assert rc == 1 and "no gateway.toml in it" in one_rejection(err, "config-missing")


# ---- send -------------------------------------------------------------------------------

def test_send_a_missing_file_or_a_folder(home: Home, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    rc, _, err = cli(capsys, *cfg, "send", str(tmp_path / "nope.xml"), "--to", "352")
    assert rc == 1 and "nope.xml: no such file" in one_rejection(err, "file-error")
    rc, _, err = cli(capsys, *cfg, "send", str(tmp_path), "--to", "352")
    assert rc == 1 and "is a folder, not a file" in one_rejection(err, "file-error")
    f = tmp_path / "e.xml"
    f.write_bytes(mx.to_bytes(mx.build(enquiry())))
    rc, _, err = cli(capsys, *cfg, "send", str(f), "--to", "35/2")
    assert rc == 1 and "352/4001" in one_rejection(err, "bad-party")


def test_identical_resend_is_reported_as_a_resend(home: Home, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    msg = enquiry()
    mid = msg.header.message_id
    f = tmp_path / "e.xml"
    f.write_bytes(mx.to_bytes(mx.build(msg)))
    rc, out, _ = cli(capsys, *cfg, "send", str(f), "--to", "352")
    assert rc == 0 and out.strip() == f"queued {mid} to 352"
    rc, out, err = cli(capsys, *cfg, "send", str(f), "--to", "352")  # the same file again
    assert rc == 0 and err == ""
    assert out.startswith(f"already queued {mid} to 352 (now queued)") and "--new-id" in out
    assert len(outbox(home)) == 1
    # the same id with other content is a conflict, and says how to send it
    changed = dataclasses.replace(msg, enquiry_date=msg.enquiry_date.replace(year=2020))
    f.write_bytes(mx.to_bytes(mx.build(changed)))
    rc, _, err = cli(capsys, *cfg, "send", str(f), "--to", "352")
    assert rc == 1 and "--new-id" in one_rejection(err, "duplicate-conflict")
    assert len(outbox(home)) == 1


def test_send_new_id(home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    msg = enquiry()
    f = tmp_path / "e.xml"
    f.write_bytes(mx.to_bytes(mx.build(msg)))
    assert cli(capsys, *cfg, "send", str(f), "--to", "352")[0] == 0
    rc, out, _ = cli(capsys, *cfg, "send", str(f), "--to", "352", "--new-id")
    assert rc == 0 and out.startswith("queued ")
    new_id = out.split()[1]
    assert new_id != msg.header.message_id
    sent = {x.header.message_id: x for x in outbox(home)}
    assert set(sent) == {msg.header.message_id, new_id}
    # its own conversation: a new conversation too; the content is the file's
    assert sent[new_id].header.conversation_id == new_id
    assert messages._undated(sent[new_id]) != messages._undated(sent[msg.header.message_id])
    assert dataclasses.replace(sent[new_id], header=msg.header) == \
        dataclasses.replace(sent[msg.header.message_id], header=msg.header)


def test_new_id_keeps_a_conversation_it_belongs_to() -> None:
    msg = enquiry()
    follow_up = dataclasses.replace(msg, header=dataclasses.replace(
        msg.header, message_id=m.new_id()))  # in msg's conversation
    fresh = messages.with_new_id(follow_up)
    assert fresh.header.message_id != follow_up.header.message_id
    assert fresh.header.conversation_id == msg.header.message_id


# ---- status -----------------------------------------------------------------------------

def test_status_unknown_state_lists_the_states(home: Home,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    rc, out, err = cli(capsys, *cfg, "status", "--state", "faild")
    assert rc == 2 and out == "" and "invalid choice: 'faild'" in err
    assert all(state in err for state in messages.STATES)
    assert messages.STATES == ["queued", "sending", "delivered", "answered", "closed", "failed",
                               "expired", "cancelled"]
    rc, out, _ = cli(capsys, *cfg, "status", "--state", "failed")
    assert rc == 0 and "(no failed messages in the outbox)" in out


# ---- serve --------------------------------------------------------------------------------

def test_serve_on_a_busy_port(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, _, err = cli(capsys, "--config", str(home.config), "serve", "--port", str(port))
    assert rc == 1
    line = one_rejection(err, "listen-failed")
    assert f"127.0.0.1:{port}" in line and "in use" in line and "--port" in line


def test_serve_on_a_busy_port_as_a_process(home: Home) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        out = subprocess.run([sys.executable, "-m", "gateway", "--config", str(home.config),
                              "serve", "--port", str(busy.getsockname()[1])],
                             capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1 and out.stdout == ""
    one_rejection(out.stderr, "listen-failed")


# ---- CTFs, the hub --------------------------------------------------------------------------

def test_ctf_post_a_missing_file(home: Home, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "--config", str(home.config), "ctf", "post",
                     str(tmp_path / "nope.xml"))
    assert rc == 1 and "nope.xml: no such file" in one_rejection(out, "file-error")


def test_ctf_generate_source_forms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def source_of(path: Path) -> tuple[str | None, str | None]:
        src = etree.parse(str(path)).find("Header/SourceSchool")
        assert src is not None
        return src.findtext("LEA"), src.findtext("Estab")

    for form in ("3812001", "381/2001"):
        out = tmp_path / f"{form.replace('/', '-')}.xml"
        assert cli(capsys, "ctf", "generate", str(out), "--source", form)[0] == 0
        assert source_of(out) == ("381", "2001")
    rc, out_text, _ = cli(capsys, "ctf", "generate", str(tmp_path / "x.xml"),
                          "--source", "38120")
    assert rc == 1 and "3812001 or 381/2001" in one_rejection(out_text, "bad-party")
    rc, out_text, _ = cli(capsys, "ctf", "generate", str(tmp_path / "x.xml"),
                          "--dest", "352-4001")
    assert rc == 1 and "XXX/XXXX" in one_rejection(out_text, "bad-party")
    assert cli(capsys, "ctf", "generate", str(tmp_path / "lost.xml"), "--dest", "XXX/XXXX",
               "--pupils", "1")[0] == 0
    assert not (tmp_path / "x.xml").exists()


def test_an_unreachable_hub_is_partner_unreachable(
        home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    ctf = tmp_path / "ctf.xml"
    assert cli(capsys, "ctf", "generate", str(ctf), "--source", "355/2001")[0] == 0
    rc, out, _ = cli(capsys, *cfg, "ctf", "post", str(ctf))
    assert rc == 1 and "S2S" in one_rejection(out, "partner-unreachable")
    rc, _, err = cli(capsys, *cfg, "lpd", "search", "--upn", "A355200116042", "--reason", "x")
    assert rc == 1 and "store-unavailable" not in err
    one_rejection(err, "partner-unreachable")
    rc, _, err = cli(capsys, *cfg, "lpd", "claim", "00000000-0000-4000-8000-000000000000",
                     "--for-school", "355/2001", "--reason", "on roll")
    assert rc == 1
    one_rejection(err, "partner-unreachable")


def test_lpd_checks_locally_and_never_repeats_a_date_of_birth(
        home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(home.config)]
    rc, _, err = cli(capsys, *cfg, "lpd", "search", "--surname", "Kowalski", "--dob",
                     "2015-14-03", "--reason", "new arrival")
    assert rc == 1 and "2015-14-03" not in err and "YYYY-MM-DD" in err
    one_rejection(err, "bad-request")
    rc, _, err = cli(capsys, *cfg, "lpd", "search", "--surname", "Kowalski", "--reason", "x")
    assert rc == 1
    one_rejection(err, "lpd-search-too-vague")
    rc, _, err = cli(capsys, *cfg, "lpd", "claim", "t", "--for-school", "35/52001",
                     "--reason", "x")
    assert rc == 1 and "3812001 or 381/2001" in one_rejection(err, "bad-party")


def test_reply_outcome_school_must_be_a_laestab(home: Home,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "--config", str(home.config), "reply", "x", "--outcome",
                     "1=known-on-roll@35x:Oak School")
    assert rc == 1 and "381/2001" in one_rejection(err, "bad-party")
    o = messages.parse_outcome("1=known-on-roll@352/4001:Oak School")
    assert o.school == m.School(name="Oak School", laestab="3524001")
    o = messages.parse_outcome("2=known-on-roll@Oak School")
    assert o.school == m.School(name="Oak School", laestab=None)


# ---- what main() does with the unexpected ---------------------------------------------------

def test_an_unexpected_exception_is_one_internal_error_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise ValueError("Invalid isoformat string: 'Amelia Kowalski 2015-03-14'")

    monkeypatch.setattr(setup, "cmd_config", broken)
    rc, out, err = cli(capsys, "config")
    assert rc == 1 and out == ""
    line = one_rejection(err, "internal-error")
    assert "ValueError at test_cli_newcomer.py:" in line
    assert "Amelia" not in line and "2015" not in line


def test_an_os_error_names_the_file_never_its_content(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/cme/amelia.xml")

    monkeypatch.setattr(setup, "cmd_config", unreadable)
    rc, _, err = cli(capsys, "config")
    assert rc == 1
    line = one_rejection(err, "file-error")
    assert line.endswith("(/srv/cme/amelia.xml: Permission denied)")


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    rc, _, err = cli(capsys, "demo", "--dir", str(tmp_path), "--exit-after")
    assert rc == 1
    one_rejection(err, "file-error")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_keys_ca_does_not_replace_a_ca_key(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "ca")
    assert cli(capsys, "keys", "ca", "--out", out)[0] == 0
    key = (tmp_path / "ca/ca.key").read_bytes()
    rc, _, err = cli(capsys, "keys", "ca", "--out", out)
    assert rc == 1 and "--force" in one_rejection(err, "config-invalid")
    assert (tmp_path / "ca/ca.key").read_bytes() == key
    assert cli(capsys, "keys", "ca", "--out", out, "--force")[0] == 0
    assert (tmp_path / "ca/ca.key").read_bytes() != key
