"""Every check made on the bytes before the parse reads UTF-8: a document in another
encoding is read in UTF-8 first (security review s2), or refused with a clear error."""

from __future__ import annotations

import pytest

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return xmlsafe.parse(data, max_depth=20, max_elements=100)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                   "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_are_read_and_their_doctype_refused(codec: str) -> None:
    doc = '<?xml version="1.0" encoding="{}"?><r a="é">ü</r>'
    name = codec.upper().replace("-LE", "LE").replace("-BE", "BE")
    assert parse(doc.format(name).encode(codec)).text == "ü"
    dtd = ('<?xml version="1.0" encoding="{}"?>'
           '<!DOCTYPE r [<!ENTITY % x SYSTEM "file:///dev/zero"> %x;]><r/>')
    with pytest.raises(GatewayError) as e:
        parse(dtd.format(name).encode(codec))
    assert e.value.code == "xml-dtd-forbidden"


def test_a_declared_single_byte_encoding_is_read() -> None:
    assert parse('<?xml version="1.0" encoding="ISO-8859-1"?><r>é</r>'.encode("latin-1")
                 ).text == "é"


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0" encoding="unicode_escape"?><r>\\ud800</r>',  # a Python text codec
    b'<?xml version="1.0" encoding="utf-7"?><r>+2AA-</r>',  # a lone surrogate
    b'<?xml version="1.0" encoding="no-such-codec"?><r/>',
    b"<?xml version='1.0' encoding='UeF-8'?><r/>",  # (found by fuzzing: no codec look-up)
    b"\x4c\x6f\xa7\x94\x93\x40",  # EBCDIC "<?xml "
    b"\xff\xfe\x00\xd8",  # UTF-16 with a lone surrogate
])
def test_other_encodings_are_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(GatewayError) as e:
        parse(data)
    assert e.value.code in ("xml-malformed", "body-empty")


def test_the_namespace_limit_holds_in_utf16() -> None:
    decls = " ".join(f'xmlns:p{i}="urn:{i}"' for i in range(xmlsafe.MAX_NAMESPACES + 1))
    with pytest.raises(GatewayError) as e:
        parse(f'<?xml version="1.0" encoding="UTF-16"?><r {decls}/>'.encode("utf-16"))
    assert e.value.code == "xml-too-many-namespaces"
