"""Security review items on the CTF path, in process against real SQLite and real files.

Item 2: two resends of one Transfer racing each other (ECDSA re-signing gives different
envelope bytes for the same id and CTF) must never remove the stored CTF.
Item 3: a lost CTF whose school name is longer than a notice used to allow (200 against the
CTF's 500 characters) must still reach its LA as a notice, and a notice that cannot be made
refuses the CTF loudly instead of dropping the child silently.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from gateway.core.errors import GatewayError
from gateway.core.files import file_digest
from gateway.crypto.dsig import Signer
from gateway.exchange.gateway import Gateway
from gateway.hub.transfers import check_envelope, receive_transfer
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.testing.ctf import write_ctf
from tests.conftest import Home, make_home
from tests.test_inbound import signer_of

SCHOOL = "3524001"


def envelope(signer: Signer, sender: str, recipient: str, ctf: Path,
             mid: str | None = None) -> bytes:
    digest, size = file_digest(ctf)
    mid = mid or m.new_id()
    h = m.Header(mid, mid, m.utcnow(), sender, recipient, m.MessageType.TRANSFER)
    return signer.sign(mx.build(m.Transfer(header=h, purpose=m.Purpose.DELIVER,
                                           payload=m.Payload(digest, size))))


async def accept(gw: Gateway, env: bytes, ctf: Path, tmp: Path) -> bytes:
    shutil.copyfile(ctf, tmp)  # the web handler streams the payload to a file of its own
    digest, size = file_digest(tmp)
    return await receive_transfer(gw, env, check_envelope(gw, env), tmp, digest, size)


@pytest.fixture
def la_and_school(tmp_path: Path) -> tuple[Home, Home]:
    la = make_home(tmp_path, "352")
    school = make_home(tmp_path, SCHOOL, {"352": "http://127.0.0.1:9/v1/messages"})
    la.trust(school)
    return la, school


async def test_racing_resends_of_a_transfer_keep_the_stored_ctf(tmp_path, la_and_school
                                                                 ) -> None:
    la, school = la_and_school
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("352", "4001"), dest=("352", "4001"), pupils=2)
    mid = m.new_id()
    signer = signer_of(school)
    # The same transfer twice, signed twice: ECDSA gives different envelope bytes.
    first, second = (envelope(signer, SCHOOL, "352", ctf, mid) for _ in range(2))
    assert first != second
    gw = await Gateway.open(la.settings())
    try:
        results = await asyncio.gather(
            accept(gw, first, ctf, tmp_path / "a.part"),
            accept(gw, second, ctf, tmp_path / "b.part"), return_exceptions=True)
        codes = sorted(r.code if isinstance(r, GatewayError) else "ok" for r in results)
        assert codes == ["duplicate-conflict", "ok"]
        stored = await gw.store.transfers.get(mid)
        assert stored is not None and Path(stored.path).read_bytes() == ctf.read_bytes()
        ctf_dir = la.settings().path(la.settings().ctf_dir)
        assert [p.name for p in ctf_dir.glob("*.xml")] == [Path(stored.path).name]
        # An identical resend racing the first: both get the receipt, one file is kept.
        mid2 = m.new_id()
        again = envelope(signer, SCHOOL, "352", ctf, mid2)
        r1, r2 = await asyncio.gather(accept(gw, again, ctf, tmp_path / "c.part"),
                                      accept(gw, again, ctf, tmp_path / "d.part"))
        assert r1 == r2
        stored2 = await gw.store.transfers.get(mid2)
        assert stored2 is not None and Path(stored2.path).exists()
        assert len(list(ctf_dir.glob("*.xml"))) == 2
    finally:
        await gw.close()


def lost_ctf_with_a_long_school_name(path: Path) -> Path:
    write_ctf(path, source=("355", "2001"), dest=("XXX", "XXXX"), pupils=1)
    long_name = "The Very Long Name Primary Academy of St Example " * 6  # ~300 characters
    assert 200 < len(long_name) <= 500
    text = path.read_text(encoding="utf-8").replace("School 3552001", long_name.strip())
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("la_endpoint", [True, False])
async def test_a_lost_ctf_always_reaches_its_la_or_is_refused(tmp_path: Path,
                                                              la_endpoint: bool) -> None:
    endpoints = {"355": "http://127.0.0.1:9/v1/messages"} if la_endpoint else {}
    hub = make_home(tmp_path, "S2S", endpoints, role="hub")
    school = make_home(tmp_path, "3552001")
    hub.trust(school)
    ctf = lost_ctf_with_a_long_school_name(tmp_path / "lost.xml")
    env = envelope(signer_of(school), "3552001", "S2S", ctf)
    gw = await Gateway.open(hub.settings())
    try:
        if la_endpoint:
            await accept(gw, env, ctf, tmp_path / "x.part")
            notices = [r for r in await gw.store.outbox.recent()
                       if r.message_type == m.MessageType.CTF_NOTICE]
            assert [r.recipient for r in notices] == ["355"]
        else:  # no notice can be made: the CTF is refused, never stored without one
            with pytest.raises(GatewayError) as info:
                await accept(gw, env, ctf, tmp_path / "x.part")
            assert info.value.code == "ctf-notice-failed"
            assert await gw.store.outbox.recent() == []
            assert await gw.store.inbox.recent() == []
    finally:
        await gw.close()


class Seen:
    def __init__(self) -> None:
        self.searched: list[str] = []
        self.limited: list[str] = []

    def lpd_searched(self, la: str) -> None:
        self.searched.append(la)

    def lpd_limited(self, la: str) -> None:
        self.limited.append(la)


async def test_the_hub_wants_a_reason_and_limits_each_las_searches(tmp_path: Path,
                                                                  caplog) -> None:
    """Item 6: only the client asked for a reason, and an LA could sweep UPNs unchecked."""
    from gateway.core.clock import ManualClock
    from gateway.web.app import inbound_for

    hub = make_home(tmp_path, "S2S", role="hub", extra="lpd_searches_per_minute = 3\n")
    la = make_home(tmp_path, "352")
    hub.trust(la)
    signer = signer_of(la)
    clock = ManualClock(m.utcnow())

    def search(reason: str, kind: type = m.LpdSearch) -> bytes:
        h = m.Header(m.new_id(), m.new_id(), clock.now(), "352", "S2S",
                     m.MessageType.LPD_SEARCH if kind is m.LpdSearch else
                     m.MessageType.LPD_CLAIM)
        if kind is m.LpdSearch:
            msg: m.Message = m.LpdSearch(header=h, reason=reason, upn="V355200116042")
        else:
            msg = m.LpdClaim(header=h, transfer_id=m.new_id(), for_school="3524001",
                             reason=reason)
        return signer.sign(mx.build(msg))

    gw = await Gateway.open(hub.settings(), clock)
    seen = Seen()
    inbound = inbound_for(gw, seen)
    try:
        for kind in (m.LpdSearch, m.LpdClaim):
            with pytest.raises(GatewayError) as info:
                await inbound.receive(search("   ", kind))
            assert info.value.code == "lpd-reason-required"
        for _ in range(3):
            await inbound.receive(search("new arrival at Oak School"))
        for _ in range(5):  # a sweep: refused, and the operator is told once
            with pytest.raises(GatewayError) as info:
                await inbound.receive(search("sweep"))
            assert info.value.code == "lpd-rate-limited" and info.value.status == 429
        assert seen.searched == ["352"] * 3 and seen.limited == ["352"] * 5
        assert sum("lpd search burst la=352" in r.message for r in caplog.records) == 1
        clock.advance(61)  # a minute later the LA may search again
        await inbound.receive(search("new arrival at Elm School"))
    finally:
        await gw.close()
