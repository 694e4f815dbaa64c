"""Safe XML parsing: no DTDs, no entities, no network, no XInclude, bounded depth and size.

lxml never processes XInclude unless ``xinclude()`` is called, and we never call it. The parser
below refuses to load DTDs or resolve entities or touch the network; we then reject any
document that *declares* a DTD or still contains an entity reference, rather than silently
dropping it, so that the sender learns why.
"""

from __future__ import annotations

import functools
import re
import threading

from lxml import etree

from gateway.core.errors import GatewayError


class NoLoads(etree.Resolver):
    """Every external load (a DTD, an external entity, a file, a URL) resolves to nothing.

    ``load_dtd=False`` and ``resolve_entities=False`` do not stop libxml2 from opening the
    file a parameter entity in an internal subset names (``%x;``): only the DTD ban before
    the parse does, and this is the defence behind it.
    """

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        return self.resolve_string("", context)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        # The document is in UTF-8 by now (``as_utf8``): libxml2 is told so, and ignores any
        # declaration or byte pattern that would make it switch (a declaration of UTF-7
        # past the first 256 bytes, a UTF-16 pattern left by a mislabelled document).
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )
    parser.resolvers.add(NoLoads())
    return parser


DECLARED_ENCODING = re.compile(
    r"""\A\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# Encodings read by decoding: the XML names (lower case) and Python's codec for each.
_READABLE: dict[str, str] = {
    **{n: n for n in ("utf-16", "utf-32")},
    **{f"utf-{b}{e}": f"utf-{b}-{e}" for b in (16, 32) for e in ("le", "be")},
    **{f"iso-8859-{i}": f"iso8859-{i}" for i in (*range(1, 12), *range(13, 17))},
    **{f"windows-{i}": f"cp{i}" for i in range(1250, 1259)},
    "latin1": "latin-1", "latin-1": "latin-1", "utf-8": "utf-8", "utf8": "utf-8",
    "us-ascii": "ascii", "ascii": "ascii"}
# The first bytes of "<" or "<?" in UTF-32 and UTF-16 without a byte-order mark.
_NO_BOM = ((b"\x00\x00\x00<", "utf-32be"), (b"<\x00\x00\x00", "utf-32le"),
           (b"\x00<", "utf-16be"), (b"<\x00", "utf-16le"))


def as_utf8(data: bytes) -> bytes:
    """The document in UTF-8, with its declaration saying so.

    Every check made on the bytes before the parse (no DOCTYPE, the namespace count, the
    shape limits' byte counts) reads UTF-8: in UTF-16 "<!DOCTYPE" is other bytes, and
    libxml2 would open the file a parameter entity names. So a document in UTF-16 or
    UTF-32 (with or without a byte-order mark) or declaring another encoding is decoded
    here and encoded again in UTF-8 (a signature covers the canonical form, which is UTF-8
    whatever the input); one that does not then begin with "<" (EBCDIC, say) is refused.
    """
    enc = None
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        enc = "utf-32"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    elif not data.startswith(b"\xef\xbb\xbf"):
        enc = next((e for head, e in _NO_BOM if data.startswith(head)), None)
        if enc is None:
            m = DECLARED_ENCODING.match(data[:256].decode("latin-1"))
            if m and m.group(1).lower() not in _UTF8_NAMES:
                enc = m.group(1)
    if enc is not None:
        try:
            # A fixed table, not codecs.lookup: a name from the document must never make
            # Python look for (import) a codec, nor reach a text codec ("unicode_escape").
            name = _READABLE[enc.lower().replace("_", "-")]
            text = data.decode(name).lstrip("\ufeff")
            m = DECLARED_ENCODING.match(text)
            if m:
                text = text[:m.start(1)] + "UTF-8" + text[m.end(1):]
            data = text.encode("utf-8")
        except (KeyError, UnicodeError):
            raise GatewayError("xml-malformed", "the document is not in an encoding this "
                               "gateway reads: send it in UTF-8") from None
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise GatewayError("xml-malformed", "a document begins with '<' in UTF-8, UTF-16 or "
                           "UTF-32")
    if b"\x00" in data:  # never in XML; a sign of a document in another encoding
        raise GatewayError("xml-malformed", "a NUL byte: send the document in UTF-8")
    return data


_local = threading.local()


def thread_parser() -> etree.XMLParser:
    """This module's parser (no DTD, entity, network or any external load), one per thread:
    lxml parsers are reusable but not thread-safe."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    return parser


def parse(data: bytes, *, max_depth: int, max_elements: int) -> etree._Element:
    if not data or not data.strip():
        raise GatewayError("body-empty")
    data = as_utf8(data)
    if b"<!DOCTYPE" in data or b"<!doctype" in data:
        raise GatewayError("xml-dtd-forbidden")
    # Namespace declarations are copied onto every canonicalised subtree (the signature's
    # SignedInfo among them): a message needs a handful, so thousands are refused before the
    # parse. Counting the bytes is an upper bound (text may say "xmlns" too).
    if data.count(b"xmlns") > MAX_NAMESPACES:
        _count_namespaces(data)
    try:
        root = etree.fromstring(data, parser=thread_parser())
    except etree.XMLSyntaxError as exc:
        # The lxml message names line/column only, never content we would need to hide.
        raise GatewayError("xml-malformed", str(exc.msg)[:200]) from None
    doc = root.getroottree().docinfo
    if doc.internalDTD is not None or doc.externalDTD is not None or doc.doctype:
        raise GatewayError("xml-dtd-forbidden")
    check_shape(root, max_depth=max_depth, max_elements=max_elements, data=data)
    return root


_DECLARATION = re.compile(rb"xmlns(?::([^\s=/>]{1,200}))?\s*=")


def _count_namespaces(data: bytes) -> None:
    """Refuse a document with too many namespace declarations; called only when the bytes
    say "xmlns" more than ``MAX_NAMESPACES`` times. What costs is the number of distinct
    prefixes (each element's in-scope set, which canonicalisation walks, holds at most one
    declaration per prefix): at most ``MAX_NAMESPACES``. Some serialisers repeat a
    declaration on every element (``xmlns="urn:..."`` on each child): one per start tag
    beyond that is allowed, which the element limit bounds."""
    found = _DECLARATION.findall(data)
    if len(set(found)) > MAX_NAMESPACES or len(found) > MAX_NAMESPACES + data.count(b"<"):
        raise GatewayError("xml-too-many-namespaces", f"limit {MAX_NAMESPACES} prefixes, "
                           f"or one declaration per element beyond that")


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
