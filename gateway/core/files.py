"""Atomic file writes (temporary file, fsync, rename) and the loop of a periodic task."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from gateway.core.logsafe import failure

log = logging.getLogger(__name__)


def _atomic(path: Path, fill: Callable[[BinaryIO], object], mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fill(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the new name is in the folder's own data)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the whole new one, never part of it."""
    _atomic(path, lambda fh: fh.write(data), mode)


def atomic_copy(src: Path, target: Path) -> None:
    with open(src, "rb") as fin:
        _atomic(target, lambda fh: shutil.copyfileobj(fin, fh, 1 << 20))


async def every(seconds: Callable[[], float], tick: Callable[[], Awaitable[Any]],
                what: str) -> None:
    """Run ``tick`` for ever, ``seconds()`` apart; a failing tick is logged and retried."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s tick failed; retrying: %s", what, failure(exc))
        await asyncio.sleep(seconds())
