"""The gateway's XML-DSig profile: sign, check the profile strictly, verify.

Wire format (any standard tool, xmlsec1 and signxml included, can produce and check it):
one enveloped ``ds:Signature`` as the root's last child; one ``Reference URI=""`` with exactly
the transforms enveloped-signature then exclusive C14N; SHA-256 digest; ECDSA-SHA256 (default)
or RSA-SHA256; exclusive C14N for SignedInfo; ``KeyInfo`` holding only ``X509Data`` with the
signer's certificate.

Why not a general-purpose library on this path: signxml (and xmlsec1) implement the whole of
XML-DSig (many references, XPath and XSLT transforms, key retrieval), and to do it signxml
parses each message again, deep-copies the tree and canonicalises more than once: about 1 ms
of CPU a message, several times the cost of the primitives. This profile has one shape only,
so it is built here directly on the two primitives that matter, both from well-kept
libraries: exclusive C14N from lxml (libxml2) and SHA-256, ECDSA and RSA from
``cryptography``. Nothing cryptographic is written here. signxml and xmlsec1 remain the
oracles in the tests (tests/test_dsig_differential.py): each verifies what this signs, and
this verifies what each signs.

A general-purpose verifier can be fooled by signature wrapping, so the exact shape of the
signature is checked first, by namespace URI (prefixes are irrelevant), and only then is
anything computed; afterwards only ``signed`` goes on: the XML the signature covers, re-read
from exactly the canonical bytes whose digest was checked (so comments, and anything outside
the signed content, never reach a value). SignatureValue, DigestValue and X509Certificate must
be non-empty base64 (line breaks allowed); anything malformed in the signature is a
GatewayError, never a crash. Each KeyInfo certificate is only looked up in the trust store;
the message verifies if one of those that are trusted made the signature (a party may have
several current certificates).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.crypto.keys import (
    PrivateKey,
    fingerprint,
    load_certificate,
    load_private_key,
    pair_matches,
)
from gateway.crypto.trust import Trusted, TrustStore

log = logging.getLogger(__name__)

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ALLOWED_SIGNATURE_METHODS = frozenset({RSA_SHA256, ECDSA_SHA256})
MAX_CERTS = 4
MAX_CERT_B64 = 16_384
SHA256_BYTES = 32

def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _method(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECDSA_SHA256
    if isinstance(key, rsa.RSAPrivateKey):
        return RSA_SHA256
    raise ValueError("unsupported key type")  # pragma: no cover - load_private_key refuses


def _c14n(node: etree._Element | etree._ElementTree, prefixes: list[str] | None = None
          ) -> bytes:
    """Exclusive XML canonicalisation 1.0 without comments, by libxml2. What it cannot
    canonicalise (a relative namespace URI) is a profile error, never a crash."""
    try:
        return etree.tostring(node, method="c14n", exclusive=True, with_comments=False,
                              inclusive_ns_prefixes=prefixes or None)
    except (etree.C14NError, ValueError) as exc:
        raise GatewayError("signature-profile",
                           f"the message cannot be canonicalised ({type(exc).__name__}: "
                           f"a relative namespace URI?)") from None


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _ds(tag), attrs)


def _ec_bytes(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> int:
    return (key.curve.key_size + 7) // 8


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # immutable: made once, not per message
_DIGEST_SLOT = "@DIGEST@"  # not base64, and C14N writes it as it is
_VALUE_SLOT = "@VALUE@"


@dataclass(frozen=True)
class _Keyed:
    """What signing needs, made once per key and certificate (they change together, in
    FileSigner, never one without the other): the Signature element with everything but its
    two values, and the canonical SignedInfo split where the digest goes.

    Exclusive C14N of SignedInfo depends on SignedInfo alone (it outputs only the namespace
    its own names use, ds, and inherits no xml: attribute), so its canonical bytes for a
    message are the template's with the digest put in; the verifier canonicalises the
    SignedInfo it receives itself, so any difference would be a failed signature in every
    test, and signxml and xmlsec1 check these signatures in tests/test_dsig_differential.py."""

    key: PrivateKey
    cert: x509.Certificate
    method: str
    template: etree._Element
    info_head: bytes
    info_tail: bytes
    # the Signature element as lxml writes it inside a message, split at its two values
    # (for ``Signer.sign_canonical``)
    sig_parts: tuple[bytes, bytes, bytes]

    @classmethod
    def of(cls, key: PrivateKey, cert: x509.Certificate) -> _Keyed:
        method = _method(key)
        sig = etree.Element(_ds("Signature"), nsmap={"ds": DS})
        info = _sub(sig, "SignedInfo")
        _sub(info, "CanonicalizationMethod", Algorithm=EXC_C14N)
        _sub(info, "SignatureMethod", Algorithm=method)
        ref = _sub(info, "Reference", URI="")
        transforms = _sub(ref, "Transforms")
        _sub(transforms, "Transform", Algorithm=ENVELOPED)
        _sub(transforms, "Transform", Algorithm=EXC_C14N)
        _sub(ref, "DigestMethod", Algorithm=SHA256)
        _sub(ref, "DigestValue").text = _DIGEST_SLOT
        _sub(sig, "SignatureValue")
        _sub(_sub(_sub(sig, "KeyInfo"), "X509Data"), "X509Certificate").text = \
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        head, tail = _c14n(info).split(_DIGEST_SLOT.encode())
        written = copy.deepcopy(sig)
        written[1].text = _VALUE_SLOT
        before, rest = etree.tostring(written).split(_DIGEST_SLOT.encode())
        between, after = rest.split(_VALUE_SLOT.encode())
        return cls(key, cert, method, sig, head, tail, (before, between, after))


class Signer:
    """Signs with this gateway's key, loaded once."""

    def __init__(self, key: PrivateKey, cert: x509.Certificate) -> None:
        self._keyed = _Keyed.of(key, cert)

    @property
    def key(self) -> PrivateKey:
        return self._keyed.key

    @property
    def cert(self) -> x509.Certificate:
        return self._keyed.cert

    @property
    def method(self) -> str:
        return self._keyed.method

    def sign(self, element: etree._Element) -> bytes:
        """``element`` (a message's root, unsigned), with the enveloped signature appended
        as its last child, as the bytes to send. ``element`` itself is left unchanged."""
        keyed = self._keyed
        if element.getparent() is not None or next(element.iter(_ds("Signature")), None) \
                is not None:
            raise ValueError("sign a message's root element, unsigned")
        # The digest covers exactly what is sent (the element, without what may lie beside it
        # in its document) without the signature: taken before the signature is added.
        digest, value = _signature(keyed, _c14n(element))
        sig = copy.deepcopy(keyed.template)  # one copy in C of the finished elements
        sig[0][2][2].text = digest.decode()  # SignedInfo/Reference/DigestValue
        sig[1].text = value.decode()  # SignatureValue
        element.append(sig)
        try:
            return etree.tostring(element, xml_declaration=True, encoding="UTF-8")
        finally:
            element.remove(sig)  # the caller's tree is left as it was given


    def sign_canonical(self, canonical: bytes) -> bytes:
        """The message whose unsigned root element's exclusive C14N is ``canonical``, signed
        (enveloped signature as the root's last child), as the bytes to send: what ``sign``
        makes of that element, without building or canonicalising a tree. For answers made
        from a template (``gateway.exchange.answers``).

        The document sent is ``canonical`` itself with the Signature put in before the root's
        end tag: C14N is idempotent, so the verifier's enveloped transform and exclusive C14N
        give ``canonical`` back, byte for byte, and the digest of it verifies. The caller
        must pass canonical bytes (the templates' tests check theirs against ``sign``);
        anything else fails verification at the partner, never passes it."""
        keyed = self._keyed
        end = canonical.rfind(b"</")
        if end <= 0 or not canonical.startswith(b"<") or not canonical.endswith(b">"):
            raise ValueError("not the canonical form of an element")
        digest, value = _signature(keyed, canonical)
        before, between, after = keyed.sig_parts
        return b"".join((b"<?xml version='1.0' encoding='UTF-8'?>\n", canonical[:end], before,
                         digest, between, value, after, canonical[end:]))


