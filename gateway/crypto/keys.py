"""Signing keys and X.509 certificates.

A party's certificate names the party in its subject common name (``CN=355``). The private key
is loaded once per process and kept: loading an RSA key costs tens of milliseconds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

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
