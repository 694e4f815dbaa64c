"""Input for the fuzz targets: mutations of real documents, and XML, JSON and CSV built from
their own small grammars (so that most inputs get past the first check)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Pieces of markup that break documents in the ways parsers get wrong: unterminated
# constructs, entities, namespace prefixes, DTDs, encodings, structure of the CTF.
TOKENS = [
    b"<", b">", b"</", b"/>", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<?x ", b"?>", b"&amp;",
    b"&lt;", b"&#0;", b"&#x10FFFF;", b"&#xD800;", b"&undefined;", b"&", b'"', b"'", b"=",
    b" xmlns:p='urn:x'", b" xmlns=''", b"<p:a/>", b"<q:a/>", b" q:b='1'", b"\x00", b"\xff",
    b"\xc3", b"\xef\xbb\xbf", b"<!DOCTYPE x [<!ENTITY e 'x'>]>", b"<!DOCTYPE x>", b"&e;",
    b"</CTfile>", b"<CTfile>", b"<Pupil>", b"</Pupil>", b"<Header>", b"</Header>",
    b"<CTFpupilData>", b"</CTFpupilData>", b"<Surname>X</Surname>", b"<DOB>2015-01-01</DOB>",
    b"<UPN>A</UPN>", b"<Gender>F</Gender>", b" a='1' b='2'", b"\n", b"\r", b"\t", b" ",
    b"<?xml version='1.0' encoding='latin-1'?>", b"<?xml version='1.1'?>",
    b"<Header><MessageId>x</MessageId></Header>", b"urn:cme-gateway:message:1",
    b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/>", b"O'Brien-Smith",
    b"\xe2\x80\xae", b"\xf0\x9f\x98\x80", b"9" * 40, b"-" * 3,
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], max_ops: int = 6) -> bytes:
    """A seed document with a few random edits: flip, insert, delete, duplicate, truncate,
    or a markup token, at any byte or at a tag boundary."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "truncate", "token",
                                   "token-at-tag", "swap"]))
        n = len(data)
        pos = draw(st.integers(0, n))
        if op == "flip" and n:
            data[min(pos, n - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "dup":
            end = min(n, pos + draw(st.integers(1, 256)))
            data[end:end] = data[pos:end]
        elif op == "truncate":
            del data[pos:]
        elif op == "swap" and n:
            other = draw(st.integers(0, n - 1))
            data[min(pos, n - 1)], data[other] = data[other], data[min(pos, n - 1)]
        elif op in ("token", "token-at-tag"):
            if op == "token-at-tag":
                tags = [i for i in range(n) if data[i] in b"<>"][:4096]
                if tags:
                    pos = draw(st.sampled_from(tags)) + draw(st.integers(0, 1))
            data[pos:pos] = draw(st.sampled_from(TOKENS))
    return bytes(data)


NAMES = st.sampled_from(["a", "b", "Pupil", "Header", "Surname", "DOB", "x:y", "p:a", "CTfile",
                         "Enquiry", "MessageId", "_", "a.b-c", "é"])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


@st.composite
def xml_tree(draw: st.DrawFn, depth: int = 0) -> str:
    """A small, mostly well-formed XML element with odd corners: namespaces, attributes,
    comments, CDATA, PIs, character references, raw text."""
    name = draw(NAMES)
    attrs = "".join(f' {draw(NAMES)}="{_escape(draw(TEXT)).replace(chr(34), "")}"'
                    for _ in range(draw(st.integers(0, 3))))
    if draw(st.booleans()):
        attrs += f' xmlns:{draw(st.sampled_from(["p", "x", "q"]))}="urn:{draw(TEXT)[:5]}"'
    children = []
    if depth < 4:
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["el", "text", "raw", "comment", "cdata", "pi", "ref"]))
            if kind == "el":
                children.append(draw(xml_tree(depth + 1)))
            elif kind == "text":
                children.append(_escape(draw(TEXT)))
            elif kind == "raw":
                children.append(draw(TEXT))
            elif kind == "comment":
                children.append(f"<!--{draw(TEXT)}-->")
            elif kind == "cdata":
                children.append(f"<![CDATA[{draw(TEXT)}]]>")
            elif kind == "pi":
                children.append(f"<?{draw(st.sampled_from(['x', 'xml', 'a-b']))} {draw(TEXT)}?>")
            else:
                children.append(f"&#{draw(st.integers(0, 0x110000))};")
    return f"<{name}{attrs}>{''.join(children)}</{name}>"


