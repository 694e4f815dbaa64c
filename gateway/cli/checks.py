"""Checks the commands make on their arguments and files before they act.

Numbers are checked by argparse (``type=``): out of range is a usage error, exit 2. Files,
folders and ids are checked by the command before it changes anything: a ``GatewayError``
that ``main`` prints as ``REJECTED <code>: <sentence>``, exit 1. No check repeats a file's
content or a child's data; the file is named as the user wrote it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import stat
from collections.abc import Callable
from pathlib import Path

from gateway.core.errors import GatewayError
from gateway.core.parties import check_laestab, check_party


def whole_number(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``lo`` to ``hi``."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = lo - 1
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {lo} to {hi}, not {text[:20]!r}")
        return n

    parse.__name__ = "whole number"  # argparse names the type in some messages
    return parse


port = whole_number(1, 65535)
limit = whole_number(1, 10_000)


def _stat(text: str, what: str) -> os.stat_result | None:
    try:
        return Path(text).stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GatewayError("file-error", f"{what} {text}: {exc.strerror}") from None


def readable_file(text: str, what: str) -> Path:
    """``text`` as a regular file this user can read."""
    st = _stat(text, what)
    if st is None:
        raise GatewayError("file-error", f"{what} {text}: no such file")
    if stat.S_ISDIR(st.st_mode):
        raise GatewayError("file-error", f"{what} {text} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise GatewayError("file-error", f"{what} {text} is not a regular file")
    if not os.access(text, os.R_OK):
        raise GatewayError("file-error", f"{what} {text}: this user may not read it")
    return Path(text)


def readable_folder(text: str, what: str) -> Path:
    st = _stat(text, what)
    if st is None:
        raise GatewayError("file-error", f"{what} {text}: no such folder")
    if not stat.S_ISDIR(st.st_mode):
        raise GatewayError("file-error", f"{what} {text} is a file, not a folder")
    return Path(text)


def writable_folder(text: str, what: str) -> Path:
    """``text`` as a folder that exists, or can be made, and that this user can write in."""
    path = Path(text)
    probe = path
    while True:
        st = _stat(str(probe), what)
        if st is not None:
            break
        if probe.parent == probe:
            raise GatewayError("file-error", f"{what} {text}: no such folder")
        probe = probe.parent
    if not stat.S_ISDIR(st.st_mode):
        part = "" if probe == path else f" ({probe} is a file)"
        raise GatewayError("file-error", f"{what} {text} is not a folder{part}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GatewayError("file-error", f"{what} {text}: this user may not write in {probe}")
    return path


def writable_file(text: str, what: str) -> Path:
    """``text`` as a file to write: its folder exists, and it is not itself a folder."""
    path = Path(text)
    st = _stat(text, what)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise GatewayError("file-error", f"{what} {text} is a folder, not a file")
    parent = path.parent
    pst = _stat(str(parent), what)
    if pst is None or not stat.S_ISDIR(pst.st_mode):
        raise GatewayError("file-error", f"{what} {text}: its folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GatewayError("file-error", f"{what} {text}: this user may not write in {parent}")
    return path


def party(text: str, what: str) -> str:
    """A party id (``bad-party`` naming the expected forms otherwise)."""
    return check_party(text, what)


def laestab(text: str, what: str) -> str:
    """A LAESTAB, ``3812001`` or ``381/2001`` (``bad-party`` otherwise)."""
    return check_laestab(text, what)


def reason(text: str, what: str = "--reason") -> str:
    """Why an LPD search or claim is made (the hub audits it, and refuses an empty one)."""
    if not text.strip():
        raise GatewayError("lpd-reason-required", f"{what} is empty")
    return text


def date(text: str, what: str) -> dt.date:
    """An ISO date. The value is never repeated: it may be a child's date of birth."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise GatewayError("bad-request", f"{what} must be a date written YYYY-MM-DD, "
                           f"e.g. 2015-03-14") from None
