"""Read and check a CTF as a stream: bounded memory and CPU whatever the file holds.

The file is fed to lxml's pull parser in chunks. libxml2 validates against
``schemas/ctf.xsd`` while it parses (it streams the validation, and reports what it found at
the end), and reports only ``CTfile``, ``Header``, ``CTFpupilData`` and ``Pupil`` elements
(the filtering happens in C), so the many small elements of a pupil's data sections cost no
Python. Each pupil is summarised at its end tag and then cleared, with the elements before it
deleted, so at most one pupil's tree is in memory.

What a file may hold is bounded, because the data sections accept any content: elements per
pupil and per file, attributes per element and per file (namespace declarations count as
attributes), and, before the parser sees a byte, the attributes one start tag can hold (see
``_Scan``). Between chunks what is new in memory is counted in C (XPath ``count``), so no
pupil outgrows its limits by more than one chunk. At most ``max_concurrent`` checks run at
once in a process; a further check waits for a slot.

Well-formedness: with a schema attached *and* ``resolve_entities=False``, lxml 6.1 loses
libxml2's own errors (they never reach its error log, and its tolerance of undefined
entities then passes a document cut off inside a comment, or using an undeclared namespace
prefix, as well-formed). So the parser resolves predefined entities only (lxml's
``'internal'``, which can do nothing here: the byte scan refuses any ``<!DOCTYPE`` before
the parser sees it, so no entity can ever be declared), and the parse must still reach the
root's end tag (docs/ctf-limits.md).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.core.xmlsafe import DECLARED_ENCODING, NoLoads
from gateway.ctf.identifiers import destination_kind, upn_flags
from gateway.messages.schemas import SCHEMA_DIR
from gateway.messages.xml import leaf_text

HEAD_BYTES = 4096
CHUNK = 1 << 16
_TAGS = ("CTfile", "Header", "CTFpupilData", "Pupil")
XS = "{http://www.w3.org/2001/XMLSchema}"


@dataclass(frozen=True)
class CtfSchool:
    lea: str
    estab: str
    urn: str | None = None
    name: str | None = None

    @property
    def laestab(self) -> str:
        return self.lea + self.estab


@dataclass(frozen=True)
class PupilInfo:
    index: int
    surname: str
    forename: str
    dob: date
    upn: str | None = None
    former_upn: str | None = None
    sex: str | None = None
    postcode: str | None = None
    flags: tuple[str, ...] = ()


@dataclass
class CtfInfo:
    version: str
    source: CtfSchool
    dest: CtfSchool
    destination: str  # school | la | lost | out-of-sector
    created: str
    pupils: list[PupilInfo] = field(default_factory=list)

    @property
    def flagged(self) -> list[PupilInfo]:
        return [p for p in self.pupils if p.flags]


@dataclass(frozen=True)
class CtfLimits:
    """What one CTF may hold (the settings ``max_ctf_*``; docs/ctf-limits.md)."""

    pupils: int
    pupil_elements: int = 20_000
    elements: int = 3_000_000
    attributes_per_element: int = 16
    attributes: int = 200_000

    @property
    def attributes_per_tag(self) -> int:
        """Attribute assignments one start tag may hold before the parser sees it: a coarse,
        early bound (an ``=`` in text after a tag counts too), far above the exact one."""
        return max(1000, 16 * self.attributes_per_element)


@functools.cache
def ctf_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "ctf.xsd"), parser=parser))


@functools.cache
def schema_names() -> frozenset[str]:
    """Every element name the CTF schema defines: the only names an error detail shows."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    doc = etree.parse(str(SCHEMA_DIR / "ctf.xsd"), parser=parser)
    return frozenset(str(el.get("name")) for el in doc.iter(f"{XS}element") if el.get("name"))


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find(path)
    if found is None:
        return None
    text = leaf_text(found).strip()
    return text or None


def _school(header: etree._Element, tag: str) -> CtfSchool:
    el = header.find(tag)
    assert el is not None  # _header checked
    return CtfSchool(lea=_text(el, "LEA") or "", estab=_text(el, "Estab") or "",
                     urn=_text(el, "URN"), name=_text(el, "SchoolName"))


_POSTCODE_PATHS = ("Address/BS7666Address/PostCode", "Address/PostCode", "Address/Postcode",
                   "Address/AddressLines/PostCode")
