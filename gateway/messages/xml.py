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
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.messages.model import MODEL_OF, NS, Message, MessageType

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


def _append(parent: etree._Element, tag: str, tp: Any, value: Any) -> None:
    if dataclasses.is_dataclass(tp):
        el = etree.SubElement(parent, q(tag))
        _fill(el, value)
    else:
        etree.SubElement(parent, q(tag)).text = _text(value)


def _fill(el: etree._Element, obj: Any) -> None:
    for name, tag, tp, item_tag in _fields(typing.cast(type, type(obj))):
        value = getattr(obj, name)
        if value is None:
            continue
        tp = _unwrap_optional(tp)
        if item_tag:
            (item_tp,) = typing.get_args(tp)[:1]
            for v in value:
                _append(el, tag, item_tp, v)
        else:
            _append(el, tag, tp, value)


def build(message: Message) -> etree._Element:
    """The unsigned XML element for ``message``."""
    root = etree.Element(q(message.header.message_type.value), nsmap={None: NS})
    _fill(root, message)
    return root


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def _scalar(tp: Any, text: str) -> Any:
    if tp is str:
        return text
    if tp is bool:
        return text in ("true", "1")
    if tp is datetime:
        return datetime.fromisoformat(text).astimezone(UTC)
    if tp is date:
        return date.fromisoformat(text)
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        return tp(int(text))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(text)
    if tp is int:
        return int(text)
    if tp is float:
        return float(text)
    raise TypeError(f"no XML mapping for {tp!r}")


@functools.cache
def _spec(cls: type) -> dict[str, tuple[str, Any, str | None]]:
    """Element tag -> (field name, element type, item tag): how to read ``cls``."""
    spec = {}
    for name, tag, tp, item_tag in _fields(cls):
        tp = _unwrap_optional(tp)
        spec[tag] = (name, typing.get_args(tp)[0] if item_tag else tp, item_tag)
    return spec


def leaf_text(el: etree._Element) -> str:
    """An element's whole text. ``.text`` stops at the first comment or processing
    instruction (``Smi<!---->th`` would read "Smi"); comments are not covered by exclusive
    C14N, so a comment added after signing must not change what is read."""
    if len(el) == 0:
        return el.text or ""
    return "".join(el.itertext())


def _read(el: etree._Element, cls: type) -> Any:
    if not dataclasses.is_dataclass(cls):
        return _scalar(cls, leaf_text(el))
    spec = _spec(cls)
    values: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for child in el:
        if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{NS}}}"):
            continue  # comments, PIs and foreign elements (the XSD forbids the latter)
        local = child.tag[len(NS) + 2:]
        if local not in spec:
            continue
        name, tp, item_tag = spec[local]
        if item_tag:
            lists.setdefault(name, []).append(_read(child, tp))
        else:
            values[name] = _read(child, tp)
    for name, items in lists.items():
        values[name] = tuple(items)
    return cls(**values)


def parse(root: etree._Element) -> Message:
    """The model for an XML message element (signature, if any, is ignored).

    Call this only on XML that has passed schema validation, so every required element is
    present and every value has its type; anything else is an internal error.
    """
    local = etree.QName(root).localname
    if etree.QName(root).namespace != NS or local not in MessageType.__members__.values():
        raise GatewayError("unknown-message-type", f"root element {local}")
    cls = MODEL_OF[MessageType(local)]
    try:
        message: Message = _read(root, cls)
    except (TypeError, ValueError) as exc:
        raise GatewayError("schema-invalid", f"{type(exc).__name__}") from None
    if message.header.message_type.value != local:
        raise GatewayError("schema-invalid", "header type does not match the root element")
    return message


def parse_stored(body: bytes) -> Message:
    """The model of a message this gateway stored after verifying it (exact bytes received).
    Values are read whole (``leaf_text``), so what was verified is what is read."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return parse(etree.fromstring(body, parser))
