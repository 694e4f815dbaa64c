"""The signature profile: what verifies, and every forgery that must not."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry

DS = dsig.DS
SETTINGS = Settings(party="352")


def signed(pki: Pki, party: str = "355", **kw: object) -> bytes:
    return pki.parties[party].signer.sign(mx.build(enquiry(sender=party, **kw)))  # type: ignore[arg-type]


def check(data: bytes, trust: TrustStore) -> object:
    return verify_and_parse(data, trust, SETTINGS)


def code_of(data: bytes, trust: TrustStore) -> str:
    with pytest.raises(GatewayError) as info:
        check(data, trust)
    return info.value.code


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def dump(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_signed_message_verifies_and_gives_back_the_signed_model(pki: Pki) -> None:
    msg = enquiry()
    data = pki.parties["355"].signer.sign(mx.build(msg))
    assert check(data, pki.trust("355")) == msg


def test_rsa_keys_sign_with_rsa_sha256(pki: Pki) -> None:
    p = pki.party("350", kind="rsa")
    data = p.signer.sign(mx.build(enquiry(sender="350")))
    assert dsig.RSA_SHA256.encode() in data
    assert check(data, pki.trust("350")).header.sender == "350"  # type: ignore[attr-defined]


def test_changed_byte_is_refused(pki: Pki) -> None:
    data = signed(pki).replace(b"Child0", b"Child9")
    assert code_of(data, pki.trust("355")) == "signature-invalid"


def test_changed_signature_value_is_refused(pki: Pki) -> None:
    root = tree(signed(pki))
    value = root.find(f".//{{{DS}}}SignatureValue")
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    assert code_of(dump(root), pki.trust("355")) == "signature-invalid"


def test_certificate_outside_the_directory_is_refused(pki: Pki) -> None:
    data = signed(pki, "999")
    assert code_of(data, pki.trust("355", "352")) == "certificate-untrusted"


def test_directory_cert_under_another_name_gives_sender_mismatch(pki: Pki, tmp_path) -> None:
    # 352's certificate, but a message that claims to come from 355
    msg = enquiry(sender="355", recipient="352")
    data = pki.parties["352"].signer.sign(mx.build(msg))
    assert code_of(data, pki.trust("355", "352")) == "sender-mismatch"


def test_expired_certificate_is_refused(pki: Pki, tmp_path) -> None:
    key = k.generate_key()
    old = k.make_certificate("351", key, days=1,
                             not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    (tmp_path / "351.pem").write_bytes(k.cert_pem(old))
    data = dsig.Signer(key, old).sign(mx.build(enquiry(sender="351")))
    assert code_of(data, TrustStore(tmp_path)) == "certificate-expired"


def test_ca_issued_certificate_is_trusted_for_the_party_it_names(tmp_path) -> None:
    ca_key = k.generate_key()
    ca = k.make_certificate("Test CA", ca_key, is_ca=True)
    (tmp_path / "ca.pem").write_bytes(k.cert_pem(ca))
    (tmp_path / "partners").mkdir()
    key = k.generate_key()
    cert = k.make_certificate("355", key, issuer_key=ca_key, issuer_cert=ca)
    trust = TrustStore(tmp_path / "partners", tmp_path / "ca.pem")
    good = dsig.Signer(key, cert).sign(mx.build(enquiry(sender="355")))
    assert check(good, trust).header.sender == "355"  # type: ignore[attr-defined]
    # the same CA-issued key claiming to be another party
    bad = dsig.Signer(key, cert).sign(mx.build(enquiry(sender="352", recipient="355")))
    assert code_of(bad, trust) == "sender-mismatch"
    # a self-signed certificate naming 355 is not issued by the CA
    other_key = k.generate_key()
    selfsigned = k.make_certificate("355", other_key)
    forged = dsig.Signer(other_key, selfsigned).sign(mx.build(enquiry(sender="355")))
    assert code_of(forged, trust) == "certificate-untrusted"


def test_keyinfo_certificate_is_not_trusted_by_being_there(pki: Pki) -> None:
    # Sign with 999's key but put 355's (trusted) certificate in KeyInfo.
    root = tree(signed(pki, "999"))
    el = root.find(f".//{{{DS}}}X509Certificate")
    el.text = "".join(k.cert_pem(pki.parties["355"].cert).decode().splitlines()[1:-1])
    hdr = root.find(".//{urn:cme-gateway:message:1}Sender")
    assert hdr is not None
    assert code_of(dump(root), pki.trust("355")) in ("signature-invalid",)


def test_signature_moved_inside_the_message_is_refused(pki: Pki) -> None:
    root = tree(signed(pki))
    sig = root.find(f"{{{DS}}}Signature")
    root.remove(sig)
    root[0].append(sig)  # into the Header
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_wrapped_signature_is_refused(pki: Pki) -> None:
    """XSW: the signed original hidden in a wrapper; attacker content at the root."""
    original = tree(signed(pki))
    evil = copy.deepcopy(original)
    evil.remove(evil.find(f"{{{DS}}}Signature"))
    evil.find(".//{urn:cme-gateway:message:1}Forename").text = "Evil"
    wrapper = etree.SubElement(evil, "{urn:evil}Wrapper")
    wrapper.append(original)
    assert code_of(dump(evil), pki.trust("355")) == "signature-profile"
    # and with the signature kept last but the original inside an earlier wrapper
    evil2 = copy.deepcopy(original)
    sig = evil2.find(f"{{{DS}}}Signature")
    evil2.remove(sig)
    evil2.find(".//{urn:cme-gateway:message:1}Forename").text = "Evil"
    evil2.append(sig)
    assert code_of(dump(evil2), pki.trust("355")) == "signature-invalid"


def test_two_signatures_are_refused(pki: Pki) -> None:
    root = tree(signed(pki))
    sig = root.find(f"{{{DS}}}Signature")
    root.insert(1, copy.deepcopy(sig))
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_unsigned_message_is_refused(pki: Pki) -> None:
    data = mx.to_bytes(mx.build(enquiry()))
    assert code_of(data, pki.trust("355")) == "signature-missing"


@pytest.mark.parametrize("where,tag", [
    ("Signature", "Object"), ("Signature/SignedInfo/Reference", "Manifest"),
    ("Signature/KeyInfo", "RetrievalMethod"), ("Signature/KeyInfo", "KeyValue"),
    ("Signature/KeyInfo", "KeyName"), ("Signature/KeyInfo/X509Data", "X509CRL"),
])
def test_forbidden_elements_are_refused(pki: Pki, where: str, tag: str) -> None:
    root = tree(signed(pki))
    parent = root.find(f"{{{DS}}}" + where.replace("/", f"/{{{DS}}}"))
    etree.SubElement(parent, f"{{{DS}}}{tag}")
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_manifest_anywhere_in_the_message_is_refused(pki: Pki) -> None:
    root = tree(signed(pki))
    etree.SubElement(root[0], f"{{{DS}}}Manifest")
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


@pytest.mark.parametrize("path,uri,code", [
    ("SignedInfo/SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
     "signature-algorithm"),
    ("SignedInfo/SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
     "signature-algorithm"),
    ("SignedInfo/SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
     "signature-algorithm"),
    ("SignedInfo/SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
     "signature-algorithm"),
    ("SignedInfo/Reference/DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1",
     "signature-algorithm"),
    ("SignedInfo/CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
     "signature-algorithm"),
    ("SignedInfo/Reference/Transforms/Transform", "http://www.w3.org/TR/1999/REC-xpath-19991116",
     "signature-profile"),
])
def test_forbidden_algorithms_are_refused(pki: Pki, path: str, uri: str, code: str) -> None:
    root = tree(signed(pki))
    el = root.find(f"{{{DS}}}Signature/{{{DS}}}" + path.replace("/", f"/{{{DS}}}"))
    el.set("Algorithm", uri)
    assert code_of(dump(root), pki.trust("355")) == code


def test_reference_must_cover_the_whole_document(pki: Pki) -> None:
    root = tree(signed(pki))
    ref = root.find(f".//{{{DS}}}Reference")
    ref.set("URI", "#header")
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"
    ref.getparent().append(copy.deepcopy(ref))
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_text_after_the_signature_is_refused(pki: Pki) -> None:
    root = tree(signed(pki))
    root.find(f"{{{DS}}}Signature").tail = "injected"
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_comments_never_reach_the_parsed_message(pki: Pki) -> None:
    """Exclusive C14N without comments does not sign comments; the parsed model must come
    from the signed form, where a comment cannot split or change a value."""
    data = signed(pki).replace(b"<Surname>Testchild</Surname>",
                               b"<Surname>Test<!-- injected -->child</Surname>")
    msg = check(data, pki.trust("355"))
    assert msg.children[0].surname == "Testchild"  # type: ignore[attr-defined]


def test_dtd_and_entities_are_refused_before_verification(pki: Pki) -> None:
    data = signed(pki)
    dtd = data.replace(b"?>", b'?><!DOCTYPE Enquiry [<!ENTITY x "y">]>', 1)
    assert code_of(dtd, pki.trust("355")) == "xml-dtd-forbidden"


def test_profile_is_checked_whatever_the_prefix(pki: Pki) -> None:
    data = signed(pki).replace(b"ds:", b"sig:").replace(b"xmlns:ds=", b"xmlns:sig=")
    # The prefix is part of the canonical SignedInfo, so the value no longer verifies, but the
    # profile is recognised (not "signature-missing").
    assert code_of(data, pki.trust("355")) == "signature-invalid"
    root = tree(data)
    root.find(f"{{{DS}}}Signature").append(etree.Element(f"{{{DS}}}Object"))
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_parse_is_safe_against_billion_laughs() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<lolz>&lol2;</lolz>")
    with pytest.raises(GatewayError) as info:
        xmlsafe.parse(bomb, max_depth=10, max_elements=10)
    assert info.value.code == "xml-dtd-forbidden"


def test_external_entity_and_bare_entity_references_are_refused(pki: Pki) -> None:
    data = signed(pki)
    xxe = data.replace(b"?>", b'?><!DOCTYPE Enquiry [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                       1).replace(b"<Surname>Testchild", b"<Surname>&xxe;")
    assert code_of(xxe, pki.trust("355")) == "xml-dtd-forbidden"
    bare = data.replace(b"<Surname>Testchild", b"<Surname>&xxe;Testchild")
    # with no DTD an entity cannot be declared: the document is not well-formed
    assert code_of(bare, pki.trust("355")) in ("xml-malformed", "xml-entity-forbidden")