def _signature(keyed: _Keyed, canonical: bytes) -> tuple[bytes, bytes]:
    """The base64 DigestValue of ``canonical`` and the base64 SignatureValue over the
    SignedInfo that holds it."""
    digest = base64.b64encode(hashlib.sha256(canonical).digest())
    signed_info = keyed.info_head + digest + keyed.info_tail
    key = keyed.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # XML-DSig carries ECDSA as r || s, each the curve's size (RFC 4050), where
        # cryptography gives DER: only the encoding is converted here.
        r, s_ = decode_dss_signature(key.sign(signed_info, _ECDSA_SHA256))
        n = _ec_bytes(key)
        value = r.to_bytes(n, "big") + s_.to_bytes(n, "big")
    else:
        value = key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
    return digest, base64.b64encode(value)


class FileSigner(Signer):
    """A Signer that notices when its key and certificate files change (``cme-gateway keys
    rotate``) and signs with the new pair from then on, in every process, without a restart.
    A new pair is taken only when it loads and the certificate is the key's; until then the
    current pair goes on signing (and the mismatch is logged)."""

    RESCAN_SECONDS = 1.0

    def __init__(self, key_file: Path, cert_file: Path) -> None:
        self.key_file, self.cert_file = key_file, cert_file
        self._checked = time.monotonic()
        self._stamp = self._files_stamp()
        self._refused: tuple[object, ...] | None = None
        key, cert = self._load()
        super().__init__(key, cert)

    def _files_stamp(self) -> tuple[object, ...]:
        try:
            a, b = self.key_file.stat(), self.cert_file.stat()
        except OSError:
            return ()
        return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)

    def _load(self) -> tuple[PrivateKey, x509.Certificate]:
        key, cert = load_private_key(self.key_file), load_certificate(self.cert_file)
        if not pair_matches(key, cert):
            raise ValueError(f"{self.cert_file.name} is not the certificate of "
                             f"{self.key_file.name}")
        return key, cert

    def reload_if_changed(self, force: bool = False) -> bool:
        """Take a new key and certificate from the files if they changed; True if taken."""
        now = time.monotonic()
        if not force and now - self._checked < self.RESCAN_SECONDS:
            return False
        self._checked = now
        stamp = self._files_stamp()
        if stamp in (self._stamp, self._refused):
            return False
        try:
            key, cert = self._load()
        except (OSError, ValueError) as exc:
            self._refused = stamp  # logged once; tried again when the files change again
            log.error("signing key not changed: %s", exc)
            return False
        self._keyed = _Keyed.of(key, cert)
        self._stamp = stamp
        log.info("signing with the new certificate %s...", fingerprint(cert)[:16])
        return True

    def sign(self, element: etree._Element) -> bytes:
        self.reload_if_changed()
        return super().sign(element)

    def sign_canonical(self, canonical: bytes) -> bytes:
        self.reload_if_changed()
        return super().sign_canonical(canonical)


