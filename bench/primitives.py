"""The per-message cost floor: the cryptography and lxml primitives under one message,
without signxml, the gateway or HTTP."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree


def run(n: int = 2000) -> dict[str, float]:
    from gateway.messages import xml as mx
    from tests.conftest import enquiry

    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key()
    data = mx.to_bytes(mx.build(enquiry()))
    sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    t = time.process_time()
    for _ in range(n):
        key.sign(data, ec.ECDSA(hashes.SHA256()))
    sign_ms = (time.process_time() - t) / n * 1e3
    t = time.process_time()
    for _ in range(n):
        pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    verify_ms = (time.process_time() - t) / n * 1e3
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    t = time.process_time()
    for _ in range(n):
        root = etree.fromstring(data, parser)
        etree.tostring(root, method="c14n", exclusive=True)
    parse_ms = (time.process_time() - t) / n * 1e3
    return {"ecdsa_sign_ms": sign_ms, "ecdsa_verify_ms": verify_ms,
            "lxml_parse_c14n_ms": parse_ms,
            "floor_per_msg_ms": sign_ms + verify_ms + 2 * parse_ms, "bytes": len(data)}
