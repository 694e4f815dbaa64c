"""The signature profile: what verifies, and every forgery that must not."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.crypto import keys as k
from gateway.crypto.trust import TrustStore
from gateway.exchange.inbound import verify_and_parse
from gateway.messages import xml as mx
from gateway.web.app import create_app
from tests.conftest import Pki, enquiry, pair

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


# ---- malformed signatures: every one is a clean refusal, never a crash (review item 15a) ---

XML_NS = "http://www.w3.org/XML/1998/namespace"


def _sig_elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.find(f"{{{DS}}}Signature").iter() if isinstance(e.tag, str)]


def _self_close(el: etree._Element) -> None:
    for kid in list(el):
        el.remove(kid)
    el.text = None


def _set_text(text: str) -> object:
    def mutate(el: etree._Element) -> None:
        el.text = text
    return mutate


def _add(tag: str, text: str | None = None, **attrs: str) -> object:
    def mutate(el: etree._Element) -> None:
        etree.SubElement(el, tag, **attrs).text = text
    return mutate


def _remove(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


ELEMENT_MUTATIONS = {
    "self-closed": _self_close,                      # <ds:SignatureValue/>
    "empty": _set_text(""),                          # <ds:SignatureValue></ds:SignatureValue>
    "whitespace": _set_text(" \n\t "),
    "not-base64": _set_text("!!not base64!!"),
    "short-base64": _set_text("AAAA"),
    "padding-only": _set_text("===="),
    "der-garbage": _set_text("MIIB/w=="),
    "long": _set_text("A" * 40_000),
    "comment": lambda el: el.append(etree.Comment("c")),
    "pi": lambda el: el.append(etree.ProcessingInstruction("x", "y")),
    "removed": _remove,
    "Id=''": lambda el: el.set("Id", ""),
    "xml:id garbage": lambda el: el.set(f"{{{XML_NS}}}id", "not an NCName!"),
    "foreign attribute": lambda el: el.set("{urn:evil}a", "b"),
    "empty child ds:X509Certificate": _add(f"{{{DS}}}X509Certificate"),
    "empty child ds:X509SubjectName": _add(f"{{{DS}}}X509SubjectName"),
    "empty child ds:X509IssuerSerial": _add(f"{{{DS}}}X509IssuerSerial"),
    "child ds:Transform": _add(f"{{{DS}}}Transform", Algorithm=""),
    "InclusiveNamespaces ''": _add(f"{{{dsig.EXC_C14N}}}InclusiveNamespaces", PrefixList=""),
    "InclusiveNamespaces garbage": _add(f"{{{dsig.EXC_C14N}}}InclusiveNamespaces",
                                        PrefixList="!! #default xmlns"),
}
ATTRIBUTE_MUTATIONS = {"empty": "", "space": " ", "garbage": "!!", "fragment": "#x",
                       "removed": None}


def _refused_cleanly(data: bytes, trust: TrustStore) -> str | None:
    """None when both entry points refuse ``data`` with a GatewayError (or accept it); else
    what they raised instead."""
    try:
        root = xmlsafe.parse(data, max_depth=48, max_elements=20_000)
    except GatewayError:
        return None
    for call in (lambda: dsig.verify(root, data, trust), lambda: check(data, trust)):
        try:
            call()
        except GatewayError:
            pass
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


@pytest.fixture(scope="module", params=["ec", "rsa"])
def signed_pair(request: pytest.FixtureRequest, pki: Pki) -> tuple[bytes, TrustStore]:
    party = {"ec": "355", "rsa": "343"}[request.param]
    if party not in pki.parties:
        pki.party(party, kind=request.param)
    return signed(pki, party), pki.trust(party)


@pytest.mark.parametrize("name", sorted(ELEMENT_MUTATIONS))
def test_every_element_of_the_signature_mutated_is_refused_cleanly(
        signed_pair: tuple[bytes, TrustStore], name: str) -> None:
    data, trust = signed_pair
    crashes = []
    for i, el in enumerate(_sig_elements(tree(data))):
        root = tree(data)
        ELEMENT_MUTATIONS[name](_sig_elements(root)[i])  # type: ignore[operator]
        crash = _refused_cleanly(dump(root), trust)
        if crash:
            crashes.append(f"{etree.QName(el).localname}: {crash}")
    assert not crashes


@pytest.mark.parametrize("name", sorted(ATTRIBUTE_MUTATIONS))
def test_every_attribute_of_the_signature_mutated_is_refused_cleanly(
        signed_pair: tuple[bytes, TrustStore], name: str) -> None:
    data, trust = signed_pair
    crashes = []
    for i, el in enumerate(_sig_elements(tree(data))):
        for attr in el.attrib:
            root = tree(data)
            target = _sig_elements(root)[i]
            value = ATTRIBUTE_MUTATIONS[name]
            if value is None:
                del target.attrib[attr]
            else:
                target.set(attr, value)
            crash = _refused_cleanly(dump(root), trust)
            if crash:
                crashes.append(f"{etree.QName(el).localname}@{attr}: {crash}")
    assert not crashes


@pytest.mark.parametrize("tag", ["SignatureValue", "DigestValue"])
@pytest.mark.parametrize("text", [None, "", "  \n ", "!!not base64!!", "A", "===="])
def test_empty_or_garbled_values_are_a_profile_error(pki: Pki, tag: str,
                                                     text: str | None) -> None:
    root = tree(signed(pki))
    root.find(f".//{{{DS}}}{tag}").text = text
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


@pytest.mark.parametrize("text", [None, "", "  ", "!!not base64!!", "AAAA"])
def test_empty_or_garbled_certificate_is_a_profile_error(pki: Pki, text: str | None) -> None:
    root = tree(signed(pki))
    root.find(f".//{{{DS}}}X509Certificate").text = text
    assert code_of(dump(root), pki.trust("355")) == "signature-profile"


def test_a_base64_signature_value_wrapped_over_lines_still_verifies(pki: Pki) -> None:
    """xmlsec1 and others wrap base64 at 64 columns: whitespace inside a value is allowed."""
    root = tree(signed(pki))
    value = root.find(f".//{{{DS}}}SignatureValue")
    text = "".join(value.text.split())
    value.text = "\n" + "\n".join(text[i:i + 16] for i in range(0, len(text), 16)) + "\n"
    assert check(dump(root), pki.trust("355")).header.sender == "355"  # type: ignore[attr-defined]


_xml_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co")),
                    max_size=40) | st.sampled_from(["", " ", "=", "AAAA", "####"])


@pytest.fixture(scope="module")
def ec_signed(pki: Pki) -> tuple[bytes, TrustStore]:
    return signed(pki), pki.trust("355")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_text_and_attributes_in_the_signature_are_refused_cleanly(
        ec_signed: tuple[bytes, TrustStore], data: st.DataObject) -> None:
    msg, trust = ec_signed
    root = tree(msg)
    els = _sig_elements(root)
    for _ in range(data.draw(st.integers(1, 3))):
        el = data.draw(st.sampled_from(els))
        what = data.draw(st.sampled_from(["text", "attr", "new-attr", "self-close"]))
        value = data.draw(_xml_text)
        if what == "text":
            el.text = value
        elif what == "self-close":
            _self_close(el)
        elif what == "attr" and el.attrib:
            el.set(data.draw(st.sampled_from(sorted(el.attrib))), value)
        else:
            el.set(data.draw(st.sampled_from(["Id", "URI", "Type", "Algorithm",
                                              "PrefixList"])), value)
    assert _refused_cleanly(dump(root), trust) is None


def test_a_malformed_xml_id_anywhere_is_refused_cleanly(pki: Pki) -> None:
    """The safe parse does not collect IDs; signxml's re-parse must not either, or a bad
    xml:id is a crash there."""
    root = tree(signed(pki))
    root[0].set(f"{{{XML_NS}}}id", "1 2")
    assert code_of(dump(root), pki.trust("355")) == "signature-invalid"


@pytest.mark.parametrize("mutate", ["<ds:SignatureValue/>",
                                    "<ds:SignatureValue></ds:SignatureValue>",
                                    "<ds:SignatureValue> \n </ds:SignatureValue>"])
async def test_an_empty_signature_value_over_http_is_a_400_not_a_500(aiohttp_client, tmp_path,
                                                                      mutate: str) -> None:
    a, b = pair(tmp_path)
    signer = dsig.Signer(k.load_private_key(a.path / "keys/gateway.key"),
                         k.load_certificate(a.path / "keys/gateway.pem"))
    data = signer.sign(mx.build(enquiry()))
    start = data.index(b"<ds:SignatureValue>")
    end = data.index(b"</ds:SignatureValue>") + len(b"</ds:SignatureValue>")
    client = await aiohttp_client(create_app(b.settings(), background=False))
    resp = await client.post("/v1/messages", data=data[:start] + mutate.encode() + data[end:])
    assert resp.status == 400
    answer = etree.fromstring(await resp.read())
    assert answer.findtext("{urn:cme-gateway:message:1}Code") == "signature-profile"
