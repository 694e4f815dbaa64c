"""The inbound path through the real aiohttp app, on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

import pytest
from lxml import etree

from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.exchange.inbound import verify_and_parse
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.web.app import create_app
from tests.conftest import Home, enquiry, pair


def signer_of(home: Home) -> Signer:
    return Signer(k.load_private_key(home.path / "keys/gateway.key"),
                  k.load_certificate(home.path / "keys/gateway.pem"))


@pytest.fixture
def homes(tmp_path):
    return pair(tmp_path)


@pytest.fixture
async def client(aiohttp_client, homes):
    _, b = homes
    return await aiohttp_client(create_app(b.settings(), background=False))


def unsigned_code(body: bytes) -> str | None:
    """The code of an unsigned Error addressed to nobody (and check it is one)."""
    root = etree.fromstring(body)
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    assert root.findtext("{urn:cme-gateway:message:1}Header/"
                         "{urn:cme-gateway:message:1}Recipient") == "unknown"
    return root.findtext("{urn:cme-gateway:message:1}Code")


def answer_of(homes, body: bytes) -> m.Message:
    """Verify the 352 gateway's answer as 355 would."""
    a, _ = homes
    from gateway.crypto.trust import TrustStore

    return verify_and_parse(body, TrustStore(a.path / "keys/partners"), a.settings())


async def test_accepts_and_answers_with_a_signed_receipt(client, homes) -> None:
    a, b = homes
    data = signer_of(a).sign(mx.build(enquiry()))
    resp = await client.post("/v1/messages", data=data)
    body = await resp.read()
    assert resp.status == 200
    receipt = answer_of(homes, body)
    assert isinstance(receipt, m.Receipt)
    assert receipt.digest_sha256 == hashlib.sha256(data).hexdigest()
    assert receipt.header.sender == "352" and receipt.header.recipient == "355"
    # durably stored, exact bytes
    db = sqlite3.connect(b.path / "gateway.db")
    (stored,) = db.execute("SELECT body FROM inbound WHERE message_id = ?",
                           (receipt.received_message_id,)).fetchone()
    assert stored == data


async def test_resend_gets_the_original_receipt(client, homes) -> None:
    a, _ = homes
    data = signer_of(a).sign(mx.build(enquiry()))
    first = await (await client.post("/v1/messages", data=data)).read()
    resp = await client.post("/v1/messages", data=data)
    assert resp.status == 200
    assert await resp.read() == first


async def test_same_id_other_content_is_refused(client, homes) -> None:
    a, _ = homes
    msg = enquiry()
    await client.post("/v1/messages", data=signer_of(a).sign(mx.build(msg)))
    changed = m.Enquiry(**{**msg.__dict__, "enquiry_date": dt.date(2020, 1, 1)})
    resp = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(changed)))
    assert resp.status == 409
    err = answer_of(homes, await resp.read())
    assert isinstance(err, m.Error) and err.code == "duplicate-conflict"
    assert err.about_message_id == msg.header.message_id


@pytest.mark.parametrize("age,code", [(dt.timedelta(days=7), "message-too-old"),
                                      (dt.timedelta(minutes=-30), "message-from-future")])
async def test_replay_window_and_clock_skew(client, homes, age, code) -> None:
    a, _ = homes
    msg = enquiry(created_at=m.utcnow() - age)
    resp = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(msg)))
    assert resp.status == 400
    assert answer_of(homes, await resp.read()).code == code  # type: ignore[union-attr]


async def test_replay_window_is_configurable(aiohttp_client, homes) -> None:
    a, b = homes
    client = await aiohttp_client(create_app(b.settings(replay_window_seconds=60),
                                             background=False))
    msg = enquiry(created_at=m.utcnow() - dt.timedelta(minutes=5))
    resp = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(msg)))
    assert answer_of(homes, await resp.read()).code == "message-too-old"  # type: ignore


async def test_message_for_another_party_is_refused(client, homes) -> None:
    a, _ = homes
    resp = await client.post("/v1/messages",
                             data=signer_of(a).sign(mx.build(enquiry(recipient="350"))))
    assert resp.status == 400
    assert answer_of(homes, await resp.read()).code == "wrong-recipient"  # type: ignore


