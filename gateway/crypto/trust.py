"""The trust store: which certificate speaks for which party.

Trust comes only from the partner directory (``keys/partners/<party>.pem``, which may hold
several current certificates, and ``keys/partners/<party>/*.pem``: see ``directory``) or from a
configured CA that issued the certificate directly and names the party in its subject CN. A
certificate that merely arrives in a message's KeyInfo is looked up here and gains no trust
from being there. The directory is re-read when it changes, so ``cme-gateway partners add``
takes effect on a running gateway; removing a certificate from it is its revocation.

A CA-issued certificate is also checked against the CA's CRL (``crl_file``), re-read when the
file changes. The CRL must be signed by the CA; one that is not, or cannot be read, fails
closed: every CA-issued certificate is refused (``crl-invalid``) until it is fixed. A CRL past
its next-update date is reported (``crl_status()``) and, by ``crl_stale_policy``, either still
honoured (``honour``: what it lists stays refused) or makes every CA-issued certificate refused
(``fail-closed``: ``crl-stale``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.core.parties import PARTY_RE
from gateway.crypto import directory
from gateway.crypto.keys import fingerprint, load_certificate, party_of

log = logging.getLogger(__name__)

HONOUR = "honour"
FAIL_CLOSED = "fail-closed"
CRL_STALE_POLICIES = (HONOUR, FAIL_CLOSED)


@dataclass(frozen=True)
class Trusted:
    party: str
    cert: x509.Certificate
    via: str  # "directory" or "ca"


@dataclass(frozen=True)
class Crl:
    """The CA's CRL as last read: usable (``crl``) or not (``error`` says why)."""

    crl: x509.CertificateRevocationList | None = None
    error: str | None = None

    @property
    def next_update(self) -> dt.datetime | None:
        return self.crl.next_update_utc if self.crl is not None else None

    def stale(self, now: dt.datetime) -> bool:
        """Past its next update (a CRL without one is treated as stale: RFC 5280 requires
        it)."""
        next_update = self.next_update
        return next_update is None or now > next_update


