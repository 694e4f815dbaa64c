"""The CTF payload contract (``gateway.store.payloads``), the same tests on both backends:
files in a real folder beside a real SQLite file, and chunk rows in a real PostgreSQL.

A payload is stored with the transaction that names it or not at all; it reads back byte for
byte as a stream of chunks no larger than ``CHUNK``; deleting it leaves nothing; reading or
writing a large one keeps Python's memory bounded (tracemalloc: no timing is asserted).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tracemalloc
from pathlib import Path

import asyncpg
import pytest

from gateway.core.errors import GatewayError
from gateway.store import Store, open_store
from gateway.store.payloads import CHUNK, DbPayloads, move_files_into_database
from tests.pgserver import pg_dsn  # noqa: F401
from tests.test_store import database  # noqa: F401  (the two-backend fixture)
from tests.test_store_ctf import PUPIL, transfer


@pytest.fixture
async def store(database: str, tmp_path: Path):  # noqa: F811
    s = await open_store(database, tmp_path, payload_dir=tmp_path / "ctf")
    yield s
    await s.close()


def payload(tmp_path: Path, size: int, name: str = "in.part") -> tuple[Path, str, int]:
    """A temporary upload of ``size`` random bytes: (path, SHA-256, size)."""
    path = tmp_path / name
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), size


async def stored(store: Store, tmp: Path, name: str, digest: str, size: int,
                 fail: bool = False) -> str:
    """Stage ``tmp`` and commit it with a transfer row that names it, as the hub does;
    ``fail`` makes the transaction fail after the payload's step."""
    staged = await store.payloads.stage(tmp, name, digest, size)
    row = dataclasses.replace(transfer(name), path=staged.ref, digest=digest, size_bytes=size)

    async def op(tx) -> None:  # type: ignore[no-untyped-def]
        await staged.step(tx)
        await store.transfers.insert(tx, row, [PUPIL])
        if fail:
            raise GatewayError("store-unavailable", "made to fail by the test")
    try:
        await store.backend.write(op)
    except GatewayError:
        await staged.discard()
        raise
    finally:
        staged.release()
    return staged.ref


async def read_all(store: Store, ref: str) -> tuple[int, bytes, int]:
    """(declared size, the bytes, the largest chunk)."""
    opened = await store.payloads.open(ref)
    data, biggest = bytearray(), 0
    async for chunk in opened:
        data += chunk
        biggest = max(biggest, len(chunk))
    return opened.size, bytes(data), biggest


async def leftovers(store: Store, tmp_path: Path) -> list[str]:
    """What any payload left anywhere: chunk or payload rows, files in ctf_dir."""
    async def op(tx) -> list[str]:  # type: ignore[no-untyped-def]
        rows = await tx.fetchall("SELECT payload_id FROM ctf_payloads")
        chunks = await tx.fetchall("SELECT payload_id, seq FROM ctf_payload_chunks")
        return [f"row {r['payload_id']}" for r in rows] + \
            [f"chunk {r['payload_id']}/{r['seq']}" for r in chunks]
    folder = tmp_path / "ctf"
    files = [f"file {p.name}" for p in folder.rglob("*") if p.is_file()] \
        if folder.exists() else []
    return await store.backend.read(op) + files


@pytest.mark.parametrize("size", [1, CHUNK - 1, CHUNK, 2 * CHUNK + 12345])
async def test_a_payload_reads_back_byte_for_byte_in_bounded_chunks(store: Store, tmp_path,
                                                                     size: int) -> None:
    tmp, digest, n = payload(tmp_path, size)
    want = tmp.read_bytes()
    ref = await stored(store, tmp, "t1-abc.xml", digest, n)
    got = await store.transfers.get("t1-abc.xml")
    assert got is not None and got.path == ref
    declared, data, biggest = await read_all(store, ref)
    assert (declared, data) == (size, want)
    assert biggest <= CHUNK
    # and atomically into a file (the LA's spool folder for a school)
    target = tmp_path / "out" / "school" / "t1.xml"
    await store.payloads.export(ref, target)
    assert target.read_bytes() == want
    assert [p.name for p in target.parent.iterdir()] == ["t1.xml"]


async def test_where_payloads_live_follows_the_backend(store: Store, tmp_path) -> None:
    tmp, digest, n = payload(tmp_path, 1000)
    ref = await stored(store, tmp, "t1-abc.xml", digest, n)
    assert await store.payloads.not_shared() == 0
    if store.backend.dialect.name == "postgresql":
        assert store.payloads.where == "database" and ref == "db:t1-abc.xml"
        assert not (tmp_path / "ctf").exists()  # nothing on this host's disk

        async def storage(tx) -> str:  # type: ignore[no-untyped-def]
            row = await tx.fetchone("SELECT attstorage::text AS s FROM pg_attribute WHERE "
                                    "attrelid = 'ctf_payload_chunks'::regclass "
                                    "AND attname = 'data'")
            return str(row["s"])
        assert await store.backend.read(storage) == "e"  # uncompressed: no pglz per CTF
    else:
        assert store.payloads.where == "files" and ref == str(tmp_path / "ctf" / "t1-abc.xml")
        assert Path(ref).stat().st_size == 1000


async def test_a_failed_commit_leaves_no_payload_anywhere(store: Store, tmp_path) -> None:
    tmp, digest, n = payload(tmp_path, 3 * CHUNK + 7)
    with pytest.raises(GatewayError):
        await stored(store, tmp, "t1-abc.xml", digest, n, fail=True)
    assert await store.transfers.get("t1-abc.xml") is None
    assert await leftovers(store, tmp_path) == []
    with pytest.raises(GatewayError) as info:
        await store.payloads.open(store.payloads.ref("t1-abc.xml"))
    assert info.value.code == "ctf-payload-missing"