@dataclass(frozen=True)
class Verified:
    """The outcome of verification: only what the signature covers, and who signed it."""

    signed: etree._Element
    party: str
    via: str


def _elements(el: etree._Element) -> list[etree._Element]:
    """The element children (not comments, processing instructions or entities)."""
    return list(el.iterchildren(etree.Element))


def _only(el: etree._Element, *tags: str) -> list[etree._Element]:
    """The element children of ``el``, which must be exactly ``tags`` in order."""
    kids = _elements(el)
    if [k.tag for k in kids] != [_ds(t) for t in tags]:
        got = ", ".join(etree.QName(k).localname for k in kids)
        raise GatewayError("signature-profile",
                           f"{etree.QName(el).localname} holds [{got}], expected {list(tags)}")
    return kids


def _base64(el: etree._Element, what: str) -> bytes:
    """The bytes of a base64 value (whitespace inside it is allowed: it is often wrapped);
    empty, self-closed or invalid base64 is a profile error, never a crash further on."""
    if _elements(el):
        raise GatewayError("signature-profile", f"{what} may hold only text")
    text = "".join((el.text or "").split())
    if not text:
        raise GatewayError("signature-profile", f"{what} is empty")
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError("signature-profile", f"{what} is not base64") from None
    if not value:
        raise GatewayError("signature-profile", f"{what} is empty")
    return value


