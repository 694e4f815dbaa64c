"""xmlsafe.parse refuses a DTD by looking for the bytes b"<!DOCTYPE" before parsing, and only
checks docinfo after the parse. In UTF-16 (or UTF-32) those bytes are never present, so
libxml2 parses the DTD; even with load_dtd=False / resolve_entities=False / no_network=True it
opens local files named by an external parameter entity (or an external DTD subset).
``file:///dev/zero`` never ends: 100 % CPU, flat memory, forever. verify_and_parse runs on the
event loop (exchange/inbound.py:133, hub/transfers.py check_envelope), before any signature
check: one unauthenticated 200-byte POST /v1/messages freezes a worker for good. A readable
file also answers xml-malformed where a missing one answers xml-dtd-forbidden (an oracle)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from gateway.core import xmlsafe
from gateway.core.errors import GatewayError

HEAD = '<?xml version="1.0" encoding="UTF-16"?>'


def _doc(path: str) -> bytes:
    return (HEAD + f'<!DOCTYPE r [<!ENTITY % x SYSTEM "file://{path}"> %x;]><r/>').encode("utf-16")


def _code(data: bytes) -> str:
    try:
        xmlsafe.parse(data, max_depth=48, max_elements=20000)
    except GatewayError as exc:
        return exc.code
    return "accepted"


def test_utf16_doctype_naming_dev_zero_is_refused_promptly() -> None:
    script = textwrap.dedent(f"""
        from gateway.core import xmlsafe
        from gateway.core.errors import GatewayError
        try:
            xmlsafe.parse({_doc('/dev/zero')!r}, max_depth=48, max_elements=20000)
        except GatewayError as exc:
            print(exc.code)
    """)
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("xmlsafe.parse still reading /dev/zero after 10 s") from None
    assert out.stdout.strip() == "xml-dtd-forbidden"


def test_utf16_doctype_is_refused_before_any_file_is_read(tmp_path) -> None:
    present = tmp_path / "present.txt"
    present.write_text("not a DTD\n")
    # same answer whether or not the file exists, and it is the DTD refusal
    assert _code(_doc(str(present))) == "xml-dtd-forbidden"
    assert _code(_doc(str(tmp_path / "absent.txt"))) == "xml-dtd-forbidden"


def test_utf16_external_subset_is_refused() -> None:
    data = (HEAD + '<!DOCTYPE r SYSTEM "file:///dev/zero"><r/>').encode("utf-16")
    script = ("from gateway.core import xmlsafe\nfrom gateway.core.errors import GatewayError\n"
              f"try:\n xmlsafe.parse({data!r}, max_depth=48, max_elements=20000)\n"
              "except GatewayError as e:\n print(e.code)\n")
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("external DTD subset /dev/zero read for over 10 s") from None
    assert out.stdout.strip() == "xml-dtd-forbidden"


def test_a_served_gateway_still_answers_after_one_utf16_doctype_post(tmp_path, procs) -> None:
    """End to end: a real `cme-gateway serve` (uvloop), one unauthenticated POST, then
    /healthz must still answer. Today the event loop spins in libxml2 for good."""
    import threading
    import urllib.request

    from tests.conftest import make_home

    home = make_home(tmp_path, "352")
    proc = procs(home)

    def post() -> None:
        req = urllib.request.Request(home.url + "/v1/messages", data=_doc("/dev/zero"),
                                     headers={"Content-Type": "application/xml"})
        try:
            urllib.request.urlopen(req, timeout=30).read()
        except OSError:
            pass

    threading.Thread(target=post, daemon=True).start()
    import time
    time.sleep(1.0)
    try:
        with urllib.request.urlopen(home.url + "/healthz", timeout=5) as r:
            assert r.status in (200, 503)
    except OSError as exc:
        proc.kill()  # the worker would otherwise spin at 100 % CPU until killed
        raise AssertionError(f"/healthz not answered after the attack: {exc}") from None