async def test_bytes_that_are_not_the_signed_digest_are_never_stored(store: Store,
                                                                      tmp_path) -> None:
    tmp, digest, n = payload(tmp_path, CHUNK + 5)
    for wrong_digest, wrong_size in ((digest.replace(digest[0], "0" if digest[0] != "0"
                                                     else "1", 1), n), (digest, n - 1),
                                     (digest, n + 1)):
        with pytest.raises(GatewayError) as info:
            await stored(store, tmp, "t1-abc.xml", wrong_digest, wrong_size)
        assert info.value.code == "payload-mismatch"
    assert await store.transfers.get("t1-abc.xml") is None
    assert await leftovers(store, tmp_path) == []


async def test_deleting_a_payload_removes_every_chunk(store: Store, tmp_path) -> None:
    tmp, digest, n = payload(tmp_path, 3 * CHUNK)
    keep_tmp, keep_digest, keep_n = payload(tmp_path, 10, "keep.part")
    keep = keep_tmp.read_bytes()  # (files: stage moves the upload into ctf_dir)
    ref = await stored(store, tmp, "t1-abc.xml", digest, n)
    kept = await stored(store, keep_tmp, "t2-abc.xml", keep_digest, keep_n)
    await store.payloads.delete(ref)
    with pytest.raises(GatewayError) as info:
        await store.payloads.open(ref)
    assert info.value.code == "ctf-payload-missing"
    assert [x for x in await leftovers(store, tmp_path) if "t1-abc" in x] == []
    assert (await read_all(store, kept))[1] == keep


async def test_a_file_reference_reads_on_either_backend(store: Store, tmp_path) -> None:
    """A CTF received before the move to PostgreSQL, and the file ``ctf post`` sends."""
    tmp, _, _ = payload(tmp_path, CHUNK + 1, "legacy.xml")
    assert (await read_all(store, str(tmp)))[1] == tmp.read_bytes()
    with pytest.raises(GatewayError) as info:
        await store.payloads.open(str(tmp_path / "gone.xml"))
    assert info.value.code == "ctf-payload-missing"
    assert str(tmp_path) not in str(info.value.detail)  # a file name, not this host's folders


async def test_memory_stays_bounded_for_a_large_payload(store: Store, tmp_path) -> None:
    """24 MB in and out with at most a few chunks' worth of Python memory at once."""
    size = 24 * 1024 * 1024
    tmp, digest, n = payload(tmp_path, size)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        ref = await stored(store, tmp, "big-abc.xml", digest, n)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        opened = await store.payloads.open(ref)
        h, total = hashlib.sha256(), 0
        async for chunk in opened:
            h.update(chunk)
            total += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (total, h.hexdigest()) == (size, digest)
    print(f"{store.payloads.where}: write peak {write_peak}, read peak {read_peak} bytes")
    limit = 16 * CHUNK  # 4 MiB against a 24 MiB payload (whole in memory would be 24+)
    assert write_peak < limit, f"writing peaked at {write_peak} bytes"
    assert read_peak < limit, f"reading peaked at {read_peak} bytes"


async def test_move_files_into_database(pg_dsn, tmp_path) -> None:  # noqa: F811
    """``cme-gateway ctf move-to-database``: each file becomes rows in one transaction with
    its transfer's and outbox row's reference; a missing or changed file is reported, left
    as it is, and the command can run again."""
    from tests.pgserver import fresh_database
    dsn = fresh_database(pg_dsn)
    store = await open_store(dsn, tmp_path, payload_dir=tmp_path / "ctf")
    try:
        assert isinstance(store.payloads, DbPayloads)
        files = {}
        for tid, size in (("ok", 2 * CHUNK + 3), ("gone", 10), ("changed", 10)):
            path = tmp_path / "ctf" / f"{tid}-0123456789abcdef.xml"
            path.parent.mkdir(exist_ok=True)
            data = os.urandom(size)
            path.write_bytes(data)
            files[tid] = (path, data)
            row = dataclasses.replace(transfer(tid), path=str(path), size_bytes=size,
                                      digest=hashlib.sha256(data).hexdigest())

            async def op(tx, row=row) -> None:  # type: ignore[no-untyped-def]
                await store.transfers.insert(tx, row, [PUPIL])
            await store.backend.write(op)
        files["gone"][0].unlink()
        files["changed"][0].write_bytes(b"x" * 10)
        assert await store.payloads.not_shared() == 3
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO outbound (message_id, recipient, message_type, conversation_id, "
                "created_at, state, attempts, next_attempt_at, expires_at, body, digest, "
                "updated_at, payload_path) VALUES ('o1', '352', 'Transfer', 'o1', 0, 'queued', "
                "0, 0, 1e12, '\\x00'::bytea, 'd', 0, $1)", str(files["ok"][0]))
            out = await move_files_into_database(store.payloads)
            assert (out["moved"], out["missing"], out["mismatched"]) == \
                (["ok"], ["gone"], ["changed"])
            ref = "db:ok-0123456789abcdef.xml"
            t = await store.transfers.get("ok")
            assert t is not None and t.path == ref
            assert await conn.fetchval("SELECT payload_path FROM outbound") == ref
            assert (await read_all(store, ref))[1] == files["ok"][1]
            assert not files["ok"][0].exists()  # removed once moved
            assert files["changed"][0].exists()  # left for the operator
            t = await store.transfers.get("changed")
            assert t is not None and t.path == str(files["changed"][0])
            assert await store.payloads.not_shared() == 2  # gone and changed stay files
            again = await move_files_into_database(store.payloads)
            assert again["moved"] == [] and again["missing"] == ["gone"]
        finally:
            await conn.close()
    finally:
        await store.close()