def _c14n_ok(el: etree._Element) -> list[str]:
    """An exclusive-C14N method/transform may carry only an InclusiveNamespaces prefix list;
    the prefixes it names."""
    prefixes: list[str] = []
    for kid in _elements(el):
        if kid.tag != f"{{{EXC_C14N}}}InclusiveNamespaces" or prefixes or _elements(kid):
            raise GatewayError("signature-profile", "unexpected child of a C14N method")
        prefixes = (kid.get("PrefixList") or "").split()
        # "#default" is refused: libxml2's C14N would drop it silently, and verify something
        # other than what the signer canonicalised
        if not prefixes or len(prefixes) > 16 or any(
                len(p) > 64 or not p.replace("-", "").replace("_", "").replace(
                    ".", "").isalnum() for p in prefixes):
            raise GatewayError("signature-profile", "a bad InclusiveNamespaces PrefixList")
    return prefixes


@dataclass(frozen=True)
class Profile:
    """What ``check_profile`` found, for ``verify`` (read once, not walked again)."""

    sig: etree._Element
    signed_info: etree._Element
    method: str  # SignatureMethod's Algorithm
    info_prefixes: list[str]  # SignedInfo's C14N InclusiveNamespaces
    reference_prefixes: list[str]  # the Reference's C14N transform's
    digest: bytes  # DigestValue, decoded
    value: bytes  # SignatureValue, decoded
    certs: list[bytes]  # KeyInfo's certificates, DER


def check_profile(root: etree._Element) -> Profile:
    """Enforce the profile on the parsed message; return what it found."""
    if root.tag == _ds("Signature"):
        raise GatewayError("signature-profile", "enveloping signatures are not accepted")
    # One walk over the ds elements of the whole message (lxml filters by namespace in C):
    # how many signatures, and none of the XML-DSig elements this profile never uses.
    sigs = []
    for el in root.iter(f"{{{DS}}}*"):
        name = el.tag[len(DS) + 2:]
        if name == "Signature":
            sigs.append(el)
        elif name in ("Object", "Manifest", "RetrievalMethod"):
            raise GatewayError("signature-profile", f"ds:{name} is not allowed")
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

    signed_info, value, key_info = _only(sig, "SignedInfo", "SignatureValue", "KeyInfo")
    value_bytes = _base64(value, "SignatureValue")
    c14n, method, reference = _only(signed_info, "CanonicalizationMethod", "SignatureMethod",
                                    "Reference")
    if c14n.get("Algorithm") != EXC_C14N:
        raise GatewayError("signature-algorithm", f"canonicalization {c14n.get('Algorithm')}")
    info_prefixes = _c14n_ok(c14n)
    if method.get("Algorithm") not in ALLOWED_SIGNATURE_METHODS or _elements(method):
        raise GatewayError("signature-algorithm", f"signature method {method.get('Algorithm')}")
    if reference.get("URI") != "":
        raise GatewayError("signature-profile", 'the one Reference must have URI=""')
    transforms, digest_method, digest = _only(reference, "Transforms", "DigestMethod",
                                              "DigestValue")
    if digest_method.get("Algorithm") != SHA256 or _elements(digest_method):
        raise GatewayError("signature-algorithm", f"digest {digest_method.get('Algorithm')}")
    digest_bytes = _base64(digest, "DigestValue")
    if len(digest_bytes) != SHA256_BYTES:
        raise GatewayError("signature-profile", "DigestValue is not a SHA-256 digest")
    t1, t2 = _only(transforms, "Transform", "Transform")
    if t1.get("Algorithm") != ENVELOPED or _elements(t1) or t2.get("Algorithm") != EXC_C14N:
        raise GatewayError("signature-profile",
                           "transforms must be exactly enveloped-signature then exclusive C14N")
    reference_prefixes = _c14n_ok(t2)

    (x509_data,) = _only(key_info, "X509Data")
    certs: list[bytes] = []
    for kid in _elements(x509_data):
        if kid.tag == _ds("X509Certificate"):
            if len("".join((kid.text or "").split())) > MAX_CERT_B64 or len(certs) >= MAX_CERTS:
                raise GatewayError("signature-profile", "too many or too large certificates")
            certs.append(_base64(kid, "X509Certificate"))
        elif kid.tag not in (_ds("X509SubjectName"), _ds("X509IssuerSerial")):
            raise GatewayError("signature-profile",
                               f"X509Data may not hold {etree.QName(kid).localname}")
    if not certs:
        raise GatewayError("signature-profile", "KeyInfo must carry the X.509 certificate")
    return Profile(sig, signed_info, method.get("Algorithm", ""), info_prefixes,
                   reference_prefixes, digest_bytes, value_bytes, certs)


