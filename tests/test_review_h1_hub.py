"""The second review of the hub / CTF / LPD path (rev2c, 5 December). Each test is a
reproducer of one defect and asserts the expected behaviour (they failed before the fixes
that follow this file's commit).

In process, against real SQLite (and PostgreSQL where named) and real files, with the
project's own fixtures (tests/conftest.py) and the same entry points the web handlers use.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gateway.core.errors import GatewayError
from gateway.core.files import file_digest
from gateway.crypto.dsig import Signer
from gateway.exchange import actions
from gateway.exchange.gateway import Gateway
from gateway.hub.transfers import check_envelope, receive_transfer
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.store import OutboxState
from gateway.testing.ctf import Pupil, make_upn, write_ctf
from gateway.web.app import inbound_for
from tests.conftest import Home, make_home
from tests.pgserver import fresh_database, pg_dsn  # noqa: F401  (the session fixture)
from tests.test_inbound import signer_of

pytestmark = pytest.mark.asyncio
DEAD = "http://127.0.0.1:9/v1/messages"   # nothing listens: a partner that is down
SCHOOL_A, SCHOOL_B = "3552001", "3524001"


def pupil(surname="Kowalczyk", forename="Amelia", upn=None, former=None,
          dob=dt.date(2015, 3, 14)) -> Pupil:
    return Pupil(upn=upn or make_upn("355", "2001", 2019, 42), surname=surname,
                 forename=forename, dob=dob, sex="F", postcode="M30 7LP", former_upn=former)


def envelope(signer: Signer, sender: str, recipient: str, ctf: Path, mid: str | None = None,
             purpose=m.Purpose.DELIVER) -> bytes:
    digest, size = file_digest(ctf)
    mid = mid or m.new_id()
    h = m.Header(mid, mid, m.utcnow(), sender, recipient, m.MessageType.TRANSFER)
    return signer.sign(mx.build(m.Transfer(header=h, purpose=purpose,
                                           payload=m.Payload(digest, size))))


async def accept(gw: Gateway, env: bytes, ctf: Path, tmp: Path) -> bytes:
    """What POST /v1/transfers does once the payload is spooled to its own file."""
    shutil.copyfile(ctf, tmp)
    digest, size = file_digest(tmp)
    try:
        return await receive_transfer(gw, env, check_envelope(gw, env), tmp, digest, size)
    finally:
        tmp.unlink(missing_ok=True)


async def relay_transfer(src: Gateway, row, dst: Gateway, tmp_dir: Path) -> bytes:
    """Deliver an outbox Transfer row of ``src`` to ``dst`` (what the sender posts)."""
    out = tmp_dir / f"{row.message_id}.payload"
    await src.store.payloads.export(row.payload_path, out)
    return await accept(dst, row.body, out, tmp_dir / f"{row.message_id}.part")


async def outbox(gw: Gateway, mtype: m.MessageType | None = None, with_body=True):
    rows = [await gw.store.outbox.get(r.message_id, with_body=with_body)
            for r in await gw.store.outbox.recent()]
    return [r for r in rows if mtype is None or r.message_type == mtype.value]


@pytest.fixture(params=["sqlite", "postgres"])
def world(tmp_path: Path, request) -> dict[str, Home]:
    """The hub, LAs 355 and 352, schools 3552001 (LA 355) and 3524001 (LA 352), each
    trusting the others as the README says; endpoints point at nothing (no delivery here).
    The hub runs on SQLite (payloads as files) and on PostgreSQL (payloads in the database)."""
    base = tmp_path / "homes"
    extra = "" if request.param == "sqlite" else \
        f'database = "{fresh_database(request.getfixturevalue("pg_dsn"))}"\n'
    hub = make_home(base, "S2S", {"355": DEAD, "352": DEAD}, role="hub", extra=extra)
    la355 = make_home(base, "355", {"S2S": DEAD})
    la352 = make_home(base, "352", {"S2S": DEAD})
    sa = make_home(base, SCHOOL_A, {"S2S": DEAD, "355": DEAD})
    sb = make_home(base, SCHOOL_B, {"S2S": DEAD})
    for h in (la355, la352, sa, sb):
        hub.trust(h)
        h.trust(hub)
    la355.trust(sa)
    sa.trust(la355)
    return {"hub": hub, "355": la355, "352": la352, SCHOOL_A: sa, SCHOOL_B: sb}


async def cases(gw: Gateway) -> list[tuple[str, str | None, str]]:
    async def op(tx):
        return [(r["status"], r["transfer_id"], r["surname"]) for r in await tx.fetchall(
            "SELECT status, transfer_id, surname FROM cases ORDER BY opened_at")]
    return await gw.store.backend.read(op)


def signed(home: Home, message: m.Message) -> bytes:
    return signer_of(home).sign(mx.build(message))


def claim(home: Home, tid: str, school: str, reason: str = "on roll at Oak School") -> bytes:
    h = m.Header(m.new_id(), m.new_id(), m.utcnow(), home.party, "S2S",
                 m.MessageType.LPD_CLAIM)
    return signed(home, m.LpdClaim(header=h, transfer_id=tid, for_school=school,
                                   reason=reason))


# ---- 1. a lost CTF sent through the school's own LA: the claim never closes the LA's case ---

async def test_claim_of_a_lost_ctf_forwarded_by_the_la_moves_the_las_own_case(world, tmp_path):
    """README: a school may post a lost CTF to its LA ('from its own school: opens the case and
    forwards the CTF to the hub'), and 'when another LA claims it, a signed ClaimNotice tells
    the source LA, whose case moves to "located"'. The LA's forward is a new Transfer with a new
    id, so the hub's LPD entry (and its ClaimNotice) name an id the LA's case does not know:
    the LA's case stays "whereabouts unknown" and a second, already-located case is opened."""
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    hub, la355, la352 = [await Gateway.open(world[p].settings()) for p in ("hub", "355", "352")]
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "355", lost)
        await accept(la355, env, lost, tmp_path / "a.part")
        assert len(await cases(la355)) == 1
        (fwd,) = await outbox(la355, m.MessageType.TRANSFER)
        await relay_transfer(la355, fwd, hub, tmp_path)            # the LA's forward
        assert (await hub.store.transfers.lpd_entry(fwd.message_id)).state == "lost"
        await inbound_for(hub).receive(claim(world["352"], fwd.message_id, "3524002"))
        (notice,) = await outbox(hub, m.MessageType.CLAIM_NOTICE)
        await inbound_for(la355).receive(notice.body)              # the hub's ClaimNotice
        got = await cases(la355)
        # expected: the one case the LA opened is now located
        assert len(got) == 1 and got[0][0] == "located", got
    finally:
        for g in (hub, la355, la352):
            await g.close()


