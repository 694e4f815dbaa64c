"""Atomic file writes: the batch form used by the inbox spool folder."""

from __future__ import annotations

from pathlib import Path

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
    """On Linux the inbox spool's batch is made durable by ``syncfs``, not by an fsync per
    file: once for the data (before any name points at it), once for the renames."""
    if files._syncfs is None:
        return  # not Linux 5.8+: the fsync path above is the one in use
    calls: list[tuple[str, bool]] = []
    fsyncs: list[int] = []
    real_sync, real_fsync = files.sync_filesystem, files.os.fsync

    def sync(folder: Path) -> None:
        renamed = (tmp_path / "a" / "0.xml").exists()
        calls.append((folder.name, renamed))
        real_sync(folder)

    monkeypatch.setattr(files, "sync_filesystem", sync)
    monkeypatch.setattr(files.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    batch = [(tmp_path / "a" / f"{i}.xml", f"<m>{i}</m>".encode()) for i in range(5)]
    batch.append((tmp_path / "b" / "x.xml", b"<x/>"))  # another folder, same filesystem
    files.atomic_write_many(batch)
    for path, data in batch:
        assert path.read_bytes() == data
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    assert calls == [("a", False), ("a", True)] and fsyncs == []


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
