"""The signed content is made from the verified tree (one parse per message) rather than by
re-reading the canonical bytes: ``dsig.signed_content`` argues why the two hold the same
values; these tests hold it to that, on random messages with comments, processing
instructions, CDATA, whitespace and namespace declarations added where the signature does not
cover them, and check the two premises of the argument (no QName values in the schemas; an
``xsi:type`` goes the old way)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.crypto import dsig
from gateway.messages import schemas
from gateway.messages import xml as mx
from tests.conftest import Pki, enquiry
from tests.test_dsig_differential import SETTINGS, TEXT, messages


def _reread(data: bytes) -> etree._Element:
    """The signed content as it was made before: the canonical bytes, parsed again."""
    root = xmlsafe.parse(data, max_depth=48, max_elements=20000)
    sig = root.find(f"{{{dsig.DS}}}Signature")
    assert sig is not None
    canonical = dsig._enveloped_c14n(root, sig, [])
    return etree.fromstring(canonical, dsig._safe_parser())


def _values(el: etree._Element) -> object:
    """Everything a reader of the tree can see, prefixes and namespace declarations aside:
    names by namespace URI, attributes, text, tails, and processing instructions."""
    if isinstance(el, etree._ProcessingInstruction):
        return ("pi", el.target, el.text, el.tail)
    return (el.tag, sorted(el.attrib.items()), el.text, [_values(k) for k in el],
            el.tail if el.getparent() is not None else None)


def _outcome(el: etree._Element) -> object:
    try:
        schemas.validate(el)
        return mx.parse(el)
    except GatewayError as exc:
        return exc.code


def _with_unsigned_changes(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` with changes the signature does not cover: comments anywhere in the root
    (inside text too), and a namespace declaration no name uses on the root."""
    root = etree.fromstring(data)
    # not inside the signature, nor after it (the profile refuses both)
    places = [el for el in root.iter() if isinstance(el.tag, str)
              and not el.tag.startswith(f"{{{dsig.DS}}}")]
    for _ in range(draw(st.integers(0, 4))):
        el = draw(st.sampled_from(places))
        words = draw(TEXT).replace("--", "").strip("-") or "c"
        if el.text and len(el.text) > 1 and draw(st.booleans()):
            cut = draw(st.integers(1, len(el.text) - 1))
            head, rest = el.text[:cut], el.text[cut:]
            el.text = head
            comment = etree.Comment(words)
            comment.tail = rest
            el.insert(0, comment)
        else:
            last = len(el) - 1 if el is root else len(el)
            el.insert(draw(st.integers(0, last)), etree.Comment(words))
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if draw(st.booleans()):
        out = re.sub(rb"(<[A-Za-z][^>?!]*?)(/?>)", rb'\1 xmlns:unsigned="urn:x:unsigned"\2',
                     out, count=1)
    return out


@SETTINGS
@given(messages(), st.data())
def test_the_tree_holds_what_the_canonical_bytes_hold(pki: Pki, root: etree._Element,
                                                      data: st.DataObject) -> None:
    signed = pki.parties["355"].signer.sign(root)
    sent = _with_unsigned_changes(signed, data.draw)
    verified = dsig.verify(xmlsafe.parse(sent, max_depth=48, max_elements=20000), sent,
                           pki.trust("355"))
    again = _reread(sent)
    assert _values(verified.signed) == _values(again)
    assert _outcome(verified.signed) == _outcome(again)
    assert not list(verified.signed.iter(etree.Comment))
    assert verified.signed.find(f".//{{{dsig.DS}}}Signature") is None


def test_a_comment_inside_a_value_is_read_across(pki: Pki) -> None:
    signed = pki.parties["355"].signer.sign(mx.build(enquiry()))
    sent = signed.replace(b"<Surname>Testchild</Surname>",
                          b"<Surname>Test<!--Smith-->child</Surname>")
    assert sent != signed
    root = xmlsafe.parse(sent, max_depth=48, max_elements=20000)
    verified = dsig.verify(root, sent, pki.trust("355"))
    assert verified.signed is root  # one parse: the verified tree itself
    message = mx.parse(verified.signed)
    assert message.children[0].surname == "Testchild"  # type: ignore[attr-defined]


def test_an_xsi_type_is_read_from_the_canonical_bytes(pki: Pki) -> None:
    """xsi:type="u:T" where u is declared only on the root, where no name uses it: exclusive
    C14N leaves the declaration out, so it is unsigned and must not resolve the QName."""
    el = mx.build(enquiry())
    el.find(f"{{{mx.NS}}}Officer").set(f"{{{dsig.XSI}}}type", "u:T")  # type: ignore[union-attr]
    signed = pki.parties["355"].signer.sign(el)
    sent = signed.replace(b"<Enquiry ", b'<Enquiry xmlns:u="urn:x:unsigned" ', 1)
    assert sent != signed
    root = xmlsafe.parse(sent, max_depth=48, max_elements=20000)
    verified = dsig.verify(root, sent, pki.trust("355"))
    assert verified.signed is not root
    assert "u" not in verified.signed.nsmap
    assert _values(verified.signed) == _values(_reread(sent))


def test_the_schemas_hold_no_qname_values() -> None:
    """The argument of ``signed_content`` rests on this: a schema type whose value is a
    QName would be resolved through namespace declarations the signature may not cover."""
    found = []
    for xsd in sorted(schemas.SCHEMA_DIR.glob("*.xsd")):
        text = xsd.read_text(encoding="utf-8")
        found += [xsd.name for word in ("QName", "NOTATION") if word in text]
    assert schemas.SCHEMA_DIR.glob("*.xsd") and not found, found
