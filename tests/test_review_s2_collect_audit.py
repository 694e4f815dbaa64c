"""Collect (GET /v1/admin/schools/{laestab}/ctf/{id}, web/operator.py collect) now streams the
CTF and marks it collected and writes the collect-ctf audit entry only after the last write.
A client that reads almost all of the CTF (half of its pupils, or all but the last few MB)
and then closes the connection makes the pending write fail: the children's records have
left the gateway, yet the transfer stays "held" and no audit row names who took them. Before
the pgctf merge the audit row was written before any byte was sent."""
import asyncio
import socket
import sqlite3

from gateway.exchange.gateway import Gateway
from gateway.testing.ctf import write_ctf
from gateway.web.access import add_client
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY
from tests.conftest import make_home
from tests.test_inbound import signer_of
from tests.test_security_ctf import SCHOOL, accept, envelope


async def test_a_ctf_read_all_but_the_end_is_audited(aiohttp_client, tmp_path):
    la = make_home(tmp_path, "352", extra='api_token = "op"\n')
    school = make_home(tmp_path, SCHOOL, {"352": "http://127.0.0.1:9/v1/messages"})
    la.trust(school)
    ctf = tmp_path / "ctf.xml"
    write_ctf(ctf, source=("352", "4001"), dest=("352", "4003"), pupils=500)  # ~10 MB
    size = ctf.stat().st_size
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

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (client.host, client.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    got = 0
    wanted = int(size * 0.5)
    while got < wanted:
        chunk = await reader.read(65536)
        assert chunk, "connection closed early"
        got += len(chunk)
    writer.transport.abort()  # RST: the rest (MBs, beyond the socket buffers) is never taken
    await asyncio.sleep(1.0)

    db = sqlite3.connect(la.path / "gateway.db")
    state = db.execute("SELECT state FROM transfers WHERE transfer_id=?", (tid,)).fetchone()[0]
    # (Audited as "collect-ctf-started" before the first byte; "collect-ctf" itself, with
    # the CTF marked collected, still waits for the last byte.)
    audits = db.execute(
        "SELECT COUNT(*) FROM audit WHERE action='collect-ctf-started'").fetchone()[0]
    print(f"read {got} of {size} bytes; state {state}; collect-ctf audit rows {audits}")
    assert audits == 1, f"{got} of {size} bytes of pupil records taken, no audit row"
