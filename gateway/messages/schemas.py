"""XSD validation of messages, with each schema loaded once per process.

lxml's XMLSchema (libxml2) is used rather than the pure-Python ``xmlschema`` package because it
validates a message in microseconds, which matters on the inbound hot path.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from lxml import etree
from stdnum.gb import nhs

from gateway.core.errors import GatewayError
from gateway.messages.model import NS, TYPE_OF_TAG, MessageType


def _package_folder(name: str) -> Path:
    """A folder shipped inside the package (``pip install .`` puts it in site-packages).
    The XSDs include each other by relative path, so they are read from the file system;
    an install that keeps the package in a zip file is not supported."""
    folder = resources.files("gateway.messages").joinpath(name)
    if not isinstance(folder, Path):
        raise RuntimeError(f"gateway.messages/{name} is not on the file system; install the "
                           f"package unzipped")
    return folder


# The XSDs are package data; schemas/ at the top of the repository is the published copy
# (tests/test_packaging.py checks the two are identical).
SCHEMA_DIR = _package_folder("xsd")
EXAMPLES_DIR = _package_folder("examples")
SCHEMA_FILE = {t: f"{t.value.lower()}.xsd" for t in MessageType}
SCHEMA_FILE[MessageType.CTF_NOTICE] = "ctf-notice.xsd"
SCHEMA_FILE[MessageType.LPD_SEARCH] = "lpd-search.xsd"
SCHEMA_FILE[MessageType.LPD_RESULT] = "lpd-result.xsd"
SCHEMA_FILE[MessageType.LPD_CLAIM] = "lpd-claim.xsd"
SCHEMA_FILE[MessageType.CLAIM_NOTICE] = "claim-notice.xsd"
SCHEMA_FILE[MessageType.REGISTER_TRANSFER] = "register-transfer.xsd"
SCHEMA_FILE[MessageType.TRAVELLER_MOVE] = "traveller-move.xsd"
SCHEMA_FILE[MessageType.SCHOOL_NOTICE] = "school-notice.xsd"


@functools.cache
def schema_for(message_type: MessageType) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    doc = etree.parse(str(SCHEMA_DIR / SCHEMA_FILE[message_type]), parser=parser)
    return etree.XMLSchema(doc)


def message_type_of(root: etree._Element) -> MessageType:
    mtype = TYPE_OF_TAG.get(root.tag)
    if mtype is None:
        raise GatewayError("unknown-message-type", f"root element {etree.QName(root).localname}")
    return mtype


def validate(root: etree._Element) -> MessageType:
    """Validate ``root`` against the schema of its type; return the type."""
    mtype = message_type_of(root)
    schema = schema_for(mtype)
    if not schema.validate(root):
        detail = error_detail(schema.error_log.last_error)
        if mtype is MessageType.SCHOOL_NOTICE and _unknown_ground(schema.error_log):
            detail = f"{UNKNOWN_GROUND} [{detail}]"
        raise GatewayError("schema-invalid", detail)
    check_identifiers(root)
    return mtype


def check_identifiers(root: etree._Element) -> None:
    """What a pattern cannot check: an NHS number's modulus-11 check digit (python-stdnum).
    The consistent child identifier (Children Act 2004 s.16LC) must be right or absent: a
    wrong one would decide a match, or forbid one. The error names where, never the value."""
    for el in root.iter(f"{{{NS}}}NHSNumber"):
        # the whole text, as the schema and the model read it (``.text`` stops at a comment
        # or processing instruction), without the whitespace the schema collapses
        if not nhs.is_valid("".join(el.itertext()).strip(" \t\r\n")):
            raise GatewayError("nhs-number-invalid", f"at {root.getroottree().getpath(el)}")


def error_detail(err: etree._LogEntry | None) -> str | None:
    """Where a document broke its schema and which rule: the line, libxml2's error type
    (e.g. ``SCHEMAV_ELEMENT_CONTENT``) and the element's path. Built from the structured
    error, never from libxml2's message text, which quotes values (a child's name) in ways
    no redaction can be trusted to catch."""
    if err is None:
        return None
    # The element's name, when libxml2's message starts with it: an XML name cannot hold a
    # quote, so nothing after the name (where values are quoted) can be read into it.
    named = _ELEMENT.match(err.message or "")
    where = f"{named.group(1)} ({err.path})" if named else str(err.path)
    return f"line {err.line}: {err.type_name} at {where}"[:300]


# School-notice schema version of this gateway (the xs:schema version attribute of
# school-notice.xsd; the header's SchemaVersion stays 1.0, see docs/school-notices.md
# "Compatibility"). 1.1 added the deletion grounds boarding-charges-unpaid (9(1)(m)) and
# left-independent-school (9(1)(n)).
SCHOOL_NOTICE_SCHEMA = "1.1"
UNKNOWN_GROUND = (f"the deletion Ground is not a code this gateway knows (it holds school-notice "
                  f"schema {SCHOOL_NOTICE_SCHEMA}; codes are only ever added, so the school's "
                  "gateway is newer than this LA's: the LA upgrades its gateway, then the "
                  "school sends the return again)")


def _unknown_ground(log: etree._ListErrorLog) -> bool:
    """A deletion ground outside this gateway's closed list (a newer school gateway's code)."""
    return any(e.type_name == "SCHEMAV_CVC_ENUMERATION_VALID"
               and re.match(r"Element '(?:\{[^}']*\})?Ground'", e.message or "") for e in log)


_ELEMENT = re.compile(r"Element '(?:\{[^}']*\})?([A-Za-z_][\w.-]{0,63})'")
