"""The partner directory on disk: the certificates each party currently signs with.

A party may have several current certificates, so that it can roll its key with an overlap or
sign with RSA and EC at once::

    keys/partners/352.pem          one or more PEM certificates (a bundle)
    keys/partners/352/*.pem        and/or more files for the same party (any names)

The file or folder name is the party; the certificate's own CN is not what decides. Removing a
certificate from the directory is its revocation. ``add_certificate`` appends to a party's
bundle, ``remove_certificate`` retires one certificate (or all of a party's), and
``list_certificates`` shows every certificate with its fingerprint and expiry.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.core.errors import GatewayError
from gateway.core.parties import PARTY_RE
from gateway.crypto.keys import cert_pem, fingerprint, write_public

SUFFIX = ".pem"
MIN_FINGERPRINT_PREFIX = 8


@dataclass(frozen=True)
class Entry:
    """One certificate of one party, and the file it is in."""

    party: str
    path: Path
    cert: x509.Certificate

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    @property
    def not_before(self) -> dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @property
    def key_type(self) -> str:
        key = self.cert.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            return f"ec-{key.curve.name}"
        if isinstance(key, rsa.RSAPublicKey):
            return f"rsa-{key.key_size}"
        return type(key).__name__

    def current(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.not_before <= now <= self.not_after


def _visible(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith(".")


def party_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Every certificate file as (party, path), sorted; and the names ignored, with why."""
    files: list[tuple[str, Path]] = []
    ignored: list[str] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return files, ignored
    for entry in filter(_visible, entries):
        if entry.is_dir():
            if not PARTY_RE.match(entry.name):
                ignored.append(f"{entry.name}/: folder name is not a party id")
                continue
            for sub in sorted(filter(_visible, os.scandir(entry.path)), key=lambda e: e.name):
                if sub.name.endswith(SUFFIX) and sub.is_file():
                    files.append((entry.name, Path(sub.path)))
        elif entry.name.endswith(SUFFIX) and entry.is_file():
            party = entry.name[: -len(SUFFIX)]
            if not PARTY_RE.match(party):
                ignored.append(f"{entry.name}: name is not a party id")
                continue
            files.append((party, Path(entry.path)))
    return files, ignored


def stamp(folder: Path) -> tuple[object, ...]:
    """Changes whenever a certificate file (or a party folder) is added, removed or
    rewritten: the name, size and modification time of each."""
    parts: list[object] = []
    try:
        parts.append(folder.stat().st_mtime_ns)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            st = entry.stat()
            parts.append((entry.name, st.st_mtime_ns, st.st_size))
            if entry.is_dir():
                for sub in sorted(os.scandir(entry.path), key=lambda e: e.name):
                    sst = sub.stat()
                    parts.append((entry.name, sub.name, sst.st_mtime_ns, sst.st_size))
    except FileNotFoundError:
        return ("missing",)
    return tuple(parts)


def read_bundle(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM file (one or more). ValueError if it holds none, or any
    block is not a certificate."""
    data = path.read_bytes()
    certs = x509.load_pem_x509_certificates(data)
    if data.count(b"-----BEGIN ") != len(certs):
        raise ValueError("the file holds something other than certificates")
    return certs


def load(folder: Path) -> tuple[list[Entry], list[str]]:
    """Every certificate in the directory; and each file or name ignored, with why (a file
    that cannot be read is ignored whole: its party keeps only its other certificates)."""
    files, problems = party_files(folder)
    entries: list[Entry] = []
    for party, path in files:
        try:
            certs = read_bundle(path)
        except (ValueError, OSError) as exc:
            problems.append(f"{path.relative_to(folder)}: {exc}")
            continue
        entries.extend(Entry(party, path, cert) for cert in certs)
    return entries, problems


def list_certificates(folder: Path, party: str | None = None) -> list[Entry]:
    """Every certificate (of ``party``, or of all parties), by party then expiry."""
    entries, _ = load(folder)
    if party is not None:
        entries = [e for e in entries if e.party == party]
    return sorted(entries, key=lambda e: (e.party, e.not_after, e.fingerprint))


def _check_party(party: str) -> None:
    if not PARTY_RE.match(party):
        raise GatewayError("config-invalid", f"{party!r} is not an LA code, LAESTAB or S2S")


def _write_bundle(path: Path, certs: list[x509.Certificate]) -> None:
    if certs:
        write_public(path, b"".join(cert_pem(c) for c in certs))
    else:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Added:
    path: Path
    added: bool  # False: the party already had this certificate
    others: tuple[str, ...]  # other parties the directory lists it for (it speaks for none)


def add_certificate(folder: Path, party: str, cert: x509.Certificate) -> Added:
    """Add ``cert`` to ``party``'s current certificates (appended to ``<party>.pem``; the
    others stay). A certificate listed for two parties speaks for neither (the trust store
    ignores it): ``others`` names them, for a warning."""
    _check_party(party)
    fp = fingerprint(cert)
    entries, _ = load(folder)
    others = tuple(sorted({e.party for e in entries if e.fingerprint == fp} - {party}))
    for e in entries:
        if e.fingerprint == fp and e.party == party:
            return Added(e.path, False, others)
    path = folder / f"{party}{SUFFIX}"
    current = read_bundle(path) if path.exists() else []
    _write_bundle(path, [*current, cert])
    return Added(path, True, others)


def _matches(entry: Entry, wanted: str) -> bool:
    return entry.fingerprint.startswith(wanted)


def remove_certificate(folder: Path, party: str,
                       fingerprint_prefix: str | None = None) -> list[Entry]:
    """Retire one of ``party``'s certificates (by its fingerprint, or an unambiguous prefix of
    at least 8 hex digits), or all of them when no fingerprint is given. Returns what was
    removed; ``not-found`` when nothing matches."""
    _check_party(party)
    mine = list_certificates(folder, party)
    if fingerprint_prefix is None:
        gone = mine
    else:
        wanted = fingerprint_prefix.replace(":", "").lower()
        if len(wanted) < MIN_FINGERPRINT_PREFIX or any(c not in "0123456789abcdef"
                                                       for c in wanted):
            raise GatewayError("bad-request", "give the SHA-256 fingerprint, or at least its "
                               f"first {MIN_FINGERPRINT_PREFIX} hex digits")
        gone = [e for e in mine if _matches(e, wanted)]
        if len({e.fingerprint for e in gone}) > 1:
            raise GatewayError("bad-request", f"{fingerprint_prefix} matches more than one of "
                               f"{party}'s certificates; give more of the fingerprint")
    if not gone:
        raise GatewayError("not-found", f"no such certificate for partner {party}")
    retired = {e.fingerprint for e in gone}
    for path in sorted({e.path for e in gone}):
        _write_bundle(path, [c for c in read_bundle(path) if fingerprint(c) not in retired])
    return gone