def _trusted_signers(trust: TrustStore, certs: list[bytes],
                     now: dt.datetime | None) -> list[Trusted]:
    """Every distinct trusted certificate among those in KeyInfo (each is only looked up):
    a party may have several current certificates, and the signature shows which one signed.
    The first refusal when none is trusted."""
    found: list[Trusted] = []
    first_error: GatewayError | None = None
    for der in certs:
        try:
            trusted = trust.resolve_der(der, now)
        except ValueError:
            # KeyInfo is not signed: a certificate that does not parse (a legacy one in a
            # chain, or one added on the way) is passed over like an untrusted one, and
            # refuses the message only when no trusted certificate is there.
            first_error = first_error or GatewayError(
                "signature-profile", "X509Certificate is not a certificate")
            continue
        except GatewayError as exc:
            first_error = first_error or exc
            continue
        if all(t.cert != trusted.cert for t in found):
            found.append(trusted)
    if not found:
        assert first_error is not None
        raise first_error
    return found


_KEY_TYPES: dict[str, type] = {ECDSA_SHA256: ec.EllipticCurvePublicKey,
                               RSA_SHA256: rsa.RSAPublicKey}


def _safe_parser() -> etree.XMLParser:
    # collect_ids=False as in core.xmlsafe: the profile's one Reference is URI="", so IDs are
    # never needed, and collecting them makes a malformed xml:id a parse error here.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, collect_ids=False)
    parser.resolvers.add(xmlsafe.NoLoads())  # (canonical bytes hold no DTD: belt and braces)
    return parser


def _enveloped_c14n(root: etree._Element, sig: etree._Element, prefixes: list[str]) -> bytes:
    """The Reference's data: the whole document (URI=""), without comments, with the
    Signature element removed (enveloped-signature), in exclusive C14N. The signature is
    taken out of the tree and put back (no copy of the tree is made); its tail text, which is
    the document's and not the signature's, stays in place meanwhile."""
    tail, prev = sig.tail, sig.getprevious()
    kept = prev.tail if prev is not None else root.text
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    root.remove(sig)
    try:
        return _c14n(root.getroottree(), prefixes)
    finally:
        if prev is not None:
            prev.tail = kept
        else:
            root.text = kept
        root.append(sig)
        sig.tail = tail


def _signature_ok(key: object, method: str, signed_info: bytes, value: bytes) -> bool:
    """Whether ``value`` is ``key``'s signature of the canonical SignedInfo."""
    try:
        if method == ECDSA_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            n = _ec_bytes(key)
            if len(value) != 2 * n:
                return False
            der = encode_dss_signature(int.from_bytes(value[:n], "big"),
                                       int.from_bytes(value[n:], "big"))
            key.verify(der, signed_info, _ECDSA_SHA256)
            return True
        if method == RSA_SHA256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, signed_info, padding.PKCS1v15(), hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


XSI = "http://www.w3.org/2001/XMLSchema-instance"
# xsi:type holds a QName, resolved through namespace declarations: the one value in a message
# that can depend on a declaration exclusive C14N leaves out (see signed_content)
_HAS_XSI_TYPE = etree.XPath("boolean(descendant-or-self::*/@xsi:type)", namespaces={"xsi": XSI})


