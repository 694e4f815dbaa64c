"""Build and parse: one generic mapping between the dataclasses in ``model`` and XML.

Each dataclass field becomes one child element, in field order, named in CamelCase (with the
acronyms of the domain kept upper case: UPN, DOB, GP, SEN, LAESTAB). Optional fields that are
``None`` are omitted; tuples repeat their item element. Writing one mapper instead of a
hand-written builder and parser per type keeps the two directions from drifting apart; the
XSDs in ``schemas/`` pin the same shapes and the round-trip property test holds them together.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from gateway.messages.model import MODEL_OF, NS, TYPE_OF_TAG, Message

_ACRONYMS = {"upn": "UPN", "dob": "DOB", "gp": "GP", "sen": "SEN", "laestab": "LAESTAB",
             "sha256": "SHA256", "id": "Id", "lea": "LEA", "nhs": "NHS"}


def tag_of(field_name: str) -> str:
    return "".join(_ACRONYMS.get(p, p.capitalize()) for p in field_name.split("_"))


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@functools.cache
def _fields(cls: type) -> list[tuple[str, str, Any, str | None]]:
    """(field name, element tag, resolved type, item tag for tuples) in wire order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        item_tag = f.metadata.get("item")
        out.append((f.name, item_tag or tag_of(f.name), hints[f.name], item_tag))
    return out


def _unwrap_optional(tp: Any) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("datetimes on the wire must be timezone-aware")
    value = value.astimezone(UTC)
    if value.year >= 1000:  # isoformat truncates to the millisecond, as below, and is faster
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


Writer = typing.Callable[[etree._Element, str, Any], None]


@functools.cache
def _value_writer(tp: Any) -> Writer:
    """How to write one value of type ``tp`` as the element ``tag`` under a parent."""
    if dataclasses.is_dataclass(tp):
        fill = _filler(typing.cast(type, tp))

        def write_dataclass(parent: etree._Element, tag: str, value: Any) -> None:
            fill(etree.SubElement(parent, tag), value)
        return write_dataclass

    def write_text(parent: etree._Element, tag: str, value: Any) -> None:
        etree.SubElement(parent, tag).text = _text(value)
    return write_text


@functools.cache
def _filler(cls: type) -> typing.Callable[[etree._Element, Any], None]:
    """The children of a ``cls`` element, in field order: compiled once per class (each field's
    qualified tag and writer), so building a message is a flat loop over its fields."""
    steps: list[tuple[str, str, Writer, bool]] = []
    for name, tag, tp, item_tag in _fields(cls):
        tp = _unwrap_optional(tp)
        if item_tag:
            steps.append((name, q(tag), _value_writer(typing.get_args(tp)[0]), True))
        else:
            steps.append((name, q(tag), _value_writer(tp), False))

    def fill(el: etree._Element, obj: Any) -> None:
        for name, tag, write, many in steps:
            value = getattr(obj, name)
            if value is None:
                continue
            if many:
                for v in value:
                    write(el, tag, v)
            else:
                write(el, tag, value)
    return fill


def _fill(el: etree._Element, obj: Any) -> None:
    _filler(typing.cast(Any, type(obj)))(el, obj)


def build(message: Message) -> etree._Element:
    """The unsigned XML element for ``message``."""
    root = etree.Element(q(message.header.message_type.value), nsmap={None: NS})
    _fill(root, message)
    return root


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _bool(text: str) -> bool:
    return text in ("true", "1")


XSD_SPACE = " \t\r\n"  # XML's whitespace characters (not Python's wider set)
# An xs:date may carry a time zone ("2014-01-01Z", "2014-01-01+01:00", as JAXB writes it);
# a date of birth or a letter's date is the calendar day written, so the zone is dropped.
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")


def _date(text: str) -> date:
    found = _DATE.fullmatch(text)
    if found is None:
        raise ValueError("not an xs:date")
    return date.fromisoformat(found.group(1))


