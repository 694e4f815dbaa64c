"""XML-DSig sign and verify per message, in CPU time: ``python -m bench.dsig_bench``.

Prints this gateway's signer and verifier beside signxml's on the same messages (signxml is a
test dependency and the oracle) and the primitives floor, so each figure is also a ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from signxml import CanonicalizationMethod, DigestAlgorithm, XMLSigner, XMLVerifier

from gateway.core import xmlsafe
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.messages import xml as mx


def per_message_ms(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e3


def run(n: int = 1000) -> dict[str, float]:
    from bench import primitives
    from tests.conftest import enquiry

    key = k.generate_key("ec")
    cert = k.make_certificate("355", key)
    folder = Path(tempfile.mkdtemp())
    (folder / "355.pem").write_bytes(k.cert_pem(cert))
    trust = TrustStore(folder)
    signer = dsig.Signer(key, cert)
    el = mx.build(enquiry(n=2))
    body = signer.sign(el)
    ours_sign = per_message_ms(lambda: signer.sign(el), n)
    ours_verify = per_message_ms(lambda: dsig.verify(
        xmlsafe.parse(body, max_depth=48, max_elements=20000), body, trust), n)
    oracle = XMLSigner(signature_algorithm="ecdsa-sha256",
                       digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    sx_sign = per_message_ms(lambda: oracle.sign(el, key=key, cert=[cert]), n)
    sx_verify = per_message_ms(lambda: XMLVerifier().verify(body, x509_cert=cert), n)
    floor = primitives.run(n)
    return {"ours_sign_ms": ours_sign, "ours_verify_ms": ours_verify,
            "signxml_sign_ms": sx_sign, "signxml_verify_ms": sx_verify,
            "floor_ms": floor["floor_per_msg_ms"], "bytes": len(body)}


def main() -> None:
    r = run()
    both = r["ours_sign_ms"] + r["ours_verify_ms"]
    sx = r["signxml_sign_ms"] + r["signxml_verify_ms"]
    print(f"message of {r['bytes']} bytes, CPU ms per message (process time)")
    print("| path | sign | verify | sign + verify | x floor |")
    print("|---|---|---|---|---|")
    print(f"| this gateway (lxml C14N + cryptography) | {r['ours_sign_ms']:.3f} | "
          f"{r['ours_verify_ms']:.3f} | {both:.3f} | {both / r['floor_ms']:.2f} |")
    print(f"| signxml (the oracle) | {r['signxml_sign_ms']:.3f} | "
          f"{r['signxml_verify_ms']:.3f} | {sx:.3f} | {sx / r['floor_ms']:.2f} |")
    print(f"| primitives floor (ECDSA sign + verify, 2 parse + C14N) | | | "
          f"{r['floor_ms']:.3f} | 1.00 |")


if __name__ == "__main__":
    main()
