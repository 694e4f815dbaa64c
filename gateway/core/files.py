"""Atomic file writes (temporary file, fsync, rename), durable moves and stream digests."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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


def atomic_write_many(files: list[tuple[Path, bytes]], mode: int = 0o644) -> None:
    """``atomic_write`` for many files at once: each is written to a temporary file, fsynced
    and renamed into place, then each folder is fsynced once (not once per file), so all of
    them are durable when this returns; a reader sees each old file or the whole new one."""
    folders: dict[Path, None] = {}
    for path, data in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        folders[path.parent] = None
    for folder in folders:
        fsync_dir(folder)


def atomic_copy(src: Path, target: Path) -> None:
    with open(src, "rb") as fin:
        _atomic(target, lambda fh: shutil.copyfileobj(fin, fh, 1 << 20))


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read as a stream."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def store_file(tmp: Path, final: Path) -> None:
    """Move a fully written ``tmp`` to ``final`` durably (fsync the file, rename, fsync the
    folder)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