def _reread(canonical: bytes, root: etree._Element) -> etree._Element:
    try:
        signed = etree.fromstring(canonical, _safe_parser())
    except etree.XMLSyntaxError as exc:  # pragma: no cover - C14N output parses
        raise GatewayError("xml-malformed", str(exc.msg)[:200]) from None
    if signed.tag != root.tag:  # pragma: no cover - URI="" covers the root
        raise GatewayError("signature-profile", "the signature does not cover the root element")
    return signed


def signed_content(root: etree._Element, sig: etree._Element, canonical: bytes
                   ) -> etree._Element:
    """What the signature covers, as a tree, made from the verified tree itself: the
    Signature taken out (its tail text, the document's, left in place) and every comment
    inside the root removed (their tail text kept). ``root`` is changed and returned.

    Why this is the same as re-reading ``canonical`` (the exclusive C14N the digest was
    checked over, which is what this function replaced): that C14N is the XPath data model
    of the document less comments and less the Signature, and the tree left here is that
    same model, so the re-read and this tree differ only where C14N changes the *form* and not
    the values, or outside the root:
    - attribute order, quoting, whitespace inside tags, CDATA (the parser merges it into
      text), character references, line ends: form only; the values read are the same;
    - comments: removed here, so ``.text`` and ``itertext()`` read across where they were;
    - the XML declaration, and what lies before or after the root element: never read (the
      XSD validates the root, the model mapping reads the root's descendants);
    - processing instructions inside the root: kept by C14N and kept here;
    - namespace declarations that no element or attribute name uses: exclusive C14N leaves
      them out, so they are not signed. Names are compared by namespace URI, never by
      prefix, so a declaration matters only to a value that is a QName in content. The
      schemas declare no xs:QName or xs:NOTATION value (tests/test_signed_content.py checks),
      which leaves ``xsi:type``: a message holding one is re-read from ``canonical``
      instead, as before, so an unsigned declaration can never resolve it;
    - DTDs, entity references and default attributes: refused by the safe parse.
    tests/test_signed_content.py holds this tree against the re-read on random messages."""
    if _HAS_XSI_TYPE(root):
        return _reread(canonical, root)
    tail, prev = sig.tail, sig.getprevious()
    if tail:  # lxml's remove() takes the tail with the element
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    root.remove(sig)
    etree.strip_elements(root, etree.Comment, with_tail=False)
    return root


def verify(root: etree._Element, data: bytes, trust: TrustStore,
           now: dt.datetime | None = None) -> Verified:
    """Verify the message ``root`` (the safe parse of ``data``, the exact bytes received).

    Returns the signed content only (``signed_content``: ``root`` itself, without its
    Signature and comments; use only ``Verified.signed`` afterwards).
    Raises GatewayError with a signature-* or certificate-* code on any failure."""
    p = check_profile(root)
    sig, method = p.sig, p.method
    candidates = _trusted_signers(trust, p.certs, now)
    wanted = _KEY_TYPES[method]
    # Only certificates whose key can make this kind of signature (a party may sign with an
    # EC key and an RSA one); if none can, the one there is refused as before.
    candidates = [t for t in candidates
                  if isinstance(t.cert.public_key(), wanted)] or candidates
    canonical = _enveloped_c14n(root, sig, p.reference_prefixes)
    digest = hashlib.sha256(canonical).digest()
    if not hmac.compare_digest(digest, p.digest):
        raise GatewayError("signature-invalid", "the digest of the signed content differs")
    signed_info = _c14n(p.signed_info, p.info_prefixes)
    value = p.value
    for trusted in candidates:  # signed with one of the KeyInfo certificates
        if _signature_ok(trusted.cert.public_key(), method, signed_info, value):
            return Verified(signed=signed_content(root, sig, canonical),
                            party=trusted.party, via=trusted.via)
    raise GatewayError("signature-invalid", "SignatureValue")