def xml_documents() -> st.SearchStrategy[bytes]:
    prolog = st.sampled_from(["", "<?xml version='1.0'?>", "<?xml version='1.0' encoding="
                              "'UTF-16'?>", "<!DOCTYPE a>", "\ufeff", " "])
    return st.builds(lambda p, t: (p + t).encode("utf-8", "surrogatepass"), prolog, xml_tree())


def _json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=30), st.sampled_from([
                         "", "known-on-roll", "not-known", "2015-01-01", "2015-02-30",
                         "V355200116042", "3552001", "S2S", "x" * 600, "\x00", "\ud800"]))


def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(_json_scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
        max_leaves=12)


def json_objects(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    """JSON bodies: near-valid objects with the endpoint's fields (each present or not, each
    of the right type or not), any JSON at all, deep nesting, and broken JSON."""
    def field_value(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(s, json_values())

    near = st.fixed_dictionaries({}, optional={k: field_value(v) for k, v in fields.items()})
    encoded = st.one_of(near, json_values()).map(
        lambda v: json.dumps(v, allow_nan=True).encode("utf-8", "surrogatepass"))
    deep = st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n)
    deep_obj = st.integers(1, 20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
    raw = st.binary(max_size=64)
    return st.one_of(encoded, encoded, encoded, deep, deep_obj, raw,
                     st.builds(lambda b, cut: b[:cut], encoded, st.integers(0, 200)))


HOSTILE_TEXT = st.one_of(
    TEXT, st.sampled_from(["", " ", "x" * 5000, "2015-02-30", "2015-01-01T00:00:00", "-1",
                           "99999999999999999999", "1e309", "NaN", "true", "0", "352", "S2S",
                           "urn:uuid:x", "00000000-0000-0000-0000-000000000000", "\u202e",
                           "O'Brien-Smith' 'Secret", "known-on-roll", "10", "9"]))


@st.composite
def tree_mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed parsed and changed as a tree, so that it stays well-formed (and can be signed):
    texts replaced, elements removed, repeated, renamed, moved or added, attributes added."""
    from lxml import etree

    root = etree.fromstring(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
        el = draw(st.sampled_from(elements))
        op = draw(st.sampled_from(["text", "text", "remove", "repeat", "rename", "attr",
                                   "child", "move", "empty"]))
        try:
            if op == "text":
                el.text = draw(HOSTILE_TEXT)
            elif op == "remove" and el.getparent() is not None:
                el.getparent().remove(el)
            elif op == "repeat" and el.getparent() is not None:
                el.addnext(etree.fromstring(etree.tostring(el)))
            elif op == "rename":
                ns = etree.QName(el).namespace
                local = draw(st.sampled_from(["Header", "MessageId", "Surname", "Child", "X",
                                              "Signature", etree.QName(el).localname]))
                el.tag = f"{{{ns}}}{local}" if ns and draw(st.booleans()) else local
            elif op == "attr":
                el.set(draw(st.sampled_from(["a", "Id", "xmlns_x", "{urn:x}b"])),
                       draw(HOSTILE_TEXT))
            elif op == "child":
                el.append(etree.fromstring(draw(xml_tree(3)).encode()))
            elif op == "move" and el.getparent() is not None:
                target = draw(st.sampled_from(elements))
                if el not in target.iterancestors() and target is not el:
                    target.append(el)
            elif op == "empty":
                for child in list(el):
                    el.remove(child)
        except (ValueError, TypeError, etree.XMLSyntaxError):
            continue  # lxml refused the change (a control character, a bad name)
    return bytes(etree.tostring(root))
