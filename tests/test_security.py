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


@pytest.mark.parametrize("field,value", [
    ("DOB", "2015-01-01' is fine 'O'Brien-Secret"),
    ("Surname", "O'Brien' 'Secret " * 20),  # too long for its type
])
def test_schema_error_details_never_quote_values(field: str, value: str) -> None:
    """Item 9: redaction of libxml2's message text was beaten by an apostrophe; details are
    now built from the structured error (line, rule, element), never from that text."""
    from gateway.messages import schemas

    el = mx.build(enquiry())
    el.find(f".//{NS}{field}").text = value
    with pytest.raises(GatewayError) as info:
        schemas.validate(el)
    detail = info.value.detail or ""
    assert info.value.code == "schema-invalid" and field in detail
    assert "Secret" not in detail and "Brien" not in detail


async def test_every_rejected_spool_file_keeps_its_own_copy_and_reason(homes) -> None:
    """Item 8: a second rejected file of the same name overwrote the first's ``.dup``."""
    from gateway.exchange.spool import Spool

    a, _ = homes
    gw = await Gateway.open(a.settings())
    try:
        spool = Spool(gw)
        spool.outbox.mkdir(parents=True, exist_ok=True)
        bodies = [b"<not-xml", b"<Enquiry xmlns='urn:cme-gateway:message:1'/>", b""]
        for body in bodies:
            (spool.outbox / "child.xml").write_bytes(body)
            await spool.pick_up()
        failed = spool.outbox / "failed"
        kept = sorted(p.name for p in failed.iterdir() if not p.name.endswith(".reason"))
        assert kept == ["child.xml", "child.xml.1", "child.xml.2"]
        assert sorted((failed / k).read_bytes() for k in kept) == sorted(bodies)
        reasons = [(failed / f"{k}.reason").read_text() for k in kept]
        assert all(r.startswith("REJECTED ") for r in reasons) and len(set(reasons)) == 3
    finally:
        await gw.close()


BAD_JSON = [b"[" * 100_000, b'{"outcomes": 5}', b'{"outcomes": [5]}',
            b'{"outcomes": [{"child_ref": 1, "outcome": "not-known", "school": [1]}]}',
            b'{"outcomes": [{"child_ref": 1, "outcome": "not-known"}], "comments": {}}',
            b"\xff\xfe", b'{"reason": "x", "upn": {"a": 1}, "surname": ["x"]}',
            b'{"reason": "x", "surname": "X", "dob": 5}',
            b'{"reason": 5, "transfer_id": [], "for_school": {}}',
            b'{"reason": "x\\ud800", "surname": "X", "forename": "Y", '
            b'"transfer_id": "t", "for_school": "3524001"}']  # a lone surrogate (fuzzing)


@pytest.mark.parametrize("path", ["/v1/admin/inbox/{id}/reply", "/v1/admin/lpd/search",
                                  "/v1/admin/lpd/claim"])
