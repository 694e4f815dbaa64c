"""Holes an outside security review found, each with the test that failed before its fix.

Item 1, the signing oracle: a gateway must never sign text or addressing taken from a request
it could not authenticate, must not accept answers (Receipt, Error, LpdResult) as messages,
and accepts an answer only when it names the exact message sent, is fresh and comes from its
recipient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import time

import pytest
from lxml import etree

from gateway.core.clock import ManualClock
from gateway.core.errors import GatewayError
from gateway.crypto.dsig import Signer
from gateway.exchange.client import check_answer
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import prepare
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.web.app import create_app
from tests.conftest import enquiry, pair
from tests.test_inbound import signer_of

NS = "{urn:cme-gateway:message:1}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ATTACKER = "PAY-THE-BEARER-" * 40


@pytest.fixture
def homes(tmp_path):
    return pair(tmp_path)


@pytest.fixture
async def client(aiohttp_client, homes):
    _, b = homes
    return await aiohttp_client(create_app(b.settings(), background=False))


def stored(home) -> int:
    with sqlite3.connect(home.path / "gateway.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM inbound").fetchone()[0])


async def test_an_unauthenticated_request_gets_no_signed_text_or_addressing(client,
                                                                           homes) -> None:
    a, b = homes
    signed = etree.fromstring(signer_of(a).sign(mx.build(enquiry())))
    # Attacker text where the profile check quotes it, and addressing of the attacker's choice.
    c14n = signed.find(f"{DS}Signature/{DS}SignedInfo/{DS}CanonicalizationMethod")
    c14n.set("Algorithm", ATTACKER)
    about = signed.findtext(f"{NS}Header/{NS}MessageId")
    resp = await client.post("/v1/messages", data=etree.tostring(signed))
    assert resp.status == 400
    body = await resp.read()
    root = etree.fromstring(body)
    code = root.findtext(f"{NS}Code")
    assert code == "signature-algorithm"
    assert root.find(f"{DS}Signature") is None  # nothing this gateway vouches for
    assert root.findtext(f"{NS}Header/{NS}Recipient") == "unknown"
    assert root.find(f"{NS}AboutMessageId") is None and about.encode() not in body
    assert b"PAY-THE-BEARER" not in body
    assert root.findtext(f"{NS}Text") == GatewayError(code).sentence


async def test_a_signed_error_carries_the_fixed_sentence_only(client, homes) -> None:
    a, _ = homes
    msg = enquiry(recipient="350")
    resp = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(msg)))
    assert resp.status == 400
    root = etree.fromstring(await resp.read())
    assert root.find(f"{DS}Signature") is not None  # the request verified: a signed answer
    assert root.findtext(f"{NS}Header/{NS}Recipient") == "355"
    assert root.findtext(f"{NS}AboutMessageId") == msg.header.message_id
    assert root.findtext(f"{NS}Header/{NS}InReplyTo") == msg.header.message_id
    assert root.findtext(f"{NS}Text") == GatewayError("wrong-recipient").sentence  # no detail


@pytest.mark.parametrize("answer", ["error", "receipt", "lpd-result"])
async def test_answers_are_never_accepted_as_messages(client, homes, answer) -> None:
    a, b = homes

    def h(mtype: m.MessageType) -> m.Header:
        return m.Header(m.new_id(), m.new_id(), m.utcnow(), "355", "352", mtype,
                        in_reply_to=m.new_id())

    message: m.Message = {
        "error": lambda: m.Error(header=h(m.MessageType.ERROR), code="bad-request",
                                 text="Your enquiry failed.", about_message_id=m.new_id()),
        "receipt": lambda: m.Receipt(header=h(m.MessageType.RECEIPT),
                                     received_message_id=m.new_id(), digest_sha256="0" * 64,
                                     received_at=m.utcnow()),
        "lpd-result": lambda: m.LpdResult(header=h(m.MessageType.LPD_RESULT),
                                          search_id=m.new_id(), candidates=()),
    }[answer]()
    resp = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(message)))
    assert resp.status == 400
    assert etree.fromstring(await resp.read()).findtext(f"{NS}Code") == "answer-not-accepted"
    assert stored(b) == 0


class Answers:
    """355 has sent an enquiry to 352; 352's gateway signs answers to it (or to others)."""

    def __init__(self, gw: Gateway, signer: Signer, row) -> None:  # type: ignore[no-untyped-def]
        self.gw, self.signer, self.row = gw, signer, row

    def error(self, *, about: str | None, in_reply_to: str | None = None,
              created: dt.datetime | None = None) -> bytes:
        h = m.Header(m.new_id(), self.row.conversation_id, created or self.gw.clock.now(),
                     "352", "355", m.MessageType.ERROR,
                     in_reply_to=in_reply_to if in_reply_to is not None else about)
        return self.signer.sign(mx.build(m.Error(header=h, code="bad-request", text="No.",
                                                 about_message_id=about)))

    def receipt(self, *, created: dt.datetime | None = None) -> bytes:
        h = m.Header(m.new_id(), self.row.conversation_id, created or self.gw.clock.now(),
                     "352", "355", m.MessageType.RECEIPT, in_reply_to=self.row.message_id)
        return self.signer.sign(mx.build(m.Receipt(
            header=h, received_message_id=self.row.message_id,
            digest_sha256=hashlib.sha256(self.row.body).hexdigest(),
            received_at=self.gw.clock.now())))


@pytest.fixture
async def sent(homes):
    a, b = homes
    clock = ManualClock(time.time())
    gw = await Gateway.open(a.settings(), clock)
    e = enquiry()
    row = prepare(gw, m.Enquiry(**{**e.__dict__,
                                   "header": gw.header(m.MessageType.ENQUIRY, "352")}))
    yield Answers(gw, signer_of(b), row), clock
    await gw.close()


def refused(answers: Answers, body: bytes) -> str:
    with pytest.raises(GatewayError) as info:
        check_answer(answers.gw, body, answers.row)
    return str(info.value.detail)


async def test_only_an_answer_about_exactly_this_message_settles_it(sent) -> None:
    answers, _ = sent
    mid = answers.row.message_id
    assert isinstance(check_answer(answers.gw, answers.error(about=mid), answers.row), m.Error)
    assert isinstance(check_answer(answers.gw, answers.receipt(), answers.row), m.Receipt)
    # An Error about no message (harvested from any refusal) settles nothing.
    assert "another message" in refused(answers, answers.error(about=None,
                                                               in_reply_to=mid))
    assert "another message" in refused(answers, answers.error(about=m.new_id()))
    assert "another message" in refused(answers, answers.error(about=mid,
                                                               in_reply_to=m.new_id()))


async def test_a_stale_answer_settles_nothing(sent) -> None:
    answers, clock = sent
    mid = answers.row.message_id
    before = clock.now() - dt.timedelta(hours=1)  # made before the message was
    assert "older than the message" in refused(answers, answers.error(about=mid,
                                                                      created=before))
    assert "older than the message" in refused(answers, answers.receipt(created=before))
    harvested = answers.error(about=mid)  # a genuine answer, kept ...
    clock.advance(7 * 86400)  # ... and played back a week later, outside the replay window
    assert "stale" in refused(answers, harvested)
