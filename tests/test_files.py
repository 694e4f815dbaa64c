"""Atomic file writes: the batch form used by the inbox spool folder."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from gateway.core import files


def test_atomic_write_many_writes_every_file_whole_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "old.xml").write_bytes(b"old")
    monkeypatch.setattr(files, "_syncfs", None)  # the portable path (fsync per file)
    synced: list[str] = []
    real = files.fsync_dir
    monkeypatch.setattr(files, "fsync_dir", lambda f: (synced.append(f.name), real(f)))
    batch = [(tmp_path / "a" / f"{i}.xml", f"<m>{i}</m>".encode()) for i in range(5)]
    batch += [(tmp_path / "a" / "old.xml", b"new"), (tmp_path / "b" / "x.xml", b"<x/>")]
    files.atomic_write_many(batch)
    for path, data in batch:
        assert path.read_bytes() == data
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    assert sorted(synced) == ["a", "b"]  # each folder once, not once per file


def test_atomic_write_many_makes_a_batch_durable_with_two_filesystem_syncs(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On Linux 5.17+ and ext4/XFS/btrfs the inbox spool's batch is made durable by
    ``syncfs``, not by an fsync per file: once for the data (before any name points at
    it), once for the renames."""
    if files._syncfs is None or not files._trusted_filesystem(tmp_path):
        pytest.skip("syncfs is not used here (an older kernel or another filesystem)")
    calls: list[bool] = []
    fsyncs: list[int] = []
    real_sync, real_fsync = files._syncfs, files.os.fsync

    def sync(fd: int) -> int:
        calls.append((tmp_path / "a" / "0.xml").exists())
        return real_sync(fd)

    monkeypatch.setattr(files, "_syncfs", sync)
    monkeypatch.setattr(files.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    batch = [(tmp_path / "a" / f"{i}.xml", f"<m>{i}</m>".encode()) for i in range(5)]
    batch.append((tmp_path / "b" / "x.xml", b"<x/>"))  # another folder, same filesystem
    files.atomic_write_many(batch)
    for path, data in batch:
        assert path.read_bytes() == data
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    assert calls == [False, True] and fsyncs == []


@pytest.mark.parametrize("failing_call", [1, 2])
def test_a_failing_syncfs_fails_the_batch_and_names_no_unsynced_data(
        tmp_path: Path, monkeypatch, failing_call: int) -> None:  # type: ignore[no-untyped-def]
    # (Review of the outbound pass: the result of syncfs was not tested.)
    calls: list[int] = []

    def syncfs(fd: int) -> int:
        calls.append(fd)
        if len(calls) == failing_call:
            ctypes.set_errno(errno.EIO)
            return -1
        return 0

    monkeypatch.setattr(files, "_syncfs", syncfs)
    monkeypatch.setattr(files, "_trusted_filesystem", lambda folder: True)
    target = tmp_path / "inbox" / "m1.xml"
    with pytest.raises(OSError) as info:
        files.atomic_write_many([(target, b"<m/>")])
    assert info.value.errno == errno.EIO
    if failing_call == 1:
        assert not target.exists()


def test_syncfs_is_not_trusted_before_linux_5_17(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Before 5.17 syncfs ignored the filesystem's own sync result (review of the outbound pass).
    monkeypatch.setattr(files.sys, "platform", "linux")
    monkeypatch.setattr(files.os, "uname",
                        lambda: os.uname_result(("Linux", "h", "5.15.0-91-generic", "", "x")))
    assert files._load_syncfs() is None


def test_syncfs_is_used_only_on_ext4_xfs_or_btrfs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if files._statfs is None:
        pytest.skip("no statfs here")
    monkeypatch.setattr(files, "_syncfs", lambda fd: 0)
    monkeypatch.setattr(files, "_trusted_devices", {})
    monkeypatch.setattr(files, "_SYNCFS_FILESYSTEMS", frozenset())  # as if on NFS or FUSE
    assert not files._trusted_filesystem(tmp_path)
    fsyncs: list[int] = []
    real_fsync = files.os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    files.atomic_write_many([(tmp_path / "m.xml", b"<m/>")])
    assert len(fsyncs) == 2  # the file, then its folder: the portable path


def test_the_folder_is_opened_before_any_file_is_written(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # syncfs reports a write-back error only to descriptors opened before it (review).
    events: list[str] = []
    real_open, real_write = files.os.open, files._write_all
    monkeypatch.setattr(files, "_syncfs", lambda fd: 0)
    monkeypatch.setattr(files, "_trusted_filesystem", lambda folder: True)

    def opening(path, flags, *args):  # type: ignore[no-untyped-def]
        events.append("folder" if Path(path).is_dir() else "file")
        return real_open(path, flags, *args)

    monkeypatch.setattr(files.os, "open", opening)
    monkeypatch.setattr(files, "_write_all", lambda fd, data: (events.append("write"),
                                                               real_write(fd, data)))
    files.atomic_write_many([(tmp_path / "m1.xml", b"<m/>"), (tmp_path / "m2.xml", b"<m/>")])
    assert events[0] == "folder" and events.count("folder") == 1


def test_atomic_write_many_without_syncfs_fsyncs_each_file(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(files, "_syncfs", None)
    fsyncs: list[int] = []
    real_fsync = files.os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    batch = [(tmp_path / f"{i}.xml", b"<m/>") for i in range(3)]
    files.atomic_write_many(batch)
    assert all(p.read_bytes() == b"<m/>" for p, _ in batch)
    assert len(fsyncs) == 3 + 1  # each file, then the folder