def _converter(tp: Any) -> typing.Callable[[str], Any]:
    """The function from an element's text to a value of ``tp``.

    Every XSD type but xs:string collapses the whitespace around a value (XSD 1.0 part 2,
    4.3.6 whiteSpace), so the schema accepts "<LookedAfter> true </LookedAfter>" or an
    indented date; the value is read from the text without it (a boolean read from the
    untrimmed text was False). Strings are read as written."""
    if tp is str:
        return str
    convert: typing.Callable[[str], Any]
    if tp is bool:
        convert = _bool
    elif tp is datetime:
        convert = _datetime
    elif tp is date:
        convert = _date
    elif isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        convert = lambda text: tp(int(text))  # noqa: E731
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        convert = tp
    elif tp is int:
        convert = int
    elif tp is float:
        convert = float
    else:
        raise TypeError(f"no XML mapping for {tp!r}")
    return lambda text: convert(text.strip(XSD_SPACE))



def _scalar(tp: Any, text: str) -> Any:
    return _converter(tp)(text)


def leaf_text(el: etree._Element) -> str:
    """An element's whole text. ``.text`` stops at the first comment or processing
    instruction (``Smi<!---->th`` would read "Smi"); comments are not covered by exclusive
    C14N, so a comment added after signing must not change what is read."""
    if len(el) == 0:
        return el.text or ""
    return "".join(el.itertext())


Reader = typing.Callable[[etree._Element], Any]


@functools.cache
def _reader(cls: Any) -> Reader:
    """How to read an element as a ``cls``: compiled once per class. A dataclass reads its
    children through a table from qualified tag to (field, reader, repeated); anything not in
    the table (comments, processing instructions, elements of other namespaces, which the
    XSD forbids) is passed over. A leaf converts its whole text."""
    if not dataclasses.is_dataclass(cls):
        convert = _converter(cls)

        def read_leaf(el: etree._Element) -> Any:
            return convert((el.text or "") if len(el) == 0 else "".join(el.itertext()))
        return read_leaf
    table: dict[str, tuple[str, Reader, bool]] = {}
    for name, tag, tp, item_tag in _fields(typing.cast(Any, cls)):
        tp = _unwrap_optional(tp)
        table[q(tag)] = (name, _reader(typing.get_args(tp)[0] if item_tag else tp),
                         bool(item_tag))
    make = typing.cast(type, cls)
    repeated = [name for name, _, many in table.values() if many]

    def read(el: etree._Element) -> Any:
        values: dict[str, Any] = {}
        for child in el:
            entry = table.get(child.tag)  # a comment's or PI's tag is a function: not found
            if entry is None:
                continue
            name, read_child, many = entry
            if many:
                values.setdefault(name, []).append(read_child(child))
            else:
                values[name] = read_child(child)
        for name in repeated:
            if name in values:
                values[name] = tuple(values[name])
        return make(**values)
    return read


def _read(el: etree._Element, cls: type) -> Any:
    return _reader(cls)(el)


def parse(root: etree._Element) -> Message:
    """The model for an XML message element (signature, if any, is ignored).

    Call this only on XML that has passed schema validation, so every required element is
    present and every value has its type; anything else is an internal error.
    """
    mtype = TYPE_OF_TAG.get(root.tag)
    if mtype is None:
        raise GatewayError("unknown-message-type", f"root element {etree.QName(root).localname}")
    cls = MODEL_OF[mtype]
    try:
        message: Message = _read(root, cls)
    except (TypeError, ValueError) as exc:
        raise GatewayError("schema-invalid", f"{type(exc).__name__}") from None
    if message.header.message_type != mtype:
        raise GatewayError("schema-invalid", "header type does not match the root element")
    return message


def parse_stored(body: bytes) -> Message:
    """The model of a message this gateway stored after verifying it (exact bytes received).
    Values are read whole (``leaf_text``), so what was verified is what is read."""
    return parse(etree.fromstring(xmlsafe.as_utf8(body), xmlsafe.thread_parser()))
