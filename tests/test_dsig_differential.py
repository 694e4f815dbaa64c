"""The lean XML-DSig path against two independent implementations, signxml and xmlsec1, on
random messages; and mutation: any change to the signed content is refused.

Random messages: every message type, any prefix (or the default namespace) for the message
namespace, whitespace or none between elements, comments and processing instructions inside
the root, CDATA sections, attributes in a foreign namespace in any order, and non-ASCII text.
In both directions: what this gateway signs verifies with signxml and with `xmlsec1
--verify`; what signxml and xmlsec1 sign verifies here.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, XMLSigner, XMLVerifier

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.messages import model as m
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry, header
from tests.test_xmlsec_interop import TEMPLATE, XMLSEC

assert XMLSEC is not None and shutil.which("xmlsec1")
FOREIGN = "urn:example:foreign"
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
               min_size=1, max_size=30).filter(lambda t: t.strip() == t and t)
ASCII = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def _messages(n: int, words: list[str]) -> list[m.Message]:
    w = (words * 4)[:4]
    today = dt.date(2026, 12, 7)
    return [
        enquiry(n=n),
        m.Reply(header=header(m.MessageType.REPLY), date_replied=today,
                officer=m.Officer(w[0]), outcomes=tuple(
                    m.ChildOutcome(str(i + 1), m.Outcome.NOT_KNOWN, comments=w[1])
                    for i in range(n))),
        m.Referral(header=header(m.MessageType.REFERRAL), referral_date=today,
                   referrer=m.Referrer(w[2]), child=m.ReferralChild(w[3], w[0]),
                   category=m.Category.OTHER, other_details=" ".join(w)),
        m.Error(header=header(m.MessageType.ERROR), code="bad-request", text=w[1]),
    ]


def _reprefix(el: etree._Element, prefix: str | None) -> etree._Element:
    """The same tree with the message namespace bound to ``prefix`` (None: the default)."""
    q = etree.QName(el)
    new = etree.Element(el.tag if q.namespace != mx.NS else f"{{{mx.NS}}}{q.localname}",
                        nsmap={prefix: mx.NS})
    new.text = el.text
    for kid in el:
        copy = _reprefix(kid, prefix)
        copy.tail = kid.tail
        new.append(copy)
    return new


@st.composite
def messages(draw: st.DrawFn) -> etree._Element:
    words = draw(st.lists(TEXT, min_size=1, max_size=4))
    message = draw(st.sampled_from(_messages(draw(st.integers(1, 3)), words)))
    root = _reprefix(mx.build(message), draw(st.sampled_from([None, "c", "cme", "m1"])))
    if draw(st.booleans()):
        etree.indent(root, space=draw(st.sampled_from(["", " ", "\t", "  "])))
    elements = list(root.iter())
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(elements))
        kind = draw(st.sampled_from(["comment", "pi", "attr", "cdata"]))
        if kind == "comment":
            where.insert(0, etree.Comment(draw(TEXT).replace("--", "").strip("-") or "c"))
        elif kind == "pi":
            # ASCII only: signxml (5.2.0 here) digests a processing instruction holding non-ASCII
            # text wrongly (xmlsec1 agrees with this gateway: see the test below)
            where.append(etree.ProcessingInstruction("cme-test", draw(ASCII).replace("?>", "")))
        elif kind == "attr":
            where.set(f"{{{FOREIGN}}}a{draw(st.integers(0, 9))}", draw(TEXT))
            where.set(f"z{draw(st.integers(0, 9))}", draw(TEXT))
        elif where.text and where.text.strip() and not len(where):
            where.text = etree.CDATA(where.text.replace("]]>", ""))
    return root


def _ours_verify(data: bytes, pki: Pki) -> dsig.Verified:
    return dsig.verify(xmlsafe.parse(data, max_depth=48, max_elements=20000), data,
                       pki.trust("355"))


def _xmlsec_verify(data: bytes, pki: Pki, tmp: Path) -> subprocess.CompletedProcess[str]:
    cert = tmp / "355.pem"
    cert.write_bytes(k.cert_pem(pki.parties["355"].cert))
    f = tmp / "signed.xml"
    f.write_bytes(data)
    return subprocess.run([XMLSEC, "--verify", "--pubkey-cert-pem", str(cert),
                           "--enabled-reference-uris", "empty", str(f)],
                          capture_output=True, text=True)


@SETTINGS
@given(root=messages())
def test_what_we_sign_verifies_with_signxml(pki: Pki, root: etree._Element) -> None:
    data = pki.parties["355"].signer.sign(root)
    XMLVerifier().verify(data, x509_cert=pki.parties["355"].cert)
    assert _ours_verify(data, pki).party == "355"


@settings(SETTINGS, max_examples=25)  # a process each: fewer, still random
@given(root=messages())
def test_what_we_sign_verifies_with_xmlsec1(pki: Pki, root: etree._Element) -> None:
    data = pki.parties["355"].signer.sign(root)
    with tempfile.TemporaryDirectory() as tmp:
        res = _xmlsec_verify(data, pki, Path(tmp))
    assert res.returncode == 0, res.stderr


_RSA: list[tuple[object, object, object]] = []


def _rsa_party() -> tuple[object, object, object]:
    """An RSA key and certificate for party 355, and a trust store holding it (made once)."""
    if not _RSA:
        from gateway.crypto.trust import TrustStore

        key = k.generate_key("rsa")
        cert = k.make_certificate("355", key)  # type: ignore[arg-type]
        folder = Path(tempfile.mkdtemp())
        (folder / "355.pem").write_bytes(k.cert_pem(cert))
        _RSA.append((key, cert, TrustStore(folder)))
    return _RSA[0]


@SETTINGS
@given(root=messages(), rsa=st.booleans())
def test_what_signxml_signs_verifies_here(pki: Pki, root: etree._Element, rsa: bool) -> None:
    if rsa:
        key, cert, trust = _rsa_party()
    else:
        key, cert, trust = pki.parties["355"].key, pki.parties["355"].cert, pki.trust("355")
    signer = XMLSigner(
        signature_algorithm="rsa-sha256" if rsa else "ecdsa-sha256",
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(root, key=key, cert=[cert])
    data = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    verified = dsig.verify(xmlsafe.parse(data, max_depth=48, max_elements=20000), data,
                           trust)  # type: ignore[arg-type]
    assert verified.party == "355"


@settings(SETTINGS, max_examples=25)
@given(root=messages(), prefix=st.sampled_from(["ds", "", "sig"]))
def test_what_xmlsec1_signs_verifies_here(pki: Pki, root: etree._Element, prefix: str) -> None:
    p = pki.parties["355"]
    pfx, colon = (f"{prefix}:", f":{prefix}") if prefix else ("", "")
    root.append(etree.fromstring(TEMPLATE.format(p=pfx, c=colon, method=dsig.ECDSA_SHA256,
                                                 digest=dsig.SHA256)))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "k.pem").write_bytes(k.key_pem(p.key))
        (t / "c.pem").write_bytes(k.cert_pem(p.cert))
        (t / "tpl.xml").write_bytes(etree.tostring(root, xml_declaration=True,
                                                   encoding="UTF-8"))
        res = subprocess.run([XMLSEC, "--sign", "--privkey-pem", f"{t / 'k.pem'},{t / 'c.pem'}",
                              "--output", str(t / "out.xml"), str(t / "tpl.xml")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        data = (t / "out.xml").read_bytes()
    assert _ours_verify(data, pki).party == "355"


def test_a_processing_instruction_with_non_ascii_text_is_signed_as_xmlsec1_reads_it(
        pki: Pki, tmp_path: Path) -> None:
    root = mx.build(enquiry())
    root[0].append(etree.ProcessingInstruction("cme-test", "\u012b\u00d2 \U000f398b"))
    data = pki.parties["355"].signer.sign(root)
    res = _xmlsec_verify(data, pki, tmp_path)
    assert res.returncode == 0, res.stderr
    assert _ours_verify(data, pki).party == "355"


# ---- mutation ------------------------------------------------------------------------------

def _text_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of character data (between '>' and '<') in the signed content, before the
    Signature: where a one-byte change keeps the XML well-formed but changes the content."""
    end = data.index(b"Signature") - 1
    while data[end:end + 1] != b"<":
        end -= 1
    spans, i = [], data.index(b"?>") + 2
    while True:
        a = data.find(b">", i, end)
        if a < 0:
            return spans
        b = data.find(b"<", a, end)
        if b < 0:
            return spans
        if b - a > 1:
            spans.append((a + 1, b))
        i = b


