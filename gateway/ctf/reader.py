"""Read and check a CTF as a stream: bounded memory whatever the file's size.

lxml's ``iterparse`` validates against ``schemas/ctf.xsd`` while it parses (libxml2 streams
the validation), yields only ``Header`` and ``Pupil`` elements (the filtering happens in C), and
each pupil is summarised and then cleared, with the elements before it deleted, so at most one
pupil's tree is in memory. The summary per pupil is small: identifiers, postcode, flags.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.ctf.identifiers import destination_kind, upn_flags
from gateway.messages.schemas import SCHEMA_DIR, _redact
from gateway.messages.xml import leaf_text

HEAD_BYTES = 4096


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


@functools.cache
def ctf_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "ctf.xsd"), parser=parser))


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


def _pupil(el: etree._Element, index: int) -> PupilInfo:
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
    try:  # libxml2 may report a schema error only later in the stream: never trust values
        born = date.fromisoformat(dob[:10])
    except ValueError:
        raise GatewayError("ctf-schema-invalid", f"pupil {index}: DOB is not a date") from None
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


def _events(source: BinaryIO) -> Iterator[tuple[str, etree._Element]]:
    # Start events for every element: each is counted (a pupil's data sections accept any
    # content, so without a count one pupil could hold millions of elements and gigabytes of
    # tree), and each Header and Pupil is checked to stand where the structure says, so that
    # nothing hidden inside a data section can pose as the header or a pupil.
    return etree.iterparse(  # type: ignore[no-any-return]
        source, events=("start",), schema=ctf_schema(), resolve_entities=False,
        no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)


def _ends_with_root(path: Path) -> bool:
    """With a schema attached, libxml2 can stop at a truncated file without an error, so the
    file must end with the root's end tag (whitespace may follow)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 256))
        return fh.read().rstrip().endswith(b"</CTfile>")


class _Reader:
    """The state of one streaming read. A pupil is complete when the next starts (or the file
    ends); the header when CTFpupilData starts."""

    def __init__(self, versions: Sequence[str], max_pupils: int, max_elements: int) -> None:
        self.versions, self.max_pupils, self.max_elements = versions, max_pupils, max_elements
        self.root: etree._Element | None = None
        self.header: etree._Element | None = None
        self.info: CtfInfo | None = None
        self.pupil: etree._Element | None = None
        self.count = 0
        self.elements = 0

    def start(self, el: etree._Element) -> None:
        self.elements += 1
        if self.elements > self.max_elements:
            where = f"pupil {self.count}" if self.pupil is not None else "the header"
            raise GatewayError("ctf-too-many-elements",
                               f"{where} has more than {self.max_elements} elements")
        tag = el.tag
        if self.root is None:
            if tag != "CTfile":
                raise GatewayError("ctf-schema-invalid", "the root must be CTfile")
            if el.getroottree().docinfo.doctype:
                raise GatewayError("xml-dtd-forbidden")
            self.root = el
            return
        if tag not in ("Header", "Pupil", "CTFpupilData", "CTfile"):
            return
        parent = el.getparent()
        if tag == "Header" and parent is self.root and self.header is None:
            self.header = el
        elif tag == "CTFpupilData" and parent is self.root:
            self._header_done()
        elif (tag == "Pupil" and parent is not None and parent.tag == "CTFpupilData"
              and parent.getparent() is self.root):
            self._pupil_done()
            self.pupil = el
            self.count += 1
            self.elements = 1
            if self.count > self.max_pupils:
                raise GatewayError("ctf-too-many-pupils", f"limit {self.max_pupils}")
            assert self.info is not None
            if self.count > 1 and self.info.destination in ("lost", "out-of-sector"):
                raise GatewayError("ctf-lost-multiple-pupils")
        else:
            raise GatewayError("ctf-schema-invalid",
                               f"a {tag} element stands where it may not (inside "
                               f"{parent.tag if parent is not None else 'nothing'})")

    def _header_done(self) -> None:
        if self.info is None:
            if self.header is None:
                raise GatewayError("ctf-schema-invalid", "the CTF has no Header before its "
                                   "pupils")
            self.info = _header(self.header, self.versions)

    def _pupil_done(self) -> None:
        el = self.pupil
        if el is None:
            return
        assert self.info is not None
        self.info.pupils.append(_pupil(el, self.count))
        el.clear(keep_tail=False)
        while el.getprevious() is not None:
            del el.getparent()[0]
        self.pupil = None

    def finish(self) -> CtfInfo:
        self._header_done()
        self._pupil_done()
        assert self.info is not None
        return self.info


def read_ctf(path: Path, *, versions: Sequence[str], max_pupils: int,
             max_elements: int = 20_000) -> CtfInfo:
    """Check a CTF file and summarise it; GatewayError with a ``ctf-*`` code otherwise.
    ``max_elements`` bounds each pupil (and the header): a real pupil has about a thousand."""
    _check_head(path)
    reader = _Reader(versions, max_pupils, max_elements)
    try:
        # The file is ours to close: iterparse leaves one it opened itself open when the
        # loop stops early (every rejection), which would leak a descriptor per bad CTF.
        with open(path, "rb") as fh:
            for _, el in _events(fh):
                reader.start(el)
        if reader.root is None:
            raise GatewayError("xml-malformed", "the CTF has no root element")
        if not _ends_with_root(path):
            raise GatewayError("xml-malformed", "the CTF ends before </CTfile>")
        info = reader.finish()
    except etree.XMLSyntaxError as exc:
        code = "ctf-schema-invalid" if "Schemas validity" in str(exc) or "Element" in str(
            exc) else "xml-malformed"
        raise GatewayError(code, _redact(str(exc))[:300]) from None
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
                   created=_text(el, "DateTime") or "")


def destination_kind_or_none(school: CtfSchool) -> str | None:
    try:
        return destination_kind(school.lea, school.estab)
    except ValueError:
        return None