# ---- 2. a CTF the hub accepted but could not deliver: stuck, nobody told ----------------

async def expire_everything(gw: Gateway) -> list[str]:
    later = gw.clock.time() + gw.settings.outbound_expiry_seconds + 60
    return await gw.store.outbox.expire_due(later)


async def test_a_forwarded_ctf_that_expires_at_the_hub_can_be_sent_again_and_is_reported(
        world, tmp_path):
    """School 3552001 -> hub -> LA 352 (down for longer than outbound_expiry_seconds, 5 days).
    The hub receipted the CTF, so the school's part is done. After expiry the hub's transfer
    row still says 'forwarded', nobody (school, its LA, the destination LA) is told, and the
    outbox's own resend refuses a CTF ('a CTF transfer is resent with cme-gateway ctf post')
    although the school's file is not at the hub and the hub is not its source."""
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"), pupils=2)
    hub = await Gateway.open(world["hub"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", ctf)
        tid = mx.parse_stored(env).header.message_id
        await accept(hub, env, ctf, tmp_path / "a.part")
        (fwd,) = await outbox(hub, m.MessageType.TRANSFER)
        assert await expire_everything(hub) == [fwd.message_id]
        assert (await hub.store.outbox.get(fwd.message_id)).state is OutboxState.EXPIRED
        state = (await hub.store.transfers.get(tid)).state
        told = [r.recipient for r in await outbox(hub) if r.message_id != fwd.message_id]
        try:
            again = await actions.resend(hub, fwd.message_id, "api")
            resent = again.payload_path is not None
        except GatewayError as exc:
            resent = exc.code
        # expected: the operator can send it again, and the record shows it did not arrive
        assert resent is True and state != "forwarded", (resent, state, told)
    finally:
        await hub.close()


async def test_a_claimed_ctf_whose_delivery_fails_can_still_reach_the_claiming_la(
        world, tmp_path):
    """LA 352 claims a lost CTF; the hub's delivery to 352 expires (352 down) or is refused.
    The LPD entry is 'claimed' for ever: a new claim is refused (lpd-already-claimed), the
    outbox refuses to resend a CTF, and 'ctf post' cannot re-send it either (its --purpose
    takes deliver|lpd only; a 'deliver' of an XXX/XXXX CTF is refused by 352 with
    ctf-destination-mismatch). The child's CTF never reaches the school that has the child."""
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    hub = await Gateway.open(world["hub"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", lost)
        tid = mx.parse_stored(env).header.message_id
        await accept(hub, env, lost, tmp_path / "a.part")
        await inbound_for(hub).receive(claim(world["352"], tid, "3524002"))
        (delivery,) = await outbox(hub, m.MessageType.TRANSFER)
        assert delivery.recipient == "352"
        await expire_everything(hub)
        assert (await hub.store.outbox.get(delivery.message_id)).state is OutboxState.EXPIRED
        outcomes = []
        try:
            await inbound_for(hub).receive(claim(world["352"], tid, "3524002", "again"))
            outcomes.append("reclaimed")
        except GatewayError as exc:
            outcomes.append(exc.code)
        try:
            await actions.resend(hub, delivery.message_id, "api")
            outcomes.append("resent")
        except GatewayError as exc:
            outcomes.append(exc.code)
        # expected: at least one way to deliver the claimed CTF again
        assert "reclaimed" in outcomes or "resent" in outcomes, outcomes
    finally:
        await hub.close()


# ---- 3. the same CTF posted twice -------------------------------------------------------

async def test_the_same_lost_ctf_posted_twice_is_one_lpd_entry_and_one_notice(world, tmp_path):
    """'cme-gateway ctf post' signs a new Transfer (new id) on every run and has no way to resend
    one; a school whose first post timed out after the hub committed (exit 1,
    partner-unreachable) runs it again. The hub dedups by envelope id only: the byte-identical
    CTF becomes two LPD entries, two CtfNotices (two cases at LA 355), and after one is
    claimed the other stays 'lost' and keeps appearing in every LA's searches."""
    lost = tmp_path / "lost.xml"
    write_ctf(lost, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[pupil()])
    hub = await Gateway.open(world["hub"].settings())
    try:
        signer = signer_of(world[SCHOOL_A])
        for name in ("a", "b"):
            try:
                await accept(hub, envelope(signer, SCHOOL_A, "S2S", lost), lost,
                             tmp_path / f"{name}.part")
            except GatewayError:
                pass  # a clear refusal of the second copy would be fine
        entries = (await hub.store.transfers.lpd_version())[0]
        notices = len(await outbox(hub, m.MessageType.CTF_NOTICE))
        assert (entries, notices) == (1, 1)
    finally:
        await hub.close()


# ---- 4. LPD search ------------------------------------------------------------------------

def search(home: Home, reason: str = "new arrival at Oak School", **kw) -> bytes:
    h = m.Header(m.new_id(), m.new_id(), m.utcnow(), home.party, "S2S",
                 m.MessageType.LPD_SEARCH)
    return signed(home, m.LpdSearch(header=h, reason=reason, **kw))


async def searched(hub: Gateway, body: bytes) -> list[m.LpdCandidate]:
    answer = await inbound_for(hub).receive(body)
    result = mx.parse_stored(answer.receipt)
    assert isinstance(result, m.LpdResult)
    return list(result.candidates)


async def lost_at_hub(hub: Gateway, world, tmp_path: Path, p: Pupil, name: str) -> str:
    f = tmp_path / f"{name}.xml"
    write_ctf(f, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=[p])
    env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", f)
    await accept(hub, env, f, tmp_path / f"{name}.part")
    return mx.parse_stored(env).header.message_id



async def test_the_hub_audit_of_a_search_says_whose_records_were_disclosed(world, tmp_path):
    """DESIGN.md: 'every read of a child's record is written to the audit log'. An LpdResult
    discloses each candidate's name, DOB, UPN and source school to the searching LA, but the
    hub's 'lpd-search' audit row records only the field names, a count and the reason: it
    cannot answer 'which LAs were shown this child's record?' (nor can the LA's own row)."""
    hub = await Gateway.open(world["hub"].settings())
    try:
        tid = await lost_at_hub(hub, world, tmp_path, pupil("Okafor", "Tobi"), "lost")
        found = await searched(hub, search(world["352"], surname="Okafor", forename="Tobi",
                                           dob=dt.date(2015, 3, 14)))
        assert [c.transfer_id for c in found] == [tid]

        async def op(tx):
            return [dict(r) for r in await tx.fetchall(
                "SELECT actor, action, message_id AS ref, detail FROM audit "
                "WHERE action = 'lpd-search'")]
        (row,) = await hub.store.backend.read(op)
        assert tid in (row.get("detail") or "") + (row.get("ref") or ""), row
    finally:
        await hub.close()


async def test_a_ctf_for_an_la_the_hub_cannot_reach_is_refused_with_a_clear_code(
        world, tmp_path):
    """A school posts a CTF for a school in LA 381, for which the hub has no endpoint. The hub
    refuses it with 'unknown-partner', whose fixed sentence (all a school sees: signed errors
    carry no detail) is 'There is no endpoint configured for that party.' The school's
    operator reads that as its own configuration (its endpoint for S2S is fine)."""
    ctf = tmp_path / "c.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("381", "4001"), pupils=1)
    hub = await Gateway.open(world["hub"].settings())
    try:
        env = envelope(signer_of(world[SCHOOL_A]), SCHOOL_A, "S2S", ctf)
        with pytest.raises(GatewayError) as info:
            await accept(hub, env, ctf, tmp_path / "a.part")
        assert info.value.code != "unknown-partner", info.value
    finally:
        await hub.close()
