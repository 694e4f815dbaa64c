"""Signing keys and X.509 certificates.

A party's certificate names the party in its subject common name (``CN=355``). The private key
is loaded once per process and kept: loading an RSA key costs tens of milliseconds.

``rotate`` makes this gateway's next key and certificate and keeps the current pair in
``previous/`` next to the key; partners that hold both certificates (the partner directory
allows several per party) accept messages signed with either, so messages signed before the
rotation (queued retries) still verify while new ones are signed with the new key.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.core.errors import GatewayError
from gateway.core.files import atomic_write

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key(kind: str = "ec") -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unknown key type {kind!r}; use ec or rsa")


def _name(party: str, org: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, party),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ])


def make_certificate(party: str, key: PrivateKey, *, days: int = 730,
                     issuer_key: PrivateKey | None = None,
                     issuer_cert: x509.Certificate | None = None,
                     is_ca: bool = False,
                     not_before: dt.datetime | None = None) -> x509.Certificate:
    """A certificate for ``party``: self-signed, or issued by ``issuer_cert``/``issuer_key``."""
    now = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    subject = _name(party, "CME Gateway CA" if is_ca else "CME Gateway")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not is_ca, content_commitment=not is_ca,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=is_ca, crl_sign=is_ca, encipher_only=False,
                          decipher_only=False),
            critical=True)
    )
    return builder.sign(issuer_key or key, hashes.SHA256())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600 from the start, atomically."""
    atomic_write(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{path}: only EC (P-256) and RSA keys are supported")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def party_of(cert: x509.Certificate) -> str | None:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if len(cns) == 1 else None


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def key_kind(key: PrivateKey) -> str:
    """``ec`` or ``rsa``: the ``kind`` that ``generate_key`` takes."""
    return "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"


def pair_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    """Whether ``cert`` certifies ``key``'s public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def make_crl(issuer_key: PrivateKey, issuer_cert: x509.Certificate, revoked: list[int], *,
             days: int = 7, last_update: dt.datetime | None = None,
             revoked_at: dict[int, dt.datetime] | None = None
             ) -> x509.CertificateRevocationList:
    """A CRL from the CA ``issuer_cert`` listing the serial numbers ``revoked`` (each revoked
    now, or at its time in ``revoked_at``: a serial carried over from the previous CRL)."""
    now = last_update or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject)
               .last_update(now)
               .next_update(now + dt.timedelta(days=days)))
    for serial in revoked:
        when = (revoked_at or {}).get(serial, now)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            .build())
    return builder.sign(issuer_key, hashes.SHA256())


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did: the new certificate (give it to partners) and where the previous
    key and certificate were kept."""

    party: str
    cert: x509.Certificate
    cert_file: Path
    previous_key: Path
    previous_cert: Path
    staged: bool = False  # the pair switched to was staged earlier (``stage``)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _current_pair(key_file: Path, cert_file: Path) -> tuple[PrivateKey, x509.Certificate]:
    """This gateway's key and certificate, which must be a pair, to rotate from."""
    try:
        key, cert = load_private_key(key_file), load_certificate(cert_file)
    except (OSError, ValueError) as exc:
        raise GatewayError("config-invalid", f"cannot load the current key or certificate "
                           f"({exc}); run 'cme-gateway keys init' first") from None
    if not pair_matches(key, cert):
        raise GatewayError("config-invalid", f"{cert_file.name} is not the certificate of "
                           f"{key_file.name}; fix that before rotating")
    return key, cert


def rotate(key_file: Path, cert_file: Path, party: str | None = None, kind: str | None = None,
           *, days: int = 730, ca_key: Path | None = None, ca_cert: Path | None = None,
           now: dt.datetime | None = None) -> Rotation:
    """Make this gateway's next key and certificate (same party, and same key type unless
    ``kind`` says otherwise), keep the current pair as ``previous/<name>-<date>-<fp>.key`` and
    ``.pem`` next to the key, and put the new pair in ``key_file`` and ``cert_file``.

    A certificate that a CA issued is renewed by that CA (``ca_key`` and ``ca_cert``), so that
    partners trusting the CA keep trusting this gateway."""
    old_key, old_cert = _current_pair(key_file, cert_file)
    party = party or party_of(old_cert)
    if party is None:
        raise GatewayError("config-invalid", "the current certificate names no party; give it")
    kind = kind or key_kind(old_key)
    staged = staged_pair(key_file, cert_file)
    if staged is not None:  # made earlier with ``stage``, and already given to partners
        key, cert = staged
        if party_of(cert) != party:
            raise GatewayError("config-invalid", f"the staged certificate is for party "
                               f"{party_of(cert)}, not {party}; remove keys/next/ and stage "
                               f"again")
    else:
        key, cert = _next_pair(old_cert, party, kind, days, ca_key, ca_cert, now)

    when = now or dt.datetime.now(dt.UTC)
    previous = key_file.parent / "previous"
    base = f"{key_file.stem}-{when:%Y%m%d}-{fingerprint(old_cert)[:8]}"
    previous_key, previous_cert = previous / f"{base}.key", previous / f"{base}.pem"
    # Keep the current pair first: at every moment one whole pair exists on disk.
    write_private(previous_key, key_file.read_bytes())
    write_public(previous_cert, cert_file.read_bytes())
    new_key, new_cert = key_file.with_name(f".{key_file.name}.next"), \
        cert_file.with_name(f".{cert_file.name}.next")
    write_private(new_key, key_pem(key))
    write_public(new_cert, cert_pem(cert))
    os.replace(new_key, key_file)
    os.replace(new_cert, cert_file)
    if staged is not None:  # switched to: no longer waiting in next/
        for path in _staged_files(key_file, cert_file):
            path.unlink(missing_ok=True)
    return Rotation(party, cert, cert_file, previous_key, previous_cert,
                    staged=staged is not None)


def _next_pair(old_cert: x509.Certificate, party: str, kind: str, days: int,
               ca_key: Path | None, ca_cert: Path | None, now: dt.datetime | None
               ) -> tuple[PrivateKey, x509.Certificate]:
    if (ca_key is None) != (ca_cert is None):
        raise GatewayError("config-invalid", "give both the CA's key and its certificate")
    if ca_key is None and not _self_signed(old_cert):
        raise GatewayError("config-invalid", "the current certificate was issued by a CA: "
                           "give the CA's key and certificate to issue the next one")
    try:
        key = generate_key(kind)
    except ValueError as exc:
        raise GatewayError("config-invalid", str(exc)) from None
    if ca_key is not None and ca_cert is not None:
        return key, make_certificate(party, key, days=days, not_before=now,
                                     issuer_key=load_private_key(ca_key),
                                     issuer_cert=load_certificate(ca_cert))
    return key, make_certificate(party, key, days=days, not_before=now)


def _staged_files(key_file: Path, cert_file: Path) -> tuple[Path, Path]:
    """Where ``stage`` keeps the next pair: ``next/`` beside the key."""
    folder = key_file.parent / "next"
    return folder / key_file.name, folder / cert_file.name


def staged_pair(key_file: Path, cert_file: Path) -> tuple[PrivateKey, x509.Certificate] | None:
    """The pair ``stage`` made, if there is one (a half-written or mismatched pair is an
    error, never silently replaced)."""
    skey, scert = _staged_files(key_file, cert_file)
    if not skey.exists() and not scert.exists():
        return None
    try:
        key, cert = load_private_key(skey), load_certificate(scert)
    except (OSError, ValueError) as exc:
        raise GatewayError("config-invalid", f"the staged pair in {skey.parent} cannot be "
                           f"read ({type(exc).__name__}); remove that folder and stage "
                           f"again") from None
    if not pair_matches(key, cert):
        raise GatewayError("config-invalid", f"{scert} is not the certificate of {skey}; "
                           f"remove {skey.parent} and stage again")
    return key, cert


def stage(key_file: Path, cert_file: Path, party: str | None = None, kind: str | None = None,
          *, days: int = 730, ca_key: Path | None = None, ca_cert: Path | None = None,
          now: dt.datetime | None = None) -> x509.Certificate:
    """Make the next key and certificate and keep them in ``next/`` beside the key, while
    this gateway goes on signing with the current pair: partners add the next certificate
    first, and ``rotate`` later switches to it with no gap in which they refuse this
    gateway's messages and receipts."""
    old_key, old_cert = _current_pair(key_file, cert_file)
    if staged_pair(key_file, cert_file) is not None:
        raise GatewayError("config-invalid", "a next pair is already staged in "
                           f"{key_file.parent / 'next'}: switch to it with 'keys rotate', "
                           "or remove that folder to stage another")
    party = party or party_of(old_cert)
    if party is None:
        raise GatewayError("config-invalid", "the current certificate names no party; give it")
    key, cert = _next_pair(old_cert, party, kind or key_kind(old_key), days, ca_key, ca_cert,
                           now)
    skey, scert = _staged_files(key_file, cert_file)
    skey.parent.mkdir(mode=0o700, exist_ok=True)
    write_public(scert, cert_pem(cert))  # (the certificate first: the key marks it whole)
    write_private(skey, key_pem(key))
    return cert


def previous_certificates(key_file: Path) -> list[tuple[Path, x509.Certificate]]:
    """The certificates this gateway signed with before (kept by ``rotate``), oldest first."""
    folder = key_file.parent / "previous"
    found = []
    for path in sorted(folder.glob(f"{key_file.stem}-*.pem")):
        try:
            found.append((path, load_certificate(path)))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda pc: pc[1].not_valid_before_utc)
