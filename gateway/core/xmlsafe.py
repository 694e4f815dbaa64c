"""Safe XML parsing: no DTDs, no entities, no network, no XInclude, bounded depth and size.

lxml never processes XInclude unless ``xinclude()`` is called, and we never call it. The parser
below refuses to load DTDs or resolve entities or touch the network; we then reject any
document that *declares* a DTD or still contains an entity reference, rather than silently
dropping it, so that the sender learns why.
"""

from __future__ import annotations

import functools
import threading

from lxml import etree

from gateway.core.errors import GatewayError


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers are reusable but not thread-safe."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    return parser


def parse(data: bytes, *, max_depth: int, max_elements: int) -> etree._Element:
    if not data or not data.strip():
        raise GatewayError("body-empty")
    if b"<!DOCTYPE" in data or b"<!doctype" in data:
        raise GatewayError("xml-dtd-forbidden")
    # Namespace declarations are copied onto every canonicalised subtree (the signature's
    # SignedInfo among them): a message needs a handful, so thousands are refused before the
    # parse. Counting the bytes is an upper bound (text may say "xmlns" too).
    if data.count(b"xmlns") > MAX_NAMESPACES:
        raise GatewayError("xml-too-many-namespaces", f"limit {MAX_NAMESPACES}")
    try:
        root = etree.fromstring(data, parser=_thread_parser())
    except etree.XMLSyntaxError as exc:
        # The lxml message names line/column only, never content we would need to hide.
        raise GatewayError("xml-malformed", str(exc.msg)[:200]) from None
    doc = root.getroottree().docinfo
    if doc.internalDTD is not None or doc.externalDTD is not None or doc.doctype:
        raise GatewayError("xml-dtd-forbidden")
    check_shape(root, max_depth=max_depth, max_elements=max_elements, data=data)
    return root


# A message (any type, its signature included) has a few attributes and namespaces; these
# limits leave a wide margin and keep canonicalisation's cost bounded.
MAX_ATTRIBUTES_PER_ELEMENT = 32
MAX_ATTRIBUTES = 2_000
MAX_NAMESPACES = 256


@functools.cache
def _shape_checks(max_depth: int, max_elements: int) -> tuple[etree.XPath, ...]:
    """The shape limits as XPath expressions, compiled once per pair of limits: libxml2
    walks the tree in C (a Python ``iterwalk`` cost tens of microseconds a message).
    Depth counts elements, the root being 1: a path of ``max_depth + 1`` element steps from
    the root finds any element deeper than the limit."""
    return tuple(etree.XPath(f"boolean({x})") for x in (
        "self::*" + "/*" * max_depth,
        f"count(descendant-or-self::*) > {max_elements}",
        f"descendant-or-self::*/@*[{MAX_ATTRIBUTES_PER_ELEMENT + 1}]",
        f"count(descendant-or-self::*/@*) > {MAX_ATTRIBUTES}"))


# Encodings in which every "<" and "=" of the markup is the byte 0x3C or 0x3D.
_BYTE_COUNTABLE = frozenset({"UTF-8", "US-ASCII", "ASCII"})


def check_shape(root: etree._Element, *, max_depth: int, max_elements: int,
                data: bytes | None = None) -> None:
    """Depth, element count and attribute counts within the limits, and no entity
    reference, each found by libxml2 in C.

    With ``data``, the bytes ``root`` was parsed from in UTF-8 or ASCII, counting bytes first
    spares the walks that cannot fail: every element has a start tag and so a "<", and every
    attribute an "=" (no DTD is allowed, so none comes from elsewhere), so a document with at
    most N "<" has at most N elements and a depth of at most N, and one with at most 32 "="
    has no element over either attribute limit."""
    lt = eq = None
    if data is not None and (root.getroottree().docinfo.encoding or "").upper() \
            in _BYTE_COUNTABLE:
        lt, eq = data.count(b"<"), data.count(b"=")
    too_deep, many, per_element, attributes = _shape_checks(max_depth, max_elements)
    if eq is None or eq > MAX_ATTRIBUTES_PER_ELEMENT:
        if per_element(root):
            # C14N sorts attributes at a cost that grows faster than their number
            raise GatewayError("xml-too-many-attributes",
                               f"limit {MAX_ATTRIBUTES_PER_ELEMENT} on one element")
        if attributes(root):
            raise GatewayError("xml-too-many-attributes", f"limit {MAX_ATTRIBUTES} in all")
    if (lt is None or lt > max_depth) and too_deep(root):
        raise GatewayError("xml-too-deep", f"limit {max_depth}")
    if (lt is None or lt > max_elements) and many(root):
        raise GatewayError("xml-too-many-elements", f"limit {max_elements}")
    # An entity-reference node is not an element: looked for directly (lxml filters in C).
    for _ in root.iter(etree.Entity):
        raise GatewayError("xml-entity-forbidden")
