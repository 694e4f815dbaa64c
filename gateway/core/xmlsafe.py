"""Safe XML parsing: no DTDs, no entities, no network, no XInclude, bounded depth and size.

lxml never processes XInclude unless ``xinclude()`` is called, and we never call it. The parser
below refuses to load DTDs or resolve entities or touch the network; we then reject any
document that *declares* a DTD or still contains an entity reference, rather than silently
dropping it, so that the sender learns why.
"""

from __future__ import annotations

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
    check_shape(root, max_depth=max_depth, max_elements=max_elements)
    return root


# A message (any type, its signature included) has a few attributes and namespaces; these
# limits leave a wide margin and keep canonicalisation's cost bounded.
MAX_ATTRIBUTES_PER_ELEMENT = 32
MAX_ATTRIBUTES = 2_000
MAX_NAMESPACES = 256


def check_shape(root: etree._Element, *, max_depth: int, max_elements: int) -> None:
    depth = 0
    count = 0
    total = 0
    for event, node in etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            if isinstance(node, etree._Entity):
                raise GatewayError("xml-entity-forbidden")
            depth += 1
            count += 1
            attributes = len(node.attrib)
            if attributes > MAX_ATTRIBUTES_PER_ELEMENT:
                # C14N sorts attributes at a cost that grows faster than their number
                raise GatewayError("xml-too-many-attributes",
                                   f"limit {MAX_ATTRIBUTES_PER_ELEMENT} on one element")
            total += attributes
            if total > MAX_ATTRIBUTES:
                raise GatewayError("xml-too-many-attributes", f"limit {MAX_ATTRIBUTES} in all")
            if depth > max_depth:
                raise GatewayError("xml-too-deep", f"limit {max_depth}")
            if count > max_elements:
                raise GatewayError("xml-too-many-elements", f"limit {max_elements}")
        else:
            depth -= 1
    # iterwalk does not visit entity-reference nodes; look for them directly.
    for _ in root.iter(etree.Entity):
        raise GatewayError("xml-entity-forbidden")
