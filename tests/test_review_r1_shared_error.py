"""R1: one GatewayError instance is raised to every request of a failed SQLite batch; the
first request's answering() marks it, so every other request gets a *signed* Error addressed
to the first request's sender, about the first request's message id."""
import asyncio
import sqlite3

from lxml import etree

from gateway.core.errors import GatewayError
from gateway.exchange import answers
from gateway.exchange.gateway import Gateway
from gateway.messages import xml as mx
from gateway.web.app import inbound_for
from tests.conftest import enquiry, make_home, pair
from tests.test_inbound import signer_of

NS = "{urn:cme-gateway:message:1}"


async def test_a_failed_batch_answers_each_sender_about_its_own_message(tmp_path):
    a, b = pair(tmp_path)                      # 355 and 352
    c = make_home(tmp_path, "350")             # a third LA
    b.trust(c)
    gw = await Gateway.open(b.settings())
    inbound = inbound_for(gw)
    try:
        m_a = enquiry(sender="355", recipient="352")
        m_c = enquiry(sender="350", recipient="352")
        body_a = signer_of(a).sign(mx.build(m_a))
        body_c = signer_of(c).sign(mx.build(m_c))
        # Another process holds SQLite's write lock (a CLI import, a second gateway process)
        gw.store.backend._writer.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(b.path / "gateway.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            results = await asyncio.gather(inbound.receive(body_a), inbound.receive(body_c),
                                           return_exceptions=True)
        finally:
            other.execute("ROLLBACK")
            other.close()
        err_a, err_c = results
        assert isinstance(err_a, GatewayError) and isinstance(err_c, GatewayError)
        assert err_c.code == "store-unavailable"
        answer = etree.fromstring(answers.error(gw, err_c))  # what 350 is sent
        assert answer.findtext(f"{NS}Header/{NS}Recipient") == "350", (
            "350 got a signed Error addressed to "
            f"{answer.findtext(f'{NS}Header/{NS}Recipient')} about "
            f"{answer.findtext(f'{NS}AboutMessageId')} (355's message "
            f"{m_a.header.message_id})")
    finally:
        await gw.close()
