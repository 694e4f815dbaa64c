"""The shape limits of the safe parse (depth, elements, attributes), now checked by libxml2 in
C and spared by byte counts where they cannot fail: each limit still refuses at one past it,
in UTF-8 and in UTF-16 (where the byte counts do not apply), and the checks agree with a plain
Python walk over random trees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError

LIMITS = {"max_depth": 6, "max_elements": 40}


def code(data: bytes, **limits: int) -> str | None:
    try:
        xmlsafe.parse(data, **{**LIMITS, **limits})
    except GatewayError as exc:
        return exc.code
    return None


def utf16(text: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16")


def nested(depth: int) -> str:
    return "<a>" * depth + "</a>" * depth


def attrs(n: int, start: int = 0) -> str:
    return " ".join(f'a{i}="v"' for i in range(start, start + n))


@pytest.mark.parametrize("enc", [str.encode, utf16])
def test_each_limit_refuses_one_past_it_and_takes_it(enc) -> None:  # type: ignore[no-untyped-def]
    assert code(enc(nested(6))) is None
    assert code(enc(nested(7))) == "xml-too-deep"
    assert code(enc("<r>" + "<e/>" * 39 + "</r>")) is None
    assert code(enc("<r>" + "<e/>" * 40 + "</r>")) == "xml-too-many-elements"
    per = xmlsafe.MAX_ATTRIBUTES_PER_ELEMENT
    assert code(enc(f"<r {attrs(per)}/>")) is None
    assert code(enc(f"<r {attrs(per + 1)}/>")) == "xml-too-many-attributes"
    # the total over the document: 63 elements of 32 attributes = 2,016 > 2,000
    one = f"<e {attrs(per)}/>"
    assert code(enc(f"<r>{one * 63}</r>"), max_elements=100) == "xml-too-many-attributes"
    assert code(enc(f"<r>{one * 62}</r>"), max_elements=100) is None


def test_namespace_declarations_and_text_only_raise_the_byte_counts() -> None:
    """An '=' or '<' in text, CDATA or a namespace declaration makes the byte count larger,
    never smaller, so the walks then simply run."""
    text = "=" * 100 + "&lt;" * 100
    data = f'<r xmlns="urn:x" xmlns:p="urn:p"><![CDATA[<<<===]]>{text}<e/></r>'.encode()
    assert code(data) is None
    assert code(f"<r>{'=' * 50}<e {attrs(33)}/></r>".encode()) == "xml-too-many-attributes"


def _reference(root: etree._Element, max_depth: int, max_elements: int) -> str | None:
    """The plain Python walk the checks replaced: which limits the tree breaks."""
    broken = set()
    count = total = 0

    def walk(el: etree._Element, depth: int) -> None:
        nonlocal count, total
        count += 1
        total += len(el.attrib)
        if depth > max_depth:
            broken.add("xml-too-deep")
        if len(el.attrib) > xmlsafe.MAX_ATTRIBUTES_PER_ELEMENT:
            broken.add("xml-too-many-attributes")
        for kid in el.iterchildren(tag=etree.Element):
            walk(kid, depth + 1)
    walk(root, 1)
    if count > max_elements:
        broken.add("xml-too-many-elements")
    if total > xmlsafe.MAX_ATTRIBUTES:
        broken.add("xml-too-many-attributes")
    return ",".join(sorted(broken)) or None


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> str:
    n_attrs = draw(st.integers(0, 40))
    kids = draw(st.lists(trees(depth + 1), max_size=3)) if depth < 9 else []
    text = draw(st.sampled_from(["", "=", "<!-- = < -->", "x", "<?pi a=b?>"]))
    return f"<e {attrs(n_attrs)}>{text}{''.join(kids)}</e>"


@settings(max_examples=150, deadline=None)
@given(trees(), st.integers(1, 10), st.integers(1, 60), st.booleans())
def test_the_checks_agree_with_a_python_walk(tree: str, max_depth: int, max_elements: int,
                                             wide: bool) -> None:
    data = utf16(tree) if wide else tree.encode()
    root = etree.fromstring(xmlsafe.as_utf8(data), xmlsafe._parser())  # (the parser reads UTF-8)
    expected = _reference(root, max_depth, max_elements)
    got = code(data, max_depth=max_depth, max_elements=max_elements)
    if expected is None:
        assert got is None
    else:
        assert got in expected.split(","), (got, expected)
