"""A lost CTF posted twice (the same bytes, a new Transfer id each time: a school retrying
after a timeout) is stored once, at the hub and at the school's LA; the repeat gets a signed
receipt of its own and is noted in the first one's history. SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.testing.ctf import write_ctf
from tests import test_review_h1_hub as review
from tests.pgserver import pg_dsn  # noqa: F401  (the session fixture)
from tests.test_inbound import signer_of
from tests.test_review_h1_hub import SCHOOL_A, accept, cases, envelope, outbox, pupil

pytestmark = pytest.mark.asyncio
world = review.world  # the fixture: the hub, LAs 355 and 352, their schools


@pytest.mark.parametrize("to", ["S2S", "355"])
async def test_the_same_lost_ctf_twice_is_stored_once(world, tmp_path, to):
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    gw = await Gateway.open(world["hub" if to == "S2S" else to].settings())
    try:
        signer = signer_of(world[SCHOOL_A])
        first, second = (envelope(signer, SCHOOL_A, to, lost) for _ in range(2))
        ids = [mx.parse_stored(e).header.message_id for e in (first, second)]
        receipts = [mx.parse_stored(await accept(gw, e, lost, tmp_path / f"{i}.part"))
                    for i, e in enumerate((first, second))]
        assert [r.header.in_reply_to for r in receipts] == ids
        assert await gw.store.transfers.get(ids[1]) is None
        assert (await gw.store.transfers.get(ids[0])).state in ("lpd", "forwarded")
        history = await gw.store.transfers.lpd_history(ids[0])
        assert history[-1].action == "repeat" and ids[1] in history[-1].detail
        if to == "S2S":
            assert (await gw.store.transfers.lpd_version())[0] == 1
            assert len(await outbox(gw, m.MessageType.CTF_NOTICE)) == 1
        else:
            assert len(await cases(gw)) == 1
            assert len(await outbox(gw, m.MessageType.TRANSFER)) == 1
        # the first id again is a plain resend: its stored receipt
        assert mx.parse_stored(await accept(gw, first, lost, tmp_path / "x.part")) == \
            receipts[0]
        assert not list((gw.settings.path(gw.settings.ctf_dir)).glob(f"{ids[1]}*"))
    finally:
        await gw.close()


@pytest.mark.parametrize("to", ["S2S", "355"])
async def test_the_same_lost_ctf_after_the_first_was_found_is_stored_as_new(
        world, tmp_path, to):
    """The repeat rule lapses once the first is found (at the hub: its LPD entry claimed;
    at the LA: the case opened for it located or closed): the same file again is the
    child missing again, stored as new, and the first one's history says so."""
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    gw = await Gateway.open(world["hub" if to == "S2S" else to].settings())
    try:
        signer = signer_of(world[SCHOOL_A])
        first, second, third = (envelope(signer, SCHOOL_A, to, lost) for _ in range(3))
        ids = [mx.parse_stored(e).header.message_id for e in (first, second, third)]
        await accept(gw, first, lost, tmp_path / "a.part")

        async def found(tx):
            if to == "S2S":
                await tx.execute("UPDATE lpd SET state = 'claimed', claimed_by = '352' "
                                 "WHERE transfer_id = ?", ids[0])
            else:
                assert await tx.execute("UPDATE cases SET status = 'closed' "
                                        "WHERE transfer_id = ?", ids[0]) == 1
        await gw.store.backend.write(found)
        await accept(gw, second, lost, tmp_path / "b.part")
        assert (await gw.store.transfers.get(ids[1])).state in ("lpd", "forwarded")
        history = await gw.store.transfers.lpd_history(ids[0])
        assert history[-1].action == "posted-again" and ids[1] in history[-1].detail
        if to == "S2S":
            assert len(await outbox(gw, m.MessageType.CTF_NOTICE)) == 2
        else:
            assert len(await outbox(gw, m.MessageType.TRANSFER)) == 2
        # and the second, still lost, makes the third a repeat again
        await accept(gw, third, lost, tmp_path / "c.part")
        assert await gw.store.transfers.get(ids[2]) is None
        assert (await gw.store.transfers.lpd_history(ids[1]))[-1].action == "repeat"
    finally:
        await gw.close()
