"""Logging an unexpected failure without personal data.

``log.exception`` writes the exception's message, and a message can quote a value taken
from a message or a CTF (``Invalid isoformat string: '2015-13-45'`` is a date of birth).
An operator needs the exception's type and where it happened, not the value."""

from __future__ import annotations

import traceback
from pathlib import Path


def failure(exc: BaseException, depth: int = 6) -> str:
    """``ValueError at reader.py:103 <- transfers.py:190 <- ...``: innermost frame first."""
    frames = traceback.extract_tb(exc.__traceback__)[-depth:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return f"{type(exc).__name__} at {where}" if where else type(exc).__name__