@settings(SETTINGS, max_examples=150)
@given(data=st.data())
def test_any_byte_changed_inserted_or_removed_in_the_signed_content_is_refused(
        pki: Pki, data: st.DataObject) -> None:
    root = data.draw(messages())
    signed = pki.parties["355"].signer.sign(root)
    spans = _text_spans(signed)
    a, b = data.draw(st.sampled_from(spans))
    at = data.draw(st.integers(a, b - 1))
    op = data.draw(st.sampled_from(["change", "insert", "remove"]))
    byte = data.draw(st.sampled_from(b"ABXYZaxyz0129 .-_'\"=;"))
    if op == "change":
        if signed[at] == byte:
            byte = ord("Q") if byte != ord("Q") else ord("R")
        mutated = signed[:at] + bytes([byte]) + signed[at + 1:]
    elif op == "insert":
        mutated = signed[:at] + bytes([byte]) + signed[at:]
    else:
        mutated = signed[:at] + signed[at + 1:]
    try:
        _ours_verify(mutated, pki)
    except GatewayError as exc:
        assert exc.code in ("signature-invalid", "xml-malformed"), exc.code
    else:
        raise AssertionError(f"{op} at {at} was not refused")


@settings(SETTINGS, max_examples=60)
@given(data=st.data())
def test_any_element_moved_is_refused(pki: Pki, data: st.DataObject) -> None:
    signed = pki.parties["355"].signer.sign(mx.build(enquiry(n=2)))
    root = etree.fromstring(signed)
    movable = [el for el in root.iter() if isinstance(el.tag, str) and el is not root
               and etree.QName(el).namespace == mx.NS and el.getparent() is not None
               and len(el.getparent()) > 1]
    el = data.draw(st.sampled_from(movable))
    parent = el.getparent()
    siblings = [s for s in parent if s is not el and isinstance(s.tag, str)
                and etree.QName(s).localname != "Signature"]
    target = data.draw(st.sampled_from(siblings))
    index = parent.index(target)
    parent.remove(el)
    parent.insert(index, el)
    mutated = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if mutated == signed:
        return
    try:
        _ours_verify(mutated, pki)
    except GatewayError as exc:
        assert exc.code == "signature-invalid", exc.code
    else:
        raise AssertionError("a moved element was not refused")
