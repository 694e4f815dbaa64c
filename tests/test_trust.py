"""The trust store: several certificates per party, and revocation (the CA's CRL; removing a
pinned certificate from the directory)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.core.config import Settings, load_settings
from gateway.core.errors import GatewayError
from gateway.crypto import directory, dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import xml as mx
from tests.conftest import enquiry

SETTINGS = Settings(party="352")
DS = dsig.DS


def sign(key: k.PrivateKey, cert: k.x509.Certificate, sender: str = "355") -> bytes:
    return dsig.Signer(key, cert).sign(mx.build(enquiry(sender=sender)))


def sender_of(data: bytes, trust: TrustStore, now: dt.datetime | None = None) -> str:
    return verify_and_parse(data, trust, SETTINGS, now).header.sender


def code_of(data: bytes, trust: TrustStore, now: dt.datetime | None = None) -> str:
    with pytest.raises(GatewayError) as info:
        verify_and_parse(data, trust, SETTINGS, now)
    return info.value.code


def replace(path: Path, data: bytes) -> None:
    """Write a new file and rename it over the old one (as operators are told to)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def rescan(trust: TrustStore) -> None:
    trust.reload_if_changed(force=True)


# ---- several certificates per party ---------------------------------------------------------

@dataclass
class Keyed:
    key: k.PrivateKey
    cert: k.x509.Certificate


def keyed(party: str = "355", kind: str = "ec", **kw: object) -> Keyed:
    key = k.generate_key(kind)
    return Keyed(key, k.make_certificate(party, key, **kw))  # type: ignore[arg-type]


def test_a_bundle_of_certificates_gives_the_party_each_of_them(tmp_path: Path) -> None:
    old, new, rsa = keyed(), keyed(), keyed(kind="rsa")
    (tmp_path / "355.pem").write_bytes(b"".join(k.cert_pem(x.cert) for x in (old, new, rsa)))
    trust = TrustStore(tmp_path)
    for x in (old, new, rsa):
        assert sender_of(sign(x.key, x.cert), trust) == "355"
    assert code_of(sign(keyed().key, keyed().cert), trust) == "certificate-untrusted"


def test_a_party_folder_adds_certificates_to_its_file(tmp_path: Path) -> None:
    in_file, in_folder, rsa = keyed(), keyed(), keyed(kind="rsa")
    (tmp_path / "355.pem").write_bytes(k.cert_pem(in_file.cert))
    (tmp_path / "355").mkdir()
    (tmp_path / "355" / "2026-ec.pem").write_bytes(k.cert_pem(in_folder.cert))
    (tmp_path / "355" / "rsa.pem").write_bytes(k.cert_pem(rsa.cert))
    trust = TrustStore(tmp_path)
    for x in (in_file, in_folder, rsa):
        assert sender_of(sign(x.key, x.cert), trust) == "355"
    assert len(trust.certificates("355")) == 3


def test_a_certificate_under_two_parties_speaks_for_neither(tmp_path: Path) -> None:
    x = keyed()
    (tmp_path / "355.pem").write_bytes(k.cert_pem(x.cert))
    (tmp_path / "352.pem").write_bytes(k.cert_pem(x.cert))
    assert code_of(sign(x.key, x.cert), TrustStore(tmp_path)) == "certificate-untrusted"


