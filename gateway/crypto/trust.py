"""The trust store: which certificate speaks for which party.

Trust comes only from the partner directory (``keys/partners/<party>.pem``) or from a configured
CA that issued the certificate directly and names the party in its subject CN. A certificate
that merely arrives in a message's KeyInfo is looked up here and gains no trust from being
there. The directory is re-read when it changes, so ``cme-gateway partners add`` takes effect
on a running gateway.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from gateway.core.errors import GatewayError
from gateway.core.parties import PARTY_RE
from gateway.crypto.keys import fingerprint, load_certificate, party_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trusted:
    party: str
    cert: x509.Certificate
    via: str  # "directory" or "ca"


class TrustStore:
    # How often the directory is looked at for changes (a glob and a stat per file).
    RESCAN_SECONDS = 1.0

    def __init__(self, partners_dir: Path, ca_file: Path | None = None) -> None:
        self.partners_dir = partners_dir
        self._checked = 0.0
        self.ca_cert = load_certificate(ca_file) if ca_file else None
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._by_fp: dict[str, Trusted] = {}
        self.reload_if_changed(force=True)

    def _dir_stamp(self) -> tuple[float, int]:
        try:
            entries = list(self.partners_dir.glob("*.pem"))
            newest = max((p.stat().st_mtime for p in entries), default=0.0)
            return (max(newest, self.partners_dir.stat().st_mtime), len(entries))
        except FileNotFoundError:
            return (0.0, 0)

    def reload_if_changed(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.RESCAN_SECONDS:
            return
        self._checked = now
        stamp = self._dir_stamp()
        if stamp == self._stamp:
            return
        with self._lock:
            by_fp: dict[str, Trusted] = {}
            for path in sorted(self.partners_dir.glob("*.pem")):
                party = path.stem
                if not PARTY_RE.match(party):
                    log.warning("partner file %s ignored: name is not a party id", path.name)
                    continue
                try:
                    cert = load_certificate(path)
                except (ValueError, OSError) as exc:
                    log.warning("partner file %s ignored: %s", path.name, exc)
                    continue
                by_fp[fingerprint(cert)] = Trusted(party, cert, "directory")
            self._by_fp, self._stamp = by_fp, stamp
            log.info("trust store loaded: %d partners",
                     len({t.party for t in by_fp.values()}))

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
        return Trusted(party, cert, "ca")


def check_validity(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise GatewayError("certificate-expired",
                           f"valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                           f"{cert.not_valid_after_utc:%Y-%m-%d}")
