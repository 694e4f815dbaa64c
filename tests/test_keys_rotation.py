"""This gateway's own key rotation: the next key and certificate, the previous pair kept, and
partners that hold both certificates accepting messages signed before and after."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto import directory, dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.exchange.gateway import Gateway
from gateway.exchange.inbound import verify_and_parse
from gateway.exchange.outgoing import queue
from gateway.messages import xml as mx
from tests.conftest import Home, enquiry, make_home

AT_352 = Settings(party="352")


def pair_in(folder: Path, party: str = "355", kind: str = "ec") -> tuple[Path, Path]:
    key = k.generate_key(kind)
    key_file, cert_file = folder / "keys/gateway.key", folder / "keys/gateway.pem"
    k.write_private(key_file, k.key_pem(key))
    k.write_public(cert_file, k.cert_pem(k.make_certificate(party, key)))
    return key_file, cert_file


def signer_of(key_file: Path, cert_file: Path) -> dsig.Signer:
    return dsig.Signer(k.load_private_key(key_file), k.load_certificate(cert_file))


def code_of(data: bytes, trust: TrustStore) -> str:
    with pytest.raises(GatewayError) as info:
        verify_and_parse(data, trust, AT_352)
    return info.value.code


def test_rotate_makes_the_next_pair_and_keeps_the_current_one(tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    old_key, old_cert = key_file.read_bytes(), cert_file.read_bytes()
    rotation = k.rotate(key_file, cert_file)
    assert rotation.party == "355" and k.party_of(rotation.cert) == "355"
    assert key_file.read_bytes() != old_key and k.load_certificate(cert_file) == rotation.cert
    assert k.pair_matches(k.load_private_key(key_file), rotation.cert)
    assert k.key_kind(k.load_private_key(key_file)) == "ec"  # same type unless told
    assert rotation.previous_key.read_bytes() == old_key
    assert rotation.previous_cert.read_bytes() == old_cert
    assert rotation.previous_key.parent == tmp_path / "keys/previous"
    assert rotation.previous_key.stat().st_mode & 0o077 == 0  # still private
    assert key_file.stat().st_mode & 0o077 == 0
    # told otherwise: an RSA key; and the list of previous certificates grows
    k.rotate(key_file, cert_file, kind="rsa")
    assert k.key_kind(k.load_private_key(key_file)) == "rsa"
    assert len(k.previous_certificates(key_file)) == 2
    assert not [p for p in (tmp_path / "keys").iterdir() if p.name.startswith(".")]


def test_rotate_refuses_what_it_cannot_do_safely(tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    other = k.make_certificate("355", k.generate_key())
    k.write_public(cert_file, k.cert_pem(other))
    with pytest.raises(GatewayError, match="is not the certificate of"):
        k.rotate(key_file, cert_file)
    # a CA-issued certificate is renewed by its CA, never replaced by a self-signed one
    ca_key = k.generate_key()
    ca = k.make_certificate("Test CA", ca_key, is_ca=True)
    key = k.load_private_key(key_file)
    k.write_public(cert_file, k.cert_pem(k.make_certificate("355", key, issuer_key=ca_key,
                                                            issuer_cert=ca)))
    with pytest.raises(GatewayError, match="issued by a CA"):
        k.rotate(key_file, cert_file)
    k.write_private(tmp_path / "ca.key", k.key_pem(ca_key))
    k.write_public(tmp_path / "ca.pem", k.cert_pem(ca))
    rotation = k.rotate(key_file, cert_file, ca_key=tmp_path / "ca.key",
                        ca_cert=tmp_path / "ca.pem")
    rotation.cert.verify_directly_issued_by(ca)
    with pytest.raises(GatewayError):
        k.rotate(tmp_path / "missing.key", cert_file)


def test_a_message_signed_before_rotation_still_verifies_at_a_partner_holding_both(
        tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    old_cert = k.load_certificate(cert_file)
    before = signer_of(key_file, cert_file).sign(mx.build(enquiry()))  # e.g. a queued retry
    rotation = k.rotate(key_file, cert_file)
    after = signer_of(key_file, cert_file).sign(mx.build(enquiry()))
    assert k.cert_pem(rotation.cert).split(b"\n")[1] in after.replace(b"\r", b"")
    both = tmp_path / "at-352"
    directory.add_certificate(both, "355", old_cert)
    directory.add_certificate(both, "355", rotation.cert)
    trust = TrustStore(both)
    for data in (before, after):
        assert verify_and_parse(data, trust, AT_352).header.sender == "355"
    only_old, only_new = tmp_path / "old", tmp_path / "new"
    directory.add_certificate(only_old, "355", old_cert)
    directory.add_certificate(only_new, "355", rotation.cert)
    assert code_of(after, TrustStore(only_old)) == "certificate-untrusted"  # new key signs
    assert code_of(before, TrustStore(only_new)) == "certificate-untrusted"


async def test_queued_messages_keep_their_signature_across_a_rotation(tmp_path: Path) -> None:
    """The outbox stores signed bodies: a retry after the rotation sends the bytes signed with
    the old key, which a partner holding both certificates accepts; new messages are signed
    with the new key."""
    home = make_home(tmp_path, "355", {"352": "http://127.0.0.1:9/v1/messages"})
    old_cert = k.load_certificate(home.path / "keys/gateway.pem")
    gw = await Gateway.open(home.settings())
    try:
        queued = await queue(gw, enquiry())
    finally:
        await gw.close()
    rotation = k.rotate(home.path / "keys/gateway.key", home.path / "keys/gateway.pem")
    gw = await Gateway.open(home.settings())  # the restarted gateway
    try:
        stored = await gw.store.outbox.get(queued.message_id, with_body=True)
        fresh = await queue(gw, enquiry())
    finally:
        await gw.close()
    assert stored is not None and stored.body == queued.body
    at_352 = tmp_path / "partners-of-352"
    for cert in (old_cert, rotation.cert):
        directory.add_certificate(at_352, "355", cert)
    trust = TrustStore(at_352)
    assert verify_and_parse(stored.body, trust, AT_352).header.sender == "355"
    assert verify_and_parse(fresh.body, trust, AT_352).header.sender == "355"
    assert code_of(fresh.body, TrustStore(_only(tmp_path / "old-only", old_cert))) == \
        "certificate-untrusted"


def _only(folder: Path, cert: k.x509.Certificate) -> Path:
    directory.add_certificate(folder, "355", cert)
    return folder


def test_a_file_signer_takes_the_rotated_key_without_a_restart(tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    signer = dsig.FileSigner(key_file, cert_file)
    first = signer.cert
    rotation = k.rotate(key_file, cert_file)
    signer.reload_if_changed(force=True)
    assert signer.cert == rotation.cert
    data = signer.sign(mx.build(enquiry()))
    folder = tmp_path / "p"
    directory.add_certificate(folder, "355", rotation.cert)
    assert verify_and_parse(data, TrustStore(folder), AT_352).header.sender == "355"
    # a half-done change (a certificate that is not the key's) is not taken
    k.write_public(cert_file, k.cert_pem(first))
    assert signer.reload_if_changed(force=True) is False
    assert signer.cert == rotation.cert


# ---- the command line -----------------------------------------------------------------------

def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Home]:
    for name in list(os.environ):
        if name.startswith("CME_GATEWAY_"):
            monkeypatch.delenv(name)
    return make_home(tmp_path, "355"), make_home(tmp_path, "352")


def test_keys_rotate_and_partners_add_list_remove(homes: tuple[Home, Home], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    a, b = homes
    a_cfg, b_cfg = str(a.config), str(b.config)
    old_pem = (a.path / "keys/gateway.pem").read_bytes()
    (tmp_path / "old.pem").write_bytes(old_pem)
    assert cli(capsys, "--config", b_cfg, "partners", "add", "355", str(tmp_path / "old.pem"))[0] \
        == 0
    before = tmp_path / "before.xml"
    before.write_bytes(signer_of(a.path / "keys/gateway.key", a.path / "keys/gateway.pem")
                       .sign(mx.build(enquiry())))

    rc, out, err = cli(capsys, "--config", a_cfg, "keys", "rotate")
    assert rc == 0, err
    new_pem = (a.path / "keys/gateway.pem").read_bytes()
    assert out == new_pem.decode()  # what to give partners
    old_fp = k.fingerprint(k.load_certificate(tmp_path / "old.pem"))
    assert f"partners remove 355 --fingerprint {old_fp[:16]}" in err
    assert list((a.path / "keys/previous").glob("gateway-*.pem"))

    (tmp_path / "new.pem").write_text(out)
    rc, out, _ = cli(capsys, "--config", b_cfg, "partners", "add", "355", str(tmp_path / "new.pem"))
    assert rc == 0 and "added (2 in all)" in out
    rc, out, _ = cli(capsys, "--config", b_cfg, "partners", "add", "355", str(tmp_path / "new.pem"))
    assert "already there (2 in all)" in out
    rc, out, _ = cli(capsys, "--config", b_cfg, "partners", "list")
    lines = out.splitlines()
    new_cert = k.load_certificate(tmp_path / "new.pem")
    assert len(lines) == 2 and all(line.startswith("355") for line in lines)
    assert any(old_fp[:16] in line for line in lines)
    assert any(k.fingerprint(new_cert)[:16] in line
               and f"until {new_cert.not_valid_after_utc:%Y-%m-%d}" in line for line in lines)

    after = tmp_path / "after.xml"
    after.write_bytes(signer_of(a.path / "keys/gateway.key", a.path / "keys/gateway.pem")
                      .sign(mx.build(enquiry())))
    for msg in (before, after):
        rc, out, _ = cli(capsys, "--config", b_cfg, "verify", str(msg))
        assert rc == 0 and out.startswith("OK sender=355"), out

    rc, out, _ = cli(capsys, "--config", b_cfg, "partners", "remove", "355", "--fingerprint",
                     old_fp[:16])
    assert rc == 0 and "1 certificate left" in out
    rc, out, _ = cli(capsys, "--config", b_cfg, "verify", str(before))
    assert rc == 1 and out.startswith("REJECTED certificate-untrusted")
    rc, out, _ = cli(capsys, "--config", b_cfg, "verify", str(after))
    assert rc == 0
    rc, _, err = cli(capsys, "--config", b_cfg, "partners", "remove", "355", "--fingerprint",
                     old_fp[:16])
    assert rc == 1 and err.startswith("REJECTED not-found")
    rc, out, _ = cli(capsys, "--config", b_cfg, "partners", "remove", "355")
    assert rc == 0 and "0 certificates left" in out
    assert "(no partners" in cli(capsys, "--config", b_cfg, "partners", "list")[1]


def test_keys_rotate_refusals_change_nothing(homes: tuple[Home, Home], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = homes
    keys = a.path / "keys"
    before = {p: p.read_bytes() for p in (keys / "gateway.key", keys / "gateway.pem")}
    rc, _, err = cli(capsys, "--config", str(a.config), "keys", "rotate", "--ca-key",
                     str(keys / "gateway.key"))
    assert rc == 1 and err.startswith("REJECTED bad-request")
    (keys / "gateway.pem").write_bytes(b"not a certificate")
    rc, _, err = cli(capsys, "--config", str(a.config), "keys", "rotate")
    assert rc == 1 and err.startswith("REJECTED")
    (keys / "gateway.pem").write_bytes(before[keys / "gateway.pem"])
    assert {p: p.read_bytes() for p in before} == before
    assert not (keys / "previous").exists()


def test_rotation_date_is_in_the_previous_name(tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    when = dt.datetime(2031, 2, 3, tzinfo=dt.UTC)
    rotation = k.rotate(key_file, cert_file, now=when)
    assert rotation.previous_cert.name.startswith("gateway-20310203-")
    assert rotation.cert.not_valid_before_utc == when


def test_a_staged_rotation_has_no_gap(homes: tuple[Home, Home], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """README review: after `keys rotate`, partners refused this gateway's messages and
    receipts until each added the new certificate. `keys rotate --stage` makes the next pair
    first; partners add it; `keys rotate` then switches to it, and they accept at once."""
    a, b = homes
    a_cfg, b_cfg = str(a.config), str(b.config)
    current = (a.path / "keys/gateway.pem").read_bytes()
    (tmp_path / "current.pem").write_bytes(current)
    assert cli(capsys, "--config", b_cfg, "partners", "add", "355",
               str(tmp_path / "current.pem"))[0] == 0

    rc, out, err = cli(capsys, "--config", a_cfg, "keys", "rotate", "--stage")
    assert rc == 0, err
    assert (a.path / "keys/gateway.pem").read_bytes() == current  # still signing with it
    staged = k.load_certificate(a.path / "keys/next/gateway.pem")
    assert out == k.cert_pem(staged).decode()
    assert (a.path / "keys/next/gateway.key").stat().st_mode & 0o077 == 0
    rc, _, err = cli(capsys, "--config", a_cfg, "keys", "rotate", "--stage")
    assert rc == 1 and "already staged" in err  # never a second one over the first
    (tmp_path / "next.pem").write_text(out)
    assert cli(capsys, "--config", b_cfg, "partners", "add", "355",
               str(tmp_path / "next.pem"))[0] == 0

    rc, out, err = cli(capsys, "--config", a_cfg, "keys", "rotate")
    assert rc == 0, err
    assert k.load_certificate(a.path / "keys/gateway.pem") == staged  # the staged pair
    assert "staged earlier" in err and not (a.path / "keys/next/gateway.key").exists()
    msg = tmp_path / "after.xml"
    msg.write_bytes(signer_of(a.path / "keys/gateway.key", a.path / "keys/gateway.pem")
                    .sign(mx.build(enquiry())))
    rc, out, _ = cli(capsys, "--config", b_cfg, "verify", str(msg))
    assert rc == 0 and out.startswith("OK sender=355"), out  # no gap
    # the next plain rotation makes a fresh pair again
    assert cli(capsys, "--config", a_cfg, "keys", "rotate")[0] == 0
    assert k.load_certificate(a.path / "keys/gateway.pem") != staged


def test_a_broken_staged_pair_is_refused_not_replaced(tmp_path: Path) -> None:
    key_file, cert_file = pair_in(tmp_path)
    k.stage(key_file, cert_file)
    other = k.generate_key()
    k.write_private(tmp_path / "keys/next/gateway.key", k.key_pem(other))  # not its cert's
    for act in (k.rotate, k.stage):
        with pytest.raises(GatewayError) as info:
            act(key_file, cert_file)
        assert info.value.code == "config-invalid" and "stage again" in (info.value.detail
                                                                          or "")
