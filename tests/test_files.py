"""Atomic file writes: the batch form used by the inbox spool folder."""

from __future__ import annotations

from pathlib import Path

from gateway.core import files


def test_atomic_write_many_writes_every_file_whole_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "old.xml").write_bytes(b"old")
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