@pytest.mark.parametrize("body", BAD_JSON)
async def test_malformed_json_on_the_operator_api_is_a_400(aiohttp_client, homes, path,
                                                           body) -> None:
    """Item 14: deep nesting and wrong types gave 500s."""
    _, b = homes
    client = await aiohttp_client(create_app(b.settings(api_token="t"), background=False))
    resp = await client.post(path.format(id=m.new_id()), data=body,
                             headers={"Authorization": "Bearer t",
                                      "Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()  # (bad-request, or a later check's 400)
    assert (await resp.json())["code"] != "internal-error"


@pytest.mark.parametrize("ctype,body", [
    ("multipart/form-data", b"--x\r\n"),
    ("multipart/form-data; boundary=zz", b"\x00\x01garbage"),
    ("multipart/form-data; boundary=zz", b"--zz\r\nContent-Disposition: form-data; "
     b"name=\"envelope\"\r\n\r\nabc"),
    ("multipart/form-data; boundary=zz", b"--zz\r\nX-Long: " + b"a" * 20_000 + b"\r\n"),
    ("multipart/form-data; boundary=XyZ; charset=utf-16",  # found by fuzzing
     b'--XyZ\r\nContent-Disposition: form-data; name="payload"; filename="c.xml"X'),
    ('multipart/form-data; boundary=""',  # a parameter name that is not a token: fuzzing
     b'--\r\nContent-Disposition: form-data; \xfaame="x"; filename="c.xml"\r\n'
     b'Content-Type: texttplain; charset=latin-1\r\n\r\n<!DOCTYPE\r\n----\r\n'),
    ("multipart/form-data; boundary=zz",
     b'--zz\r\nContent-Disposition: form-data; n@me="payload"\r\n\r\nabc\r\n--zz--\r\n'),
])
async def test_malformed_multipart_on_transfers_is_a_400(client, ctype, body) -> None:
    resp = await client.post("/v1/transfers", data=body, headers={"Content-Type": ctype})
    assert resp.status == 400
    assert etree.fromstring(await resp.read()).findtext(f"{NS}Code") != "internal-error"


async def test_healthz_reads_the_outbox_counts_at_most_every_few_seconds(aiohttp_client,
                                                                         homes) -> None:
    """Item 13: the unauthenticated /healthz ran a GROUP BY over the outbox every time."""
    from gateway.web.health import HEALTH_CACHE_SECONDS
    from gateway.web.keys import GATEWAY

    _, b = homes
    clock = ManualClock(time.time())
    app = create_app(b.settings(), background=False, clock=clock)
    client = await aiohttp_client(app)
    store = app[GATEWAY].store.outbox
    reads = 0
    real = store.counts

    async def counted():  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return await real()

    store.counts = counted  # type: ignore[method-assign]
    for _ in range(20):
        assert (await client.get("/healthz")).status == 200
    assert reads == 1
    clock.advance(HEALTH_CACHE_SECONDS)
    assert (await (await client.get("/healthz")).json())["outbox"] == {}
    assert reads == 2


async def test_each_api_client_has_its_own_scoped_revocable_audited_credential(
        aiohttp_client, homes) -> None:
    """Item 7: one operator token did everything; a school's MIS could read the inbox."""
    from gateway.web.access import add_client
    from gateway.web.keys import GATEWAY

    _, b = homes
    app = create_app(b.settings(), background=False)  # no operator api_token at all
    client = await aiohttp_client(app)
    store = app[GATEWAY].store
    school, school_token = await add_client(store, "Oak School MIS", "school:352/4001")
    assert school.scope == "school:3524001"
    officer, officer_token = await add_client(store, "CME team", "operator")
    assert school_token not in repr(await store.clients.all())  # only a hash is kept

    def get(path: str, token: str):  # type: ignore[no-untyped-def]
        return client.get(path, headers={"Authorization": f"Bearer {token}"})

    assert (await get("/v1/admin/schools/3524001/ctf", school_token)).status == 200
    for path in ("/v1/admin/schools/3524002/ctf", "/v1/admin/inbox", "/v1/admin/outbox",
                 "/v1/admin/cases"):
        resp = await get(path, school_token)
        assert resp.status == 403 and (await resp.json())["code"] == "scope-forbidden"
    assert (await get("/v1/admin/inbox", officer_token)).status == 200
    wrong = officer_token[:-4] + ("AAAA" if not officer_token.endswith("AAAA") else "BBBB")
    assert (await get("/v1/admin/inbox", wrong)).status == 401
    used = [e for e in await store.audit.entries("api-call")]
    assert {e.actor for e in used} == {"client:Oak School MIS", "client:CME team"}
    assert await store.clients.revoke(officer.client_id)
    assert (await get("/v1/admin/inbox", officer_token)).status == 401
    assert (await client.get("/v1/admin/inbox")).status == 503  # no operator token set


async def test_a_spool_file_or_an_api_message_is_dated_when_signed(aiohttp_client,
                                                                    homes) -> None:
    """README review: a spool file kept its own CreatedAt (the shipped example's was a week
    old), so the partner refused it as message-too-old; ``send`` already dated its files."""
    import datetime as dt

    from gateway.exchange.spool import Spool

    a, _ = homes
    old = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    gw = await Gateway.open(a.settings())
    try:
        spool = Spool(gw)
        spool.outbox.mkdir(parents=True, exist_ok=True)
        msg = enquiry(created_at=old)
        (spool.outbox / "e.xml").write_bytes(mx.to_bytes(mx.build(msg)))
        assert await spool.pick_up() == 1
        row = await gw.store.outbox.get(msg.header.message_id, with_body=True)
        assert row is not None and row.body is not None
        created = mx.parse_stored(row.body).header.created_at
        assert abs((created - m.utcnow()).total_seconds()) < 120
    finally:
        await gw.close()
    client = await aiohttp_client(create_app(a.settings(api_token="t"), background=False))
    msg = enquiry(created_at=old)
    resp = await client.post("/v1/admin/messages", data=mx.to_bytes(mx.build(msg)),
                             headers={"Authorization": "Bearer t"})
    assert resp.status == 202, await resp.text()
    gw = await Gateway.open(a.settings())
    try:
        row = await gw.store.outbox.get(msg.header.message_id, with_body=True)
        assert row is not None and row.body is not None
        created = mx.parse_stored(row.body).header.created_at
        assert abs((created - m.utcnow()).total_seconds()) < 120
    finally:
        await gw.close()