def load_crl(path: Path, ca: x509.Certificate) -> x509.CertificateRevocationList:
    """Read a PEM or DER CRL and check that ``ca`` issued and signed it, and that it is a
    complete CRL. ValueError (a sentence) when it is not usable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path.name}: {exc.strerror}") from None
    try:
        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----BEGIN")
               else x509.load_der_x509_crl(data))
    except ValueError:
        raise ValueError(f"{path.name} is not a PEM or DER CRL") from None
    if crl.issuer != ca.subject:
        raise ValueError(f"{path.name} is not issued by the CA in ca_file")
    public_key = ca.public_key()
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) \
            or not crl.is_signature_valid(public_key):
        raise ValueError(f"{path.name} is not signed by the CA in ca_file")
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
        raise ValueError(f"{path.name} is a delta CRL; give the CA's full CRL")
    except x509.ExtensionNotFound:
        pass
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
        if idp.only_contains_ca_certs or idp.only_contains_attribute_certs or \
                idp.only_some_reasons or idp.indirect_crl:
            raise ValueError(f"{path.name} is a partial CRL; give the CA's full CRL")
    except x509.ExtensionNotFound:
        pass
    return crl


_NEVER = object()


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class TrustStore:
    # How often the directory and the CRL are looked at for changes (a stat per file).
    RESCAN_SECONDS = 1.0

    def __init__(self, partners_dir: Path, ca_file: Path | None = None,
                 crl_file: Path | None = None, crl_stale_policy: str = HONOUR) -> None:
        self.partners_dir = partners_dir
        self._checked = 0.0
        self.ca_cert = _load_ca(ca_file) if ca_file else None
        if crl_file is not None and self.ca_cert is None:
            raise GatewayError("config-invalid", "crl_file is the CA's CRL: set ca_file too")
        if crl_stale_policy not in CRL_STALE_POLICIES:
            raise GatewayError("config-invalid", f"crl_stale_policy must be one of "
                               f"{', '.join(CRL_STALE_POLICIES)}")
        self.crl_file = crl_file
        self.crl_stale_policy = crl_stale_policy
        self._lock = threading.Lock()
        self._stamp: tuple[object, ...] | None = None
        self._by_fp: dict[str, Trusted] = {}
        self._crl_stamp: object = _NEVER
        self._crl = Crl()
        self.reload_if_changed(force=True)
        if self._crl.error is not None:  # at start-up a bad CRL is a configuration error
            raise GatewayError("config-invalid", f"crl_file: {self._crl.error}")

    @classmethod
    def from_settings(cls, s: Settings) -> TrustStore:
        return cls(s.path(s.partners_dir), s.path(s.ca_file) if s.ca_file else None,
                   s.path(s.crl_file) if s.crl_file else None, s.crl_stale_policy)

    def reload_if_changed(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.RESCAN_SECONDS:
            return
        self._checked = now
        with self._lock:
            self._reload_directory()
            if self.crl_file is not None:
                self._reload_crl()

    def _reload_directory(self) -> None:
        stamp = directory.stamp(self.partners_dir)
        if stamp == self._stamp:
            return
        entries, problems = directory.load(self.partners_dir)
        for problem in problems:
            log.warning("partner file ignored: %s", problem)
        by_fp: dict[str, Trusted] = {}
        claimed: dict[str, set[str]] = {}
        for e in entries:
            claimed.setdefault(e.fingerprint, set()).add(e.party)
            by_fp[e.fingerprint] = Trusted(e.party, e.cert, "directory")
        for fp, parties in claimed.items():
            if len(parties) > 1:  # one certificate speaks for one party, or for none
                log.warning("certificate %s... ignored: it is in the directory for %s",
                            fp[:16], ", ".join(sorted(parties)))
                del by_fp[fp]
        self._by_fp, self._stamp = by_fp, stamp
        log.info("trust store loaded: %d partners, %d certificates",
                 len({t.party for t in by_fp.values()}), len(by_fp))

    def _reload_crl(self) -> None:
        assert self.crl_file is not None and self.ca_cert is not None
        stamp = _file_stamp(self.crl_file)
        if stamp == self._crl_stamp:
            return
        try:
            crl = Crl(load_crl(self.crl_file, self.ca_cert))
        except ValueError as exc:
            crl = Crl(error=str(exc))
            log.error("CRL refused, so every CA-issued certificate is refused: %s", exc)
        else:
            log.info("CRL loaded: %d revoked, next update %s", len(crl.crl or ()),
                     f"{crl.next_update:%Y-%m-%d %H:%M}Z" if crl.next_update else "(none)")
        self._crl, self._crl_stamp = crl, stamp

    def resolve(self, cert: x509.Certificate, now: dt.datetime | None = None) -> Trusted:
        """The party ``cert`` speaks for, or a GatewayError. Checks validity at ``now``."""
        self.reload_if_changed()
        trusted = self._by_fp.get(fingerprint(cert))
        if trusted is None and self.ca_cert is not None:
            trusted = self._via_ca(cert, now)
        if trusted is None:
            raise GatewayError("certificate-untrusted")
        check_validity(trusted.cert, now)
        return trusted

    def resolve_der(self, der: bytes, now: dt.datetime | None = None) -> Trusted:
        """``resolve`` for a certificate still in DER bytes, as a message carries it: one
        in the directory is found by the SHA-256 of those bytes (its fingerprint) without
        being parsed; any other is parsed and resolved as usual (a CA-issued one, or a
        refusal). Raises ValueError for bytes that are not a certificate."""
        self.reload_if_changed()
        trusted = self._by_fp.get(hashlib.sha256(der).hexdigest())
        if trusted is None:
            return self.resolve(x509.load_der_x509_certificate(der), now)
        check_validity(trusted.cert, now)
        return trusted

    def certificates(self, party: str) -> list[x509.Certificate]:
        """The party's certificates in the directory (current or not)."""
        self.reload_if_changed()
        return [t.cert for t in self._by_fp.values() if t.party == party]

    def _via_ca(self, cert: x509.Certificate, now: dt.datetime | None) -> Trusted | None:
        assert self.ca_cert is not None
        try:
            cert.verify_directly_issued_by(self.ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            return None
        party = party_of(cert)
        if party is None or not PARTY_RE.match(party):
            return None
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if bc.ca:
                return None  # a CA certificate never speaks for a party
        except x509.ExtensionNotFound:
            pass
        check_validity(self.ca_cert, now)
        self._check_revocation(cert, now or dt.datetime.now(dt.UTC))
        return Trusted(party, cert, "ca")

    def _check_revocation(self, cert: x509.Certificate, now: dt.datetime) -> None:
        if self.crl_file is None:
            return
        state = self._crl
        if state.crl is None:
            raise GatewayError("crl-invalid", state.error)
        if state.crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise GatewayError("certificate-revoked", f"serial {cert.serial_number:x}")
        if self.crl_stale_policy == FAIL_CLOSED and state.stale(now):
            when = state.next_update
            raise GatewayError("crl-stale", f"next update was {when:%Y-%m-%d %H:%M}Z"
                               if when else "the CRL has no next-update date")

    def crl_status(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """For /healthz and metrics: is a CRL configured, usable, stale; when is it due."""
        self.reload_if_changed()
        now = now or dt.datetime.now(dt.UTC)
        if self.crl_file is None:
            return {"configured": False, "ok": True, "stale": False, "next_update": None,
                    "this_update": None, "revoked": 0, "error": None,
                    "policy": self.crl_stale_policy}
        state = self._crl
        crl = state.crl
        return {
            "configured": True,
            "ok": crl is not None,
            "stale": crl is None or state.stale(now),
            "next_update": state.next_update.isoformat() if state.next_update else None,
            "this_update": crl.last_update_utc.isoformat() if crl is not None else None,
            "revoked": len(crl) if crl is not None else 0,
            "error": state.error,
            "policy": self.crl_stale_policy,
        }

    def crl_stale(self, now: dt.datetime | None = None) -> bool:
        """True when a configured CRL is past its next update (or unusable)."""
        return bool(self.crl_status(now)["stale"])


def _load_ca(path: Path) -> x509.Certificate:
    try:
        return load_certificate(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a PEM certificate"
        raise GatewayError("config-invalid", f"ca_file {os.fspath(path)}: {reason}") from None


def check_validity(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise GatewayError("certificate-expired",
                           f"valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                           f"{cert.not_valid_after_utc:%Y-%m-%d}")
