"""Security review s3 (of the encoding fix of s2): documents that libxml2 would read in
another encoding than the byte checks did, and the CTF reader's external DTD subset. Each
input names a FIFO, which blocks whoever opens it: a test that hangs (caught by the
subprocess timeout) means a file was opened."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError
from tests.conftest import ROOT


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def utf7_all(text: str) -> bytes:
    """Every character base64-encoded in UTF-7: no '<' byte anywhere."""
    return b"+" + base64.b64encode(text.encode("utf-16-be")).rstrip(b"=") + b"-"


def cases(fifo: str) -> dict[str, bytes]:
    body = f'<!DOCTYPE r [<!ENTITY % x SYSTEM "{fifo}"> %x;]><r/>'
    decl = '<?xml version="1.0"' + " " * 300 + 'encoding="{}"?>'
    return {
        "declaration past 256 bytes, UTF-7": decl.format("UTF-7").encode() + utf7_all(body),
        "declaration past 256 bytes, IBM037": decl.format("IBM037").encode()
        + body.encode("cp037"),
        "declaration past 256 bytes, UTF-16LE": decl.format("UTF-16LE").encode()
        + body.encode("utf-16-le"),
        "UTF-8 BOM, UTF-7 declared": b"\xef\xbb\xbf"
        + b'<?xml version="1.0" encoding="UTF-7"?>' + utf7_all(body),
        "UTF-16 BOM, UTF-32LE text": b"\xff\xfe"
        + ("<?xml version='1.0'?>" + body).encode("utf-32-le"),
    }


def run_isolated(code: str, timeout: float = 30) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_no_encoding_trick_reaches_a_doctype_or_a_file(fifo: str) -> None:
    for name, data in cases(fifo).items():
        code = (f"from gateway.core import xmlsafe\nfrom gateway.core.errors import "
                f"GatewayError\ntry:\n    xmlsafe.parse({data!r}, max_depth=20, "
                f"max_elements=100)\n    print('accepted')\nexcept GatewayError as e:\n"
                f"    print(e.code)\n")
        got = run_isolated(code)  # a hang (the FIFO opened) fails on the timeout
        assert got in ("xml-malformed", "xml-dtd-forbidden"), (name, got)


def test_the_libxml2_parse_sees_utf8_only() -> None:
    # After as_utf8 the parser is told UTF-8: a UTF-16 pattern left in the output (a
    # UTF-16 byte-order mark before UTF-32 text) is refused, NUL being no XML character.
    with pytest.raises(GatewayError) as e:
        xmlsafe.parse(b"\xff\xfe" + "<?xml version='1.0'?><r/>".encode("utf-32-le"),
                      max_depth=20, max_elements=100)
    assert e.value.code == "xml-malformed"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_ctf_with_an_external_dtd_subset_opens_nothing(
        fifo: str, tmp_path: Path, encoding: str) -> None:
    ctf = tmp_path / "ctf.xml"
    ctf.write_bytes(f'<!DOCTYPE CTfile SYSTEM "{fifo}"><CTfile/>'.encode(encoding))
    code = ("from pathlib import Path\nfrom gateway.ctf.reader import read_ctf\n"
            "from gateway.core.errors import GatewayError\ntry:\n"
            f"    read_ctf(Path({str(ctf)!r}), versions=['20.0'], max_pupils=10)\n"
            "    print('accepted')\nexcept GatewayError as e:\n    print(e.code)\n")
    assert run_isolated(code) in ("xml-malformed", "xml-dtd-forbidden",
                                  "ctf-encoding-unsupported")


def test_a_utf8_ctf_with_a_declaration_of_another_encoding_is_refused(tmp_path: Path) -> None:
    from gateway.ctf.reader import read_ctf

    ctf = tmp_path / "ctf.xml"
    ctf.write_bytes(b'<?xml version="1.0" encoding="UTF-7"?><CTfile/>')
    with pytest.raises(GatewayError) as e:
        read_ctf(ctf, versions=["20.0"], max_pupils=10)
    assert e.value.code == "ctf-encoding-unsupported" and "UTF-7" in (e.value.detail or "")
