"""A CTF a gateway took on but could not pass on (README, "A CTF that cannot be passed on"):
the transfer record says so, the operator sees it and can resend it, and a claimed LPD
entry whose delivery failed can be claimed again by the LA that claimed it, and only by it.
SQLite and PostgreSQL (the review's ``world``)."""
from __future__ import annotations

import pytest

from gateway.core.errors import GatewayError
from gateway.exchange import actions
from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboxState
from gateway.testing.ctf import write_ctf
from gateway.web.app import inbound_for
from tests import test_review_h1_hub as review
from tests.pgserver import pg_dsn  # noqa: F401  (the session fixture)
from tests.test_inbound import signer_of
from tests.test_review_h1_hub import (
    SCHOOL_A,
    accept,
    claim,
    envelope,
    expire_everything,
    outbox,
    pupil,
)

pytestmark = pytest.mark.asyncio
world = review.world  # the fixture: the hub, LAs 355 and 352, their schools


async def test_an_las_forward_to_the_hub_that_fails_is_undelivered_and_resent(
        world, tmp_path):
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    la = await Gateway.open(world["355"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "355", lost)
        tid = mx.parse_stored(env).header.message_id
        await accept(la, env, lost, tmp_path / "a.part")
        (fwd,) = await outbox(la, m.MessageType.TRANSFER)
        assert await la.store.outbox.mark_failed(fwd.message_id, "ctf-too-large", "refused",
                                                 la.clock.time())
        assert (await la.store.transfers.get(tid)).state == "undelivered"
        (u,) = await la.store.transfers.undelivered()
        assert (u.transfer_id, u.what, u.recipient) == (tid, "forwarded", "S2S")
        assert [e.action for e in await la.store.transfers.lpd_history(tid)] == \
            ["not-delivered"]
        again = await actions.resend_transfer(la, tid, "cli")     # by the transfer id
        assert again.payload_path == fwd.payload_path and again.recipient == "S2S"
        sent = mx.parse_stored((await la.store.outbox.get(again.message_id, True)).body)
        assert isinstance(sent, m.Transfer) and sent.purpose == m.Purpose.LPD
        assert sent.payload == mx.parse_stored(fwd.body).payload
        assert (await la.store.transfers.get(tid)).state == "forwarded"
        assert await la.store.transfers.undelivered() == []
        with pytest.raises(GatewayError) as info:                 # not twice
            await actions.resend(la, fwd.message_id, "api")
        assert info.value.code == "invalid-state"
        assert (await la.store.outbox.resends(again.message_id))[0] == fwd.message_id
    finally:
        await la.close()


async def test_only_the_claiming_la_claims_again_after_a_failed_delivery(
        world, tmp_path):
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    hub = await Gateway.open(world["hub"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", lost)
        tid = mx.parse_stored(env).header.message_id
        await accept(hub, env, lost, tmp_path / "a.part")
        await inbound_for(hub).receive(claim(world["352"], tid, "3524002"))
        with pytest.raises(GatewayError) as info:                 # delivery still open
            await inbound_for(hub).receive(claim(world["352"], tid, "3524002", "again"))
        assert info.value.code == "lpd-already-claimed"
        (delivery,) = await outbox(hub, m.MessageType.TRANSFER)
        await expire_everything(hub)
        assert (await hub.store.transfers.lpd_entry(tid)).delivery_failed_at is not None
        assert [(u.transfer_id, u.what, u.recipient)
                for u in await hub.store.transfers.undelivered()] == [(tid, "claimed", "352")]
        with pytest.raises(GatewayError) as info:                 # another LA: no
            await inbound_for(hub).receive(claim(world["355"], tid, "3552002"))
        assert info.value.code == "lpd-already-claimed"
        await inbound_for(hub).receive(claim(world["352"], tid, "3524003", "again"))
        entry = await hub.store.transfers.lpd_entry(tid)
        assert (entry.state, entry.claimed_by, entry.claimed_for,
                entry.delivery_failed_at) == ("claimed", "352", "3524003", None)
        transfers = await outbox(hub, m.MessageType.TRANSFER)
        assert len(transfers) == 2
        new = next(r for r in transfers if r.message_id != delivery.message_id)
        assert new.state is OutboxState.QUEUED and new.recipient == "352"
        assert mx.parse_stored(new.body).for_school == "3524003"
        assert len(await outbox(hub, m.MessageType.CLAIM_NOTICE)) == 1  # told once
    finally:
        await hub.close()


async def test_migration_16_marks_a_claimed_delivery_that_failed_before_the_upgrade(
        world, tmp_path, monkeypatch):
    """At schema 13 (before migration 14) the hub's delivery of a claimed LPD entry expired
    and nothing marked it; migration 16 sets its delivery_failed_at (the claiming LA may
    claim again, 'ctf undelivered' lists it) and notes it in its history. A delivery that
    was made is left alone."""
    from gateway.store import migrations as mig
    from gateway.store.outbox import Outbox
    from gateway.store.transfers import Transfers

    async def nothing(*a, **k):  # the code before migration 14: nothing marks the entry
        return None

    async def first(self, tx, lea, estab, digest, transfer_id):
        return transfer_id, None

    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    saved = list(mig.MIGRATIONS)
    mig.MIGRATIONS[:] = [x for x in saved if x[0] <= 13]
    try:
        with monkeypatch.context() as mp:
            mp.setattr(Outbox, "_ctf_not_delivered", staticmethod(nothing))
            mp.setattr(Transfers, "first_lost", first)  # no ctf_lost_once before 15
            hub = await Gateway.open(world["hub"].settings())
            try:
                env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", lost)
                tid = mx.parse_stored(env).header.message_id
                await accept(hub, env, lost, tmp_path / "a.part")
                await inbound_for(hub).receive(claim(world["352"], tid, "3524002"))
                await expire_everything(hub)
            finally:
                await hub.close()
    finally:
        mig.MIGRATIONS[:] = saved
    hub = await Gateway.open(world["hub"].settings())
    try:
        entry = await hub.store.transfers.lpd_entry(tid)
        assert entry.state == "claimed" and entry.delivery_failed_at is not None
        listed = [(u.transfer_id, u.what, u.recipient)
                  for u in await hub.store.transfers.undelivered()]
        assert listed == [(tid, "claimed", "352")]
        last = (await hub.store.transfers.lpd_history(tid))[-1]
        assert last.action == "not-delivered" and "found at upgrade" in last.detail
        # the claiming LA may now claim it again: one new delivery
        await inbound_for(hub).receive(claim(world["352"], tid, "3524003", "again"))
        live = [r for r in await outbox(hub, m.MessageType.TRANSFER)
                if r.state in (OutboxState.QUEUED, OutboxState.SENDING)]
        assert len(live) == 1
    finally:
        await hub.close()


async def test_ctf_resend_of_an_expired_transfer_warns_that_it_may_have_arrived(
        world, tmp_path, capsys):
    import asyncio

    from gateway.cli.main import main

    ctf = tmp_path / "c.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=1)
    hub = await Gateway.open(world["hub"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", ctf)
        tid = mx.parse_stored(env).header.message_id
        await accept(hub, env, ctf, tmp_path / "a.part")
        await expire_everything(hub)
    finally:
        await hub.close()
    rc = await asyncio.to_thread(main, ["--config", str(world["hub"].config), "ctf", "resend",
                                       tid])
    out = capsys.readouterr().out
    assert rc == 0 and "queued transfer" in out and "may have arrived at 352" in out, out