# Each identity field as the reader reads it, with every path it may be read from: a pupil
# may hold each at most once (two surnames or dates of birth: which one is the child's?).
IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "UPN": ("UPN",), "FormerUPN": ("BasicDetails/FormerUPN",), "Surname": ("Surname",),
    "Forename": ("Forename",), "DOB": ("DOB",), "Sex/Gender": ("Sex", "Gender"),
    "PostCode": _POSTCODE_PATHS,
}


def _check_once(el: etree._Element, index: int) -> None:
    for name, paths in IDENTITY_FIELDS.items():
        n = sum(len(el.findall(p)) for p in paths)
        if n > 1:
            raise GatewayError("ctf-pupil-duplicate-field", f"pupil {index} has {n} {name} "
                               f"elements")


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?")


def _pupil(el: etree._Element, index: int) -> PupilInfo:
    _check_once(el, index)
    surname, forename, dob = _text(el, "Surname"), _text(el, "Forename"), _text(el, "DOB")
    if not (surname and forename and dob):
        raise GatewayError("ctf-pupil-incomplete", f"pupil {index} lacks Surname, Forename or DOB")
    upn = _text(el, "UPN")
    former = _text(el, "BasicDetails/FormerUPN")
    flags: list[str] = []
    if upn:
        flags += upn_flags(upn, "UPN")
    if former:
        flags += upn_flags(former, "FormerUPN")
    postcode = next((p for p in (_text(el, path) for path in _POSTCODE_PATHS) if p), None)
    try:  # libxml2 reports schema errors only at the end of the stream: never trust values
        if not _DATE.fullmatch(dob):  # (the schema's Date; checked here to name the pupil)
            raise ValueError
        born = date.fromisoformat(dob[:10])
    except ValueError:
        raise GatewayError("ctf-schema-invalid",
                           f"pupil {index}: DOB is not a date (YYYY-MM-DD)") from None
    return PupilInfo(index=index, surname=surname, forename=forename,
                     dob=born, upn=upn, former_upn=former,
                     sex=_text(el, "Sex") or _text(el, "Gender"), postcode=postcode,
                     flags=tuple(flags))


