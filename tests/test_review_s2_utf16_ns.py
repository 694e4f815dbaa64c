"""(Security review s2; the CPU-time test of the report is left out: no timings in unit tests.
The refusal before canonicalisation is what bounds the cost.)

The namespace-declaration limit (xmlsafe.MAX_NAMESPACES = 256) is a byte count of b"xmlns"
(core/xmlsafe.py:47). In UTF-16 every character is two bytes ("x\\0m\\0l\\0n\\0s\\0"), so the
count is 0 and the limit never applies: test 3 of tests/test_review_s1_dsig.py (seconds of CPU
in lxml's C14N of SignedInfo, quadratic in the in-scope declarations), re-encoded in UTF-16.
No key needed: the cost is in the C14N of SignedInfo, after the digest matched, and exclusive
C14N drops unused declarations, so any captured genuine message (a replay) with 19,000
declarations added still verifies: ~1.5-2 s of CPU per request on the event loop."""
from __future__ import annotations

import time

from gateway.core.errors import GatewayError
from gateway.exchange.inbound import verify_and_parse
from tests.conftest import Pki
from tests.test_review_s1_dsig import ROOT_OPEN, SETTINGS, signed


def _utf16(pki: Pki, n: int, forge: bool) -> bytes:
    decls = b" ".join(b'xmlns:p%d="urn:%d"' % (i, i) for i in range(n))
    utf8 = signed(pki).replace(ROOT_OPEN, ROOT_OPEN + b" " + decls, 1)
    if forge:
        utf8 = utf8.replace(b"Testchild", b"Forgedkid", 1)
    text = utf8.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    data = text.encode("utf-16")
    assert len(data) < SETTINGS.max_body_bytes
    assert data.count(b"xmlns") == 0  # what xmlsafe.parse counts
    return data


def _run(data: bytes, pki: Pki) -> tuple[str, float]:
    t = time.process_time()
    try:
        verify_and_parse(data, pki.trust("355"), SETTINGS)
        outcome = "accepted"
    except GatewayError as exc:
        outcome = exc.code
    return outcome, time.process_time() - t


def test_utf16_namespace_flood_is_refused_like_utf8(pki: Pki) -> None:
    outcome, spent = _run(_utf16(pki, 19_000, forge=False), pki)
    # as in UTF-8: xml-too-many-namespaces, before any canonicalisation
    assert outcome == "xml-too-many-namespaces", (outcome, spent)


def test_utf16_namespace_flood_is_not_accepted_and_stored(pki: Pki) -> None:
    outcome, _ = _run(_utf16(pki, 19_000, forge=False), pki)
    assert outcome != "accepted"  # today a genuine message carrying 19,000 unused
    # declarations verifies and is stored (and re-parsed by every parse_stored)
