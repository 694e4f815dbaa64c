"""The gateway's XML-DSig profile: sign, check the profile strictly, verify with signxml.

Wire format (any standard tool, xmlsec1 included, can produce and check it):
one enveloped ``ds:Signature`` as the root's last child; one ``Reference URI=""`` with exactly
the transforms enveloped-signature then exclusive C14N; SHA-256 digest; ECDSA-SHA256 (default)
or RSA-SHA256; exclusive C14N for SignedInfo; ``KeyInfo`` holding only ``X509Data`` with the
signer's certificate.

A general-purpose verifier can be fooled by signature wrapping, so before signxml runs we check
the exact shape of the signature, by namespace URI (prefixes are irrelevant), and afterwards
we hand on only ``signed_xml``: the XML the signature covers, re-read from its canonical form.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)

from gateway.core.errors import GatewayError
from gateway.crypto.keys import PrivateKey
from gateway.crypto.trust import Trusted, TrustStore

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ALLOWED_SIGNATURE_METHODS = frozenset({RSA_SHA256, ECDSA_SHA256})
MAX_CERTS = 4
MAX_CERT_B64 = 16_384

_EXPECT = SignatureConfiguration(
    require_x509=True,
    location="./",
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    ignore_ambiguous_key_info=False,
)


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


class Signer:
    """Signs with this gateway's key, loaded once. One signxml signer per call (it keeps
    per-call state on itself)."""

    def __init__(self, key: PrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self.method = SignatureMethod.ECDSA_SHA256
        elif isinstance(key, rsa.RSAPrivateKey):
            self.method = SignatureMethod.RSA_SHA256
        else:  # pragma: no cover - load_private_key refuses other key types
            raise ValueError("unsupported key type")

    def sign(self, element: etree._Element) -> bytes:
        signer = XMLSigner(
            signature_algorithm=self.method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        # A certificate object, not PEM: signxml would parse the PEM on every call.
        signed = signer.sign(element, key=self.key, cert=[self.cert])
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class Verified:
    """The outcome of verification: only what the signature covers, and who signed it."""

    signed: etree._Element
    party: str
    via: str


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _only(el: etree._Element, *tags: str) -> list[etree._Element]:
    """The element children of ``el``, which must be exactly ``tags`` in order."""
    kids = _elements(el)
    if [k.tag for k in kids] != [_ds(t) for t in tags]:
        got = ", ".join(etree.QName(k).localname for k in kids)
        raise GatewayError("signature-profile",
                           f"{etree.QName(el).localname} holds [{got}], expected {list(tags)}")
    return kids


def _c14n_ok(el: etree._Element) -> None:
    """An exclusive-C14N method/transform may carry only an InclusiveNamespaces prefix list."""
    for kid in _elements(el):
        if kid.tag != f"{{{EXC_C14N}}}InclusiveNamespaces":
            raise GatewayError("signature-profile", "unexpected child of a C14N method")


def check_profile(root: etree._Element) -> tuple[etree._Element, list[bytes]]:
    """Enforce the profile on the parsed message; return the Signature and the DER certs."""
    if root.tag == _ds("Signature"):
        raise GatewayError("signature-profile", "enveloping signatures are not accepted")
    sigs = list(root.iter(_ds("Signature")))
    if not sigs:
        raise GatewayError("signature-missing")
    if len(sigs) != 1:
        raise GatewayError("signature-profile", f"{len(sigs)} signatures; exactly one allowed")
    sig = sigs[0]
    kids = _elements(root)
    if sig.getparent() is not root or kids[-1] is not sig:
        raise GatewayError("signature-profile", "the signature must be the root's last child")
    if sig.getnext() is not None or (sig.tail or "").strip():
        raise GatewayError("signature-profile", "nothing may follow the signature")
    for bad in ("Object", "Manifest", "RetrievalMethod"):
        if next(root.iter(_ds(bad)), None) is not None:
            raise GatewayError("signature-profile", f"ds:{bad} is not allowed")

    signed_info, _value, key_info = _only(sig, "SignedInfo", "SignatureValue", "KeyInfo")
    c14n, method, reference = _only(signed_info, "CanonicalizationMethod", "SignatureMethod",
                                    "Reference")
    if c14n.get("Algorithm") != EXC_C14N:
        raise GatewayError("signature-algorithm", f"canonicalization {c14n.get('Algorithm')}")
    _c14n_ok(c14n)
    if method.get("Algorithm") not in ALLOWED_SIGNATURE_METHODS or _elements(method):
        raise GatewayError("signature-algorithm", f"signature method {method.get('Algorithm')}")
    if reference.get("URI") != "":
        raise GatewayError("signature-profile", 'the one Reference must have URI=""')
    transforms, digest_method, _digest = _only(reference, "Transforms", "DigestMethod",
                                               "DigestValue")
    if digest_method.get("Algorithm") != SHA256 or _elements(digest_method):
        raise GatewayError("signature-algorithm", f"digest {digest_method.get('Algorithm')}")
    t1, t2 = _only(transforms, "Transform", "Transform")
    if t1.get("Algorithm") != ENVELOPED or _elements(t1) or t2.get("Algorithm") != EXC_C14N:
        raise GatewayError("signature-profile",
                           "transforms must be exactly enveloped-signature then exclusive C14N")
    _c14n_ok(t2)

    (x509_data,) = _only(key_info, "X509Data")
    certs: list[bytes] = []
    for kid in _elements(x509_data):
        if kid.tag == _ds("X509Certificate"):
            text = "".join((kid.text or "").split())
            if len(text) > MAX_CERT_B64 or len(certs) >= MAX_CERTS:
                raise GatewayError("signature-profile", "too many or too large certificates")
            try:
                certs.append(base64.b64decode(text, validate=True))
            except (binascii.Error, ValueError):
                raise GatewayError("signature-profile", "X509Certificate is not base64") from None
        elif kid.tag not in (_ds("X509SubjectName"), _ds("X509IssuerSerial")):
            raise GatewayError("signature-profile",
                               f"X509Data may not hold {etree.QName(kid).localname}")
    if not certs:
        raise GatewayError("signature-profile", "KeyInfo must carry the X.509 certificate")
    return sig, certs


def _trusted_signer(trust: TrustStore, certs: list[bytes], now: dt.datetime | None) -> Trusted:
    first_error: GatewayError | None = None
    for der in certs:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise GatewayError("signature-profile", "X509Certificate is not a certificate") \
                from None
        try:
            return trust.resolve(cert, now)
        except GatewayError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def verify(root: etree._Element, data: bytes, trust: TrustStore,
           now: dt.datetime | None = None) -> Verified:
    """Verify ``data`` (the exact bytes received; ``root`` is their safe parse).

    Returns the signed content only. Raises GatewayError with a signature-* or certificate-*
    code on any failure."""
    _sig, certs = check_profile(root)
    trusted = _trusted_signer(trust, certs, now)
    expect = _EXPECT if now is None else SignatureConfiguration(
        **{**_EXPECT.__dict__, "verification_time": now})
    try:
        result = XMLVerifier().verify(data, x509_cert=trusted.cert, parser=_safe_parser(),
                                      expect_config=expect)
    except (InvalidDigest, InvalidSignature) as exc:
        raise GatewayError("signature-invalid", type(exc).__name__) from None
    except InvalidCertificate:
        raise GatewayError("certificate-expired") from None
    except InvalidInput as exc:
        raise GatewayError("signature-profile", str(exc)[:200]) from None
    except (SignXMLException, etree.DocumentInvalid) as exc:
        raise GatewayError("signature-profile", type(exc).__name__) from None
    except ValueError as exc:  # unknown algorithm URIs surface as enum ValueErrors
        raise GatewayError("signature-algorithm", str(exc)[:200]) from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or signed.tag != root.tag:
        raise GatewayError("signature-profile", "the signature does not cover the root element")
    return Verified(signed=signed, party=trusted.party, via=trusted.via)