async def test_oversize_body_is_refused_without_reading_it(aiohttp_client, homes) -> None:
    a, b = homes
    client = await aiohttp_client(create_app(b.settings(max_body_bytes=2000),
                                             background=False))
    data = signer_of(a).sign(mx.build(enquiry(n=10)))
    assert len(data) > 2000
    resp = await client.post("/v1/messages", data=data)
    assert resp.status == 413
    # refused before the signature was read: an unsigned Error
    assert unsigned_code(await resp.read()) == "body-too-large"


@pytest.mark.parametrize("data,code", [
    (b"", "body-empty"),
    (b"<Enquiry", "xml-malformed"),
    (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><x/>',
     "xml-dtd-forbidden"),
    (b"<a>" * 100 + b"</a>" * 100, "xml-too-deep"),
    (b"<Enquiry xmlns='urn:cme-gateway:message:1'/>", "signature-missing"),
])
async def test_bad_input_gets_an_unsigned_error_and_stores_nothing(client, homes, data,
                                                                   code) -> None:
    _, b = homes
    resp = await client.post("/v1/messages", data=data)
    assert 400 <= resp.status < 500
    # Nothing was authenticated, so the Error is unsigned and addressed to "unknown".
    assert unsigned_code(await resp.read()) == code
    db = sqlite3.connect(b.path / "gateway.db")
    assert db.execute("SELECT COUNT(*) FROM inbound").fetchone() == (0,)


async def test_untrusted_sender_is_refused(client, homes, pki) -> None:
    data = pki.parties["999"].signer.sign(mx.build(enquiry(sender="999")))
    resp = await client.post("/v1/messages", data=data)
    assert resp.status == 403
    assert unsigned_code(await resp.read()) == "certificate-untrusted"


async def test_reply_marks_the_enquiry_answered(aiohttp_client, homes) -> None:
    """355 sent an enquiry (in its outbox); 352's reply arrives and links to it."""
    a, b = homes
    from gateway.exchange.gateway import Gateway

    gw = await Gateway.open(a.settings())
    try:
        enq = enquiry(n=2)
        enq = m.Enquiry(**{**enq.__dict__, "header": gw.header(m.MessageType.ENQUIRY, "352")})
        await queue(gw, enq)
    finally:
        await gw.close()
    client = await aiohttp_client(create_app(a.settings(), background=False))
    h = m.Header(message_id=m.new_id(), conversation_id=enq.header.conversation_id,
                 created_at=m.utcnow(), sender="352", recipient="355",
                 message_type=m.MessageType.REPLY, in_reply_to=enq.header.message_id)
    reply = m.Reply(header=h, date_replied=dt.date.today(), officer=m.Officer("B"),
                    outcomes=(m.ChildOutcome("1", m.Outcome.KNOWN_ON_ROLL,
                                             m.School("X School", "3524001")),
                              m.ChildOutcome("2", m.Outcome.NOT_KNOWN_MONITORING)))
    resp = await client.post("/v1/messages", data=signer_of(b).sign(mx.build(reply)))
    assert resp.status == 200
    resp = await client.get(f"/v1/admin/outbox/{enq.header.message_id}",
                            headers={"Authorization": "Bearer nope"})
    assert resp.status in (401, 503)
    db = sqlite3.connect(a.path / "gateway.db")
    state, outcomes = db.execute("SELECT state, outcomes FROM outbound WHERE message_id = ?",
                                 (enq.header.message_id,)).fetchone()
    assert state == "answered"
    assert '"known-on-roll"' in outcomes and '"not-known-monitoring"' in outcomes


async def test_admin_api_needs_the_token(aiohttp_client, homes) -> None:
    _, b = homes
    off = await aiohttp_client(create_app(b.settings(), background=False))
    assert (await off.get("/v1/admin/outbox")).status == 503
    on = await aiohttp_client(create_app(b.settings(api_token="s3cret"), background=False))
    assert (await on.get("/v1/admin/outbox")).status == 401
    assert (await on.get("/v1/admin/outbox",
                         headers={"Authorization": "Bearer s3cre"})).status == 401
    ok = await on.get("/v1/admin/outbox", headers={"Authorization": "Bearer s3cret"})
    assert ok.status == 200 and (await ok.json())["items"] == []
