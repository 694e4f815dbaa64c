"""R6: HEAD on the collect route runs the GET handler: it reads the CTF, marks it collected and
writes a collect-ctf audit entry, though nothing was collected (and a school-scoped client
gets 403 for the same HEAD)."""
import sqlite3

from gateway.exchange.gateway import Gateway
from gateway.testing.ctf import write_ctf
from gateway.web.access import add_client
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY
from tests.conftest import make_home
from tests.test_inbound import signer_of
from tests.test_security_ctf import SCHOOL, accept, envelope


async def test_head_collects_nothing(aiohttp_client, tmp_path):
    la = make_home(tmp_path, "352", extra='api_token = "op"\n')
    school = make_home(tmp_path, SCHOOL, {"352": "http://127.0.0.1:9/v1/messages"})
    la.trust(school)
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("352", "4001"), dest=("352", "4003"), pupils=1)
    env = envelope(signer_of(school), SCHOOL, "352", ctf)
    gw = await Gateway.open(la.settings())
    try:
        await accept(gw, env, ctf, tmp_path / "a.part")
        tid = (await gw.store.transfers.held("3524003"))[0].transfer_id
    finally:
        await gw.close()
    app = create_app(la.settings(), background=False)
    client = await aiohttp_client(app)
    _, token = await add_client(app[GATEWAY].store, "Oak MIS", "school:3524003")
    path = f"/v1/admin/schools/3524003/ctf/{tid}"
    school_head = await client.head(path, headers={"Authorization": f"Bearer {token}"})
    op_head = await client.head(path, headers={"Authorization": "Bearer op"})
    db = sqlite3.connect(la.path / "gateway.db")
    state = db.execute("SELECT state FROM transfers WHERE transfer_id=?", (tid,)).fetchone()[0]
    audits = db.execute("SELECT COUNT(*) FROM audit WHERE action='collect-ctf'").fetchone()[0]
    print("school HEAD", school_head.status, "operator HEAD", op_head.status, state, audits)
    assert school_head.status != 403, "a school may GET but not HEAD its own CTF"
    assert state == "held" and audits == 0, f"a HEAD marked it {state}, {audits} audit rows"