def test_an_unreadable_file_hides_only_itself(tmp_path: Path) -> None:
    good = keyed()
    (tmp_path / "355.pem").write_bytes(k.cert_pem(good.cert))
    (tmp_path / "355").mkdir()
    (tmp_path / "355" / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    # a private key put in the directory by mistake: the file is ignored whole
    (tmp_path / "355" / "withkey.pem").write_bytes(k.cert_pem(keyed().cert) + k.key_pem(good.key))
    (tmp_path / "notaparty.pem").write_bytes(k.cert_pem(keyed().cert))
    (tmp_path / "retired").mkdir()
    entries, problems = directory.load(tmp_path)
    assert [e.party for e in entries] == ["355"]
    assert len(problems) == 4
    assert sender_of(sign(good.key, good.cert), TrustStore(tmp_path)) == "355"


def test_removing_one_certificate_of_a_party_is_its_revocation(tmp_path: Path) -> None:
    old, new = keyed(), keyed()
    (tmp_path / "355.pem").write_bytes(k.cert_pem(old.cert) + k.cert_pem(new.cert))
    trust = TrustStore(tmp_path)
    early = sign(old.key, old.cert)  # e.g. a retry queued before the partner's key roll
    assert sender_of(early, trust) == "355"
    directory.remove_certificate(tmp_path, "355", k.fingerprint(old.cert)[:16])
    rescan(trust)
    assert code_of(early, trust) == "certificate-untrusted"
    assert sender_of(sign(new.key, new.cert), trust) == "355"


def test_a_file_removed_from_a_party_folder_is_noticed(tmp_path: Path) -> None:
    a, b = keyed(), keyed()
    (tmp_path / "355").mkdir()
    (tmp_path / "355" / "a.pem").write_bytes(k.cert_pem(a.cert))
    (tmp_path / "355" / "b.pem").write_bytes(k.cert_pem(b.cert))
    trust = TrustStore(tmp_path)
    assert sender_of(sign(a.key, a.cert), trust) == "355"
    (tmp_path / "355" / "a.pem").unlink()
    rescan(trust)
    assert code_of(sign(a.key, a.cert), trust) == "certificate-untrusted"
    assert sender_of(sign(b.key, b.cert), trust) == "355"


def test_an_expired_certificate_of_the_bundle_is_refused_while_the_current_one_works(
        tmp_path: Path) -> None:
    old = keyed(days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    new = keyed()
    (tmp_path / "355.pem").write_bytes(k.cert_pem(old.cert) + k.cert_pem(new.cert))
    trust = TrustStore(tmp_path)
    assert code_of(sign(old.key, old.cert), trust) == "certificate-expired"
    assert sender_of(sign(new.key, new.cert), trust) == "355"


def test_keyinfo_with_several_trusted_certificates_verifies_with_the_one_that_signed(
        tmp_path: Path) -> None:
    old, new = keyed(), keyed(kind="rsa")
    (tmp_path / "355.pem").write_bytes(k.cert_pem(old.cert) + k.cert_pem(new.cert))
    root = etree.fromstring(sign(new.key, new.cert))
    x509_data = root.find(f".//{{{DS}}}X509Data")
    first = etree.Element(f"{{{DS}}}X509Certificate")
    first.text = "".join(k.cert_pem(old.cert).decode().splitlines()[1:-1])
    x509_data.insert(0, first)  # KeyInfo is not signed: the old certificate listed first
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert sender_of(data, TrustStore(tmp_path)) == "355"


# ---- directory operations -------------------------------------------------------------------

def test_add_appends_to_a_partys_certificates(tmp_path: Path) -> None:
    a, b = keyed(), keyed()
    path = tmp_path / "355.pem"
    assert directory.add_certificate(tmp_path, "355", a.cert) == directory.Added(path, True, ())
    assert directory.add_certificate(tmp_path, "355", b.cert) == directory.Added(path, True, ())
    # no duplicate
    assert directory.add_certificate(tmp_path, "355", a.cert) == directory.Added(path, False, ())
    assert [c.serial_number for c in directory.read_bundle(path)] == \
        [a.cert.serial_number, b.cert.serial_number]
    # one certificate under two parties is written (as asked) but named for a warning, and
    # then speaks for neither
    assert directory.add_certificate(tmp_path, "352", a.cert).others == ("355",)
    assert code_of(sign(a.key, a.cert), TrustStore(tmp_path)) == "certificate-untrusted"
    with pytest.raises(GatewayError):
        directory.add_certificate(tmp_path, "35", b.cert)


def test_list_shows_each_certificate_with_fingerprint_and_expiry(tmp_path: Path) -> None:
    soon, later = keyed(days=30), keyed(days=400)
    directory.add_certificate(tmp_path, "355", later.cert)
    directory.add_certificate(tmp_path, "355", soon.cert)
    (tmp_path / "352").mkdir()
    (tmp_path / "352" / "rsa.pem").write_bytes(k.cert_pem(keyed("352", "rsa").cert))
    listed = directory.list_certificates(tmp_path)
    assert [(e.party, e.fingerprint) for e in listed][1:] == \
        [("355", k.fingerprint(soon.cert)), ("355", k.fingerprint(later.cert))]
    assert listed[0].party == "352" and listed[0].key_type == "rsa-3072"
    assert listed[1].not_after == soon.cert.not_valid_after_utc and listed[1].current()


def test_remove_retires_one_certificate_or_all(tmp_path: Path) -> None:
    a, b, c = keyed(), keyed(), keyed()
    for x in (a, b):
        directory.add_certificate(tmp_path, "355", x.cert)
    (tmp_path / "355").mkdir()
    (tmp_path / "355" / "c.pem").write_bytes(k.cert_pem(c.cert))
    fp = k.fingerprint(a.cert)
    for bad in ("abc", "zz" * 8):
        with pytest.raises(GatewayError) as info:
            directory.remove_certificate(tmp_path, "355", bad)
        assert info.value.code == "bad-request"
    with pytest.raises(GatewayError) as info:
        directory.remove_certificate(tmp_path, "352", fp)
    assert info.value.code == "not-found"
    gone = directory.remove_certificate(tmp_path, "355", ":".join(fp[i:i + 2]
                                                                  for i in range(0, 16, 2)))
    assert [e.fingerprint for e in gone] == [fp]
    assert {e.fingerprint for e in directory.list_certificates(tmp_path)} == \
        {k.fingerprint(b.cert), k.fingerprint(c.cert)}
    gone = directory.remove_certificate(tmp_path, "355")
    assert len(gone) == 2 and directory.list_certificates(tmp_path) == []
    assert not (tmp_path / "355.pem").exists()


# ---- the CA's CRL ---------------------------------------------------------------------------

@dataclass
class Ca:
    root: Path
    key: k.PrivateKey
    cert: k.x509.Certificate

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def crl_file(self) -> Path:
        return self.root / "ca.crl"

    def issue(self, party: str = "355", kind: str = "ec") -> Keyed:
        key = k.generate_key(kind)
        return Keyed(key, k.make_certificate(party, key, issuer_key=self.key,
                                             issuer_cert=self.cert))

    def publish(self, *revoked: Keyed, days: int = 7, der: bool = False,
                last_update: dt.datetime | None = None) -> None:
        crl = k.make_crl(self.key, self.cert, [x.cert.serial_number for x in revoked],
                         days=days, last_update=last_update)
        replace(self.crl_file, crl.public_bytes(serialization.Encoding.DER) if der
                else k.crl_pem(crl))

    def trust(self, policy: str = "honour") -> TrustStore:
        (self.root / "partners").mkdir(exist_ok=True)
        return TrustStore(self.root / "partners", self.ca_file, self.crl_file, policy)


@pytest.fixture
def ca(tmp_path: Path) -> Ca:
    key = k.generate_key()
    cert = k.make_certificate("Test CA", key, is_ca=True)
    (tmp_path / "ca.pem").write_bytes(k.cert_pem(cert))
    return Ca(tmp_path, key, cert)


def test_a_revoked_certificate_is_refused(ca: Ca) -> None:
    revoked, kept = ca.issue("355"), ca.issue("355", "rsa")
    ca.publish(revoked)
    trust = ca.trust()
    assert code_of(sign(revoked.key, revoked.cert), trust) == "certificate-revoked"
    assert sender_of(sign(kept.key, kept.cert), trust) == "355"
    assert GatewayError("certificate-revoked").status == 403


def test_a_der_crl_is_read_too(ca: Ca) -> None:
    revoked = ca.issue()
    ca.publish(revoked, der=True)
    assert code_of(sign(revoked.key, revoked.cert), ca.trust()) == "certificate-revoked"


def test_the_crl_is_reread_when_its_file_changes(ca: Ca) -> None:
    x = ca.issue()
    ca.publish()
    trust = ca.trust()
    assert sender_of(sign(x.key, x.cert), trust) == "355"
    ca.publish(x)
    rescan(trust)
    assert code_of(sign(x.key, x.cert), trust) == "certificate-revoked"
    assert trust.crl_status()["revoked"] == 1


def test_a_crl_not_signed_by_the_ca_is_refused_at_start(ca: Ca) -> None:
    # same issuer name, another key: a forged CRL that would "unrevoke" certificates
    impostor_key = k.generate_key()
    impostor = k.make_certificate("Test CA", impostor_key, is_ca=True)
    replace(ca.crl_file, k.crl_pem(k.make_crl(impostor_key, impostor, [])))
    with pytest.raises(GatewayError) as info:
        ca.trust()
    assert info.value.code == "config-invalid" and "not signed by the CA" in info.value.text
    # another CA's genuine CRL
    other_key = k.generate_key()
    other = k.make_certificate("Other CA", other_key, is_ca=True)
    replace(ca.crl_file, k.crl_pem(k.make_crl(other_key, other, [])))
    with pytest.raises(GatewayError) as info:
        ca.trust()
    assert info.value.code == "config-invalid"
    ca.crl_file.write_bytes(b"not a CRL")
    with pytest.raises(GatewayError):
        ca.trust()
    ca.crl_file.unlink()
    with pytest.raises(GatewayError):
        ca.trust()


def test_a_bad_crl_while_running_fails_closed_for_ca_certificates_only(ca: Ca) -> None:
    x = ca.issue()
    pinned = keyed("352")
    ca.publish()
    trust = ca.trust()
    (ca.root / "partners" / "352.pem").write_bytes(k.cert_pem(pinned.cert))
    rescan(trust)
    impostor_key = k.generate_key()
    impostor = k.make_certificate("Test CA", impostor_key, is_ca=True)
    replace(ca.crl_file, k.crl_pem(k.make_crl(impostor_key, impostor, [])))
    rescan(trust)
    assert code_of(sign(x.key, x.cert), trust) == "crl-invalid"
    assert trust.crl_status()["ok"] is False and trust.crl_status()["stale"] is True
    # directory certificates do not depend on the CRL
    assert sender_of(sign(pinned.key, pinned.cert, "352"), trust) == "352"
    ca.crl_file.unlink()
    rescan(trust)
    assert code_of(sign(x.key, x.cert), trust) == "crl-invalid"
    ca.publish()
    rescan(trust)
    assert sender_of(sign(x.key, x.cert), trust) == "355"
    assert GatewayError("crl-invalid").status == 503


def test_a_stale_crl_is_reported_and_honoured_by_default(ca: Ca) -> None:
    revoked, kept = ca.issue(), ca.issue()
    ca.publish(revoked, days=1)
    trust = ca.trust()
    status = trust.crl_status()
    assert status["configured"] and status["ok"] and not status["stale"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert trust.crl_stale(later) and not trust.crl_stale()
    stale = trust.crl_status(later)
    assert stale["stale"] and stale["next_update"] == \
        k.x509.load_pem_x509_crl(ca.crl_file.read_bytes()).next_update_utc.isoformat()
    assert code_of(sign(revoked.key, revoked.cert), trust, later) == "certificate-revoked"
    assert sender_of(sign(kept.key, kept.cert), trust, later) == "355"


def test_a_stale_crl_refuses_every_ca_certificate_when_fail_closed(ca: Ca) -> None:
    revoked, kept = ca.issue(), ca.issue()
    pinned = keyed("352")
    ca.publish(revoked, last_update=dt.datetime.now(dt.UTC) - dt.timedelta(days=3), days=1)
    trust = ca.trust("fail-closed")
    (ca.root / "partners" / "352.pem").write_bytes(k.cert_pem(pinned.cert))
    rescan(trust)
    assert trust.crl_stale()
    assert code_of(sign(kept.key, kept.cert), trust) == "crl-stale"
    assert code_of(sign(revoked.key, revoked.cert), trust) == "certificate-revoked"
    assert sender_of(sign(pinned.key, pinned.cert, "352"), trust) == "352"
    ca.publish(revoked)  # a fresh CRL: accepted again
    rescan(trust)
    assert sender_of(sign(kept.key, kept.cert), trust) == "355"


def test_crl_status_without_a_crl(ca: Ca) -> None:
    trust = TrustStore(ca.root, ca.ca_file)
    assert trust.crl_status()["configured"] is False and trust.crl_stale() is False


def test_crl_settings(ca: Ca, tmp_path: Path) -> None:
    ca.publish()
    config = tmp_path / "gateway.toml"
    config.write_text('party = "352"\nca_file = "ca.pem"\ncrl_file = "ca.crl"\n'
                      'crl_stale_policy = "fail-closed"\n')
    s = load_settings(config, env={})
    trust = TrustStore.from_settings(s)
    assert trust.crl_file == tmp_path / "ca.crl" and trust.crl_stale_policy == "fail-closed"
    for bad in ('crl_file = "ca.crl"\n', 'crl_stale_policy = "ignore"\n'):
        config.write_text(f'party = "352"\n{bad}')
        with pytest.raises(GatewayError) as info:
            load_settings(config, env={})
        assert info.value.code == "config-invalid"
    with pytest.raises(GatewayError):
        TrustStore(tmp_path, None, ca.crl_file)


def test_a_crl_made_by_openssl_is_read_and_ours_passes_openssl(ca: Ca, tmp_path: Path) -> None:
    """Interop with an independent implementation: OpenSSL's `ca -gencrl` (PEM and DER) is
    read and enforced, and OpenSSL verifies the CRLs the test helper makes."""
    openssl = shutil.which("openssl")
    if openssl is None:  # never skip silently
        pytest.fail("openssl is not installed")
    revoked, kept = ca.issue(), ca.issue()
    work = tmp_path / "openssl"
    work.mkdir()
    (work / "ca.key").write_bytes(k.key_pem(ca.key))
    (work / "leaf.pem").write_bytes(k.cert_pem(revoked.cert))
    (work / "index.txt").write_text("")
    (work / "crlnumber").write_text("1000\n")
    (work / "c.cnf").write_text("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
                                "crlnumber = crlnumber\ndefault_md = sha256\n"
                                "default_crl_days = 7\n")
    base = [openssl, "ca", "-batch", "-config", "c.cnf", "-keyfile", "ca.key", "-cert",
            str(ca.ca_file)]
    for args in (["-revoke", "leaf.pem"], ["-gencrl", "-out", "crl.pem"]):
        res = subprocess.run(base + args, cwd=work, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    res = subprocess.run([openssl, "crl", "-in", "crl.pem", "-outform", "DER", "-out",
                          "crl.der"], cwd=work, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for name in ("crl.pem", "crl.der"):
        replace(ca.crl_file, (work / name).read_bytes())
        trust = ca.trust()
        assert code_of(sign(revoked.key, revoked.cert), trust) == "certificate-revoked"
        assert sender_of(sign(kept.key, kept.cert), trust) == "355"
    ca.publish(kept)
    res = subprocess.run([openssl, "crl", "-in", str(ca.crl_file), "-CAfile", str(ca.ca_file),
                          "-noout"], capture_output=True, text=True)
    assert res.returncode == 0 and "verify OK" in res.stdout + res.stderr, res.stderr


def test_keys_crl_revokes_what_the_ca_issued_and_keeps_earlier_revocations(
        ca: Ca, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cme-gateway keys crl`: the CRL `crl_file` reads, made without openssl (README
    review: the README described crl_file but gave no way to make one)."""
    from gateway.cli.main import main

    (ca.root / "ca.key").write_bytes(k.key_pem(ca.key))
    first, second, kept = ca.issue("355"), ca.issue("352"), ca.issue("355", "rsa")
    for name, x in (("first", first), ("second", second)):
        (tmp_path / f"{name}.pem").write_bytes(k.cert_pem(x.cert))
    assert main(["keys", "crl", "--ca", str(ca.root), "--revoke",
                 str(tmp_path / "first.pem")]) == 0
    assert "1 revoked" in capsys.readouterr().out
    assert code_of(sign(first.key, first.cert), ca.trust()) == "certificate-revoked"
    # a later run adds one and keeps the first (and its revocation date)
    before = {r.serial_number: r.revocation_date_utc
              for r in k.x509.load_pem_x509_crl(ca.crl_file.read_bytes())}
    assert main(["keys", "crl", "--ca", str(ca.root), "--revoke",
                 str(tmp_path / "second.pem")]) == 0
    after = {r.serial_number: r.revocation_date_utc
             for r in k.x509.load_pem_x509_crl(ca.crl_file.read_bytes())}
    assert after[first.cert.serial_number] == before[first.cert.serial_number]
    trust = ca.trust()
    for x in (first, second):
        assert code_of(sign(x.key, x.cert), trust) == "certificate-revoked"
    assert sender_of(sign(kept.key, kept.cert), trust) == "355"


def test_keys_crl_refuses_what_is_not_this_cas(ca: Ca, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.main import main

    (ca.root / "ca.key").write_bytes(k.key_pem(ca.key))
    other_key = k.generate_key()
    other = k.make_certificate("Other CA", other_key, is_ca=True)
    stranger_key = k.generate_key()
    stranger = k.make_certificate("355", stranger_key, issuer_key=other_key, issuer_cert=other)
    (tmp_path / "stranger.pem").write_bytes(k.cert_pem(stranger))
    (tmp_path / "self.pem").write_bytes(k.cert_pem(ca.cert))
    for name in ("stranger.pem", "self.pem"):
        assert main(["keys", "crl", "--ca", str(ca.root), "--revoke",
                     str(tmp_path / name)]) == 1
        assert "REJECTED bad-request" in capsys.readouterr().err
    # an existing file that is another CA's CRL is not overwritten
    ca.crl_file.write_bytes(k.crl_pem(k.make_crl(other_key, other, [])))
    assert main(["keys", "crl", "--ca", str(ca.root)]) == 1
    assert "not a CRL of this CA" in capsys.readouterr().err
