"""R2: a crash after the CTF file is renamed into ctf/ and before the commit leaves that file
(a child's full CTF) behind for ever: the resend writes a new, uniquely named file, and no
row names the first one. Before the regroup both attempts wrote {id}-{digest}.xml, so the
resend replaced the orphan."""
from pathlib import Path

from gateway.exchange.gateway import Gateway
from gateway.messages import model as m
from gateway.testing.ctf import write_ctf
from tests.test_inbound import signer_of
from tests.test_security_ctf import SCHOOL, accept, envelope, la_and_school  # noqa: F401


class Crash(BaseException):
    """The process dies here (kill -9, power loss): no except clause runs."""


async def test_a_crash_before_the_commit_leaves_no_unreferenced_ctf(tmp_path, la_and_school):  # noqa: F811
    la, school = la_and_school
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("352", "4001"), dest=("352", "4001"), pupils=1)
    env = envelope(signer_of(school), SCHOOL, "352", ctf, m.new_id())
    gw = await Gateway.open(la.settings())

    async def die(*a, **k):
        raise Crash

    real = gw.store.inbox.accept
    gw.store.inbox.accept = die
    try:
        await accept(gw, env, ctf, tmp_path / "a.part")
    except Crash:
        pass
    gw.store.inbox.accept = real
    await gw.close()
    gw = await Gateway.open(la.settings())    # the restarted gateway; the school resends
    try:
        await accept(gw, env, ctf, tmp_path / "b.part")
        s = la.settings()
        files = sorted(p.name for p in s.path(s.ctf_dir).glob("*.xml"))
        stored = await gw.store.transfers.get(env and (await gw.store.inbox.recent())[0].message_id)
        assert files == [Path(stored.path).name], f"unreferenced CTF files: {files}"
    finally:
        await gw.close()