def _check_head(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise GatewayError("body-empty", "the CTF file is empty")
    if b"<!DOCTYPE" in head or b"<!doctype" in head:
        raise GatewayError("xml-dtd-forbidden")
    # A CTF is UTF-8 (DfE's files declare it). In another encoding the byte scans below
    # (DOCTYPE, attributes) would read other bytes than the parser: refused, as the parser
    # is told the file is UTF-8 whatever it declares.
    declared = DECLARED_ENCODING.match(head[:1024].decode("latin-1"))
    other = declared is not None and declared.group(1).lower() not in (
        "utf-8", "utf8", "us-ascii", "ascii")
    if other:
        assert declared is not None
        raise GatewayError("ctf-encoding-unsupported", f"declared {declared.group(1)[:20]!r}")
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or b"\x00" in head:
        raise GatewayError("ctf-encoding-unsupported",
                           "a UTF-16 or UTF-32 byte order mark, or NUL bytes")


def _parser() -> etree.XMLPullParser:
    # Start and end events for the four structural elements only (each Header and Pupil is
    # checked to stand where the structure says, so that nothing hidden inside a data section
    # can pose as the header or a pupil), and every namespace declaration (counted).
    parser = etree.XMLPullParser(
        events=("start", "end", "start-ns"), tag=_TAGS, schema=ctf_schema(),
        encoding="utf-8", resolve_entities="internal", no_network=True, load_dtd=False,
        huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False)
    # No external load at all: libxml2 opens an external DTD subset's file even with
    # load_dtd=False (security review s3); the byte scan refuses a DOCTYPE first.
    parser.resolvers.add(NoLoads())
    return parser


class _Scan:
    """Looks at the bytes before the parser does. libxml2 reads a start tag whole before it
    makes the element, so a single tag of millions of attributes would be in memory (about
    500 bytes each) before any count could see it. An attribute value cannot hold a literal
    ``<``, so every attribute of a tag has its ``=`` between the tag's ``<`` and the next one:
    more ``=`` than that in such a run refuses the file early. The common case costs one
    ``bytes.count`` per chunk. A ``<!DOCTYPE`` anywhere is refused here too, so that the
    parser never sees one (even inside a comment: no CTF needs the word there)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.run = 0  # "=" since the last "<"
        self.offset = 0
        self.tail = b""  # the end of the last chunk: a DOCTYPE may straddle two

    def _refuse(self) -> GatewayError:
        return GatewayError("ctf-too-many-attributes",
                            f"more than {self.limit} attributes in one start tag (near byte "
                            f"{self.offset})")

    def feed(self, chunk: bytes) -> None:
        if b"<!DOCTYPE" in self.tail + chunk[:16] or b"<!DOCTYPE" in chunk:
            raise GatewayError("xml-dtd-forbidden", f"near byte {self.offset}")
        self.tail = chunk[-16:]
        first = chunk.find(b"<")
        if first < 0:
            self.run += chunk.count(b"=")
        else:
            self.run += chunk.count(b"=", 0, first)
            if self.run > self.limit:
                raise self._refuse()
            last = chunk.rfind(b"<")
            if chunk.count(b"=", first, last) > self.limit:  # only then run by run
                if any(s.count(b"=") > self.limit for s in chunk[first:last].split(b"<")):
                    raise self._refuse()
            self.run = chunk.count(b"=", last)
        self.offset += len(chunk)
        if self.run > self.limit:
            raise self._refuse()


_CROWDED = "boolean(descendant-or-self::*[count(@*) > $n])"
# From the open pupil's last counted element: what came after it (all of it in that pupil).
_NEW_ELEMENTS = "count(descendant::*) + count(following::*)"
_NEW_ATTRIBUTES = "count(descendant::*/@*) + count(following::*/@*)"
# Everything but the pupils: the root, the header, CTFpupilData and anything misplaced.
_OUTSIDE = ("/CTfile/*[not(self::CTFpupilData)]/descendant-or-self::*"
            " | /CTfile/CTFpupilData/*[not(self::Pupil)]/descendant-or-self::*"
            " | /CTfile | /CTfile/CTFpupilData")
_OUTSIDE_ELEMENTS = f"count({_OUTSIDE})"
_OUTSIDE_ATTRIBUTES = f"count(({_OUTSIDE})/@*)"


def _count(el: etree._Element, expr: str) -> int:
    return int(el.xpath(expr))  # type: ignore[arg-type]


class _Reader:
    """The state of one streaming read."""

    def __init__(self, versions: Sequence[str], limits: CtfLimits) -> None:
        self.versions, self.limits = versions, limits
        self.root: etree._Element | None = None
        self.header: etree._Element | None = None
        self.info: CtfInfo | None = None
        self.pupil: etree._Element | None = None
        self.count = 0
        self.ended = False  # the root's end tag was parsed
        self.elements = 0  # in pupils done (and deleted)
        self.attributes = 0  # in pupils done, and every namespace declaration
        # the open pupil, as far as counted: its last element then, what it held up to there
        self.cursor: etree._Element | None = None
        self.p_elements = self.p_attributes = 0

    def events(self, events: Iterable[tuple[str, Any]]) -> None:
        for event, el in events:
            if event == "start":
                self.start(el)
            elif event == "end":
                if el is self.pupil:
                    self._pupil_done(el)
                elif el is self.root:
                    self.ended = True
            else:  # start-ns
                self.attributes += 1

    def start(self, el: etree._Element) -> None:
        tag = el.tag
        if self.root is None:
            if tag != "CTfile" or el.getparent() is not None:
                raise GatewayError("ctf-schema-invalid", "the root must be CTfile")
            if el.getroottree().docinfo.doctype:
                raise GatewayError("xml-dtd-forbidden")
            self.root = el
            return
        parent = el.getparent()
        if tag == "Header" and parent is self.root and self.header is None:
            self.header = el
        elif tag == "CTFpupilData" and parent is self.root:
            self._header_done()
        elif (tag == "Pupil" and parent is not None and parent.tag == "CTFpupilData"
              and parent.getparent() is self.root and self.pupil is None):
            self.pupil = el
            self.count += 1
            if self.count > self.limits.pupils:
                raise GatewayError("ctf-too-many-pupils", f"limit {self.limits.pupils}")
            assert self.info is not None
            if self.count > 1 and self.info.destination in ("lost", "out-of-sector"):
                raise GatewayError("ctf-lost-multiple-pupils")
        else:
            raise GatewayError("ctf-schema-invalid",
                               f"a {tag} element stands where it may not (inside "
                               f"{parent.tag if parent is not None else 'nothing'})")

    def check_memory(self) -> None:
        """Between chunks: what is in memory now, and what the file held so far. Every count
        is in C and touches only what is new or small: the open pupil from where the last
        count stopped (nothing in an open pupil is deleted, and nothing follows it yet), and
        what stands outside the pupils (the header and anything misplaced) without entering
        the pupils. Counting the whole tree each time would cost its size per chunk: with
        200,000 attributes in one pupil, 16 s of CPU for a 64 MB file."""
        if self.root is None:
            return
        lim = self.limits
        if self.pupil is not None:
            if self.cursor is None:
                self.p_elements = _count(self.pupil, "count(descendant-or-self::*)")
                self.p_attributes = _count(self.pupil, "count(descendant-or-self::*/@*)")
            else:
                self.p_elements += _count(self.cursor, _NEW_ELEMENTS)
                self.p_attributes += _count(self.cursor, _NEW_ATTRIBUTES)
            last = self.pupil
            while len(last):
                last = last[-1]
            self.cursor = last
            if self.p_elements > lim.pupil_elements:
                raise GatewayError("ctf-too-many-elements", f"pupil {self.count} has more "
                                   f"than {lim.pupil_elements} elements")
        outside = _count(self.root, _OUTSIDE_ELEMENTS)
        if outside > lim.pupil_elements:
            where = "the header" if self.info is None else "the file outside its pupils"
            raise GatewayError("ctf-too-many-elements",
                               f"{where} has more than {lim.pupil_elements} elements")
        self._check_totals(self.elements + self.p_elements + outside,
                           self.attributes + self.p_attributes +
                           _count(self.root, _OUTSIDE_ATTRIBUTES))

    def _check_totals(self, elements: int, attributes: int) -> None:
        lim = self.limits
        if elements > lim.elements:
            raise GatewayError("ctf-file-too-many-elements",
                               f"more than {lim.elements} elements")
        if attributes > lim.attributes:
            raise GatewayError("ctf-too-many-attributes",
                               f"more than {lim.attributes} attributes and namespace "
                               f"declarations in the file")

    def _check_subtree(self, el: etree._Element, where: str, attributes: int) -> None:
        n = self.limits.attributes_per_element
        if attributes > n and el.xpath(_CROWDED, n=n):
            raise GatewayError("ctf-too-many-attributes",
                               f"an element in {where} has more than {n} attributes")

    def _header_done(self) -> None:
        if self.info is None:
            if self.header is None:
                raise GatewayError("ctf-schema-invalid", "the CTF has no Header before its "
                                   "pupils")
            self._check_subtree(self.header, "the header", _count(
                self.header, "count(descendant-or-self::*/@*)"))
            self.info = _header(self.header, self.versions)

    def _pupil_done(self, el: etree._Element) -> None:
        lim = self.limits
        n = _count(el, "count(descendant-or-self::*)")
        if n > lim.pupil_elements:
            raise GatewayError("ctf-too-many-elements",
                               f"pupil {self.count} has more than {lim.pupil_elements} elements")
        attributes = _count(el, "count(descendant-or-self::*/@*)")
        self.elements += n
        self.attributes += attributes
        self._check_totals(self.elements, self.attributes)
        self._check_subtree(el, f"pupil {self.count}", attributes)
        assert self.info is not None
        self.info.pupils.append(_pupil(el, self.count))
        el.clear(keep_tail=False)
        while el.getprevious() is not None:
            del el.getparent()[0]  # type: ignore[union-attr]
        self.pupil, self.cursor, self.p_elements, self.p_attributes = None, None, 0, 0

    def finish(self) -> CtfInfo:
        if self.root is None:
            raise GatewayError("xml-malformed", "the CTF has no root element")
        if not self.ended:
            raise GatewayError("xml-malformed", "the CTF ends before </CTfile>")
        self._header_done()
        assert self.info is not None
        return self.info


_TYPE_NAMES = {v: k for k, v in vars(etree.ErrorTypes).items()
               if isinstance(v, int) and not k.startswith("_")}
_ELEMENT = re.compile(r"Element '([A-Za-z_][\w.-]{0,63})'")


def error_detail(exc: etree.XMLSyntaxError, offset: int) -> tuple[str, str]:
    """The code and a detail for a parse that failed: libxml2's error type and, for a schema
    error, the element only when it is one the CTF schema defines. Never libxml2's text:
    it quotes values (a child's name) in ways no redaction can be trusted to catch, and a
    streamed validation has no line or path to give instead (a parse error has its line).
    The exception's error log is not used either: it can hold an earlier document's
    errors."""
    type_name = _TYPE_NAMES.get(exc.code, "ERR_UNKNOWN")
    if type_name.startswith("SCHEMAV_"):
        named = _ELEMENT.match(exc.msg or "")
        name = named.group(1) if named else None
        where = name if name in schema_names() else "an element the CTF schema does not define"
        return "ctf-schema-invalid", f"{type_name} at {where}"
    where = f"line {exc.lineno}" if exc.lineno else f"in the {CHUNK // 1024} KiB before " \
        f"byte {offset}"
    return "xml-malformed", f"{type_name} at {where}"


class _Slots:
    """At most ``limit`` checks at once in this process; the others wait their turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.busy = 0

    @contextmanager
    def hold(self, limit: int) -> Iterator[None]:
        with self._cond:
            while self.busy >= max(1, limit):
                self._cond.wait()
            self.busy += 1
        try:
            yield
        finally:
            with self._cond:
                self.busy -= 1
                self._cond.notify_all()


SLOTS = _Slots()


def read_ctf(path: Path, *, versions: Sequence[str], max_pupils: int,
             max_elements: int = 20_000, max_total_elements: int = 3_000_000,
             max_attributes_per_element: int = 16, max_attributes: int = 200_000,
             max_concurrent: int = 2) -> CtfInfo:
    """Check a CTF file and summarise it; GatewayError with a ``ctf-*`` code otherwise.
    ``max_elements`` bounds each pupil (and the header): a real pupil has about a thousand.
    ``max_total_elements``, ``max_attributes_per_element`` and ``max_attributes`` bound the
    file; at most ``max_concurrent`` checks run at once in this process (a thread waits)."""
    limits = CtfLimits(max_pupils, max_elements, max_total_elements,
                       max_attributes_per_element, max_attributes)
    with SLOTS.hold(max_concurrent):
        return _read(path, versions, limits)


def _read(path: Path, versions: Sequence[str], limits: CtfLimits) -> CtfInfo:
    _check_head(path)
    reader = _Reader(versions, limits)
    scan = _Scan(limits.attributes_per_tag)
    parser = _parser()
    try:
        # The file is ours to close, whatever stops the loop.
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                scan.feed(chunk)
                parser.feed(chunk)
                reader.events(parser.read_events())
                reader.check_memory()
        parser.close()  # where libxml2 reports what the schema found
        reader.events(parser.read_events())
    except etree.XMLSyntaxError as exc:
        code, detail = error_detail(exc, scan.offset)
        if code == "ctf-schema-invalid" and reader.root is not None and not reader.ended:
            # cut off: the schema's complaint (an element left incomplete) is its consequence
            code, detail = "xml-malformed", "the CTF ends before </CTfile>"
        raise GatewayError(code, detail) from None
    info = reader.finish()
    if not info.pupils:
        raise GatewayError("ctf-no-pupils")
    return info


REQUIRED_HEADER = ("DocumentName", "CTFversion", "DateTime", "DocumentQualifier", "SupplierID",
                   "SourceSchool", "DestSchool")


def _header(el: etree._Element, versions: Sequence[str]) -> CtfInfo:
    # libxml2 reports schema errors at the end of the stream; the header is used before that,
    # so what it must hold is checked here too.
    missing = [t for t in REQUIRED_HEADER if el.find(t) is None]
    missing += [f"{t}/{c}" for t in ("SourceSchool", "DestSchool") if el.find(t) is not None
                for c in ("LEA", "Estab") if el.find(f"{t}/{c}") is None]
    if missing:
        raise GatewayError("ctf-schema-invalid", f"Header lacks {', '.join(missing)}")
    version = _text(el, "CTFversion") or ""
    if version not in versions:
        raise GatewayError("ctf-version-unsupported",
                           f"CTF version {version[:20]!r}; this gateway accepts "
                           f"{' and '.join(versions)}")
    created = _text(el, "DateTime") or ""
    try:  # the schema checks the shape only (see its Date types); the calendar is checked here
        datetime.fromisoformat(created)
    except ValueError:
        raise GatewayError("ctf-schema-invalid", "Header DateTime is not a date and time "
                           "(YYYY-MM-DDThh:mm:ss)") from None
    source, dest = _school(el, "SourceSchool"), _school(el, "DestSchool")
    try:
        kind = destination_kind(dest.lea, dest.estab)
    except ValueError as exc:
        raise GatewayError("ctf-bad-identifier", f"DestSchool {exc}") from None
    if destination_kind_or_none(source) != "school":
        raise GatewayError("ctf-bad-identifier",
                           f"SourceSchool {source.lea}/{source.estab} is not an LA code (3 "
                           f"digits) and establishment number (4 digits)")
    return CtfInfo(version=version, source=source, dest=dest, destination=kind,
                   created=created)


def destination_kind_or_none(school: CtfSchool) -> str | None:
    try:
        return destination_kind(school.lea, school.estab)
    except ValueError:
        return None
