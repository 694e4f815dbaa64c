"""Fuzz targets for what the gateway reads over HTTP: the operator API's bodies (an unsigned
message to send, JSON for a reply, an LPD search and claim) and the multipart body of
``POST /v1/transfers``. Everything runs in process: an LA gateway (355) with its operator API
on, the S2S hub it relays LPD requests to (a real app on a local port), a school (3552001)
that sends it CTFs and a partner LA (352) whose enquiry it can reply to.

The property: every answer is a 2xx or 4xx with a body, and no handler of either app raised
anything but a GatewayError (a middleware inside the error middleware records any other
exception by its type and path, never its message).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.errors import GatewayError
from gateway.crypto import keys as k
from gateway.crypto.dsig import Signer
from gateway.hub.relay import HubRefused
from gateway.messages import model as m
from gateway.messages import xml as mx
from gateway.messages.schemas import EXAMPLES_DIR
from gateway.testing.ctf import write_ctf
from gateway.web.app import create_app
from tests.conftest import Home, enquiry, free_port, make_home
from tests.fuzz.conftest import Counter, fuzz_settings
from tests.fuzz.strategies import (
    HOSTILE_TEXT,
    json_objects,
    mutated,
    tree_mutated,
    xml_documents,
)

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHOOL = "3552001"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    client: TestClient
    school: Signer
    inbound_id: str
    ctf_seeds: list[bytes]
    unhandled: list[str] = field(default_factory=list)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async def go() -> tuple[int, bytes]:
            resp = await self.client.post(path, data=body, headers=headers)
            return resp.status, await resp.read()

        return self.loop.run_until_complete(go())

    def check(self, status: int, body: bytes, before: int) -> None:
        assert self.unhandled[before:] == [], self.unhandled[before:]
        assert status < 500, (status, body[:300])
        assert body, status


def recorder(world_unhandled: list[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPException, GatewayError, HubRefused, ConnectionResetError):
            raise
        except Exception as exc:
            world_unhandled.append(f"{request.method} {request.path}: {type(exc).__name__}")
            raise

    return record


def _signer(home: Home) -> Signer:
    return Signer(k.load_private_key(home.path / "keys/gateway.key"),
                  k.load_certificate(home.path / "keys/gateway.pem"))


@contextmanager
def world(tmp: Path) -> Iterator[World]:
    hub_port = free_port()
    hub = make_home(tmp, "S2S", role="hub", port=hub_port,
                    extra="lpd_searches_per_minute = 1000000000\nlog_level = \"ERROR\"\n")
    la = make_home(tmp, "355", {"S2S": f"http://127.0.0.1:{hub_port}/v1/messages",
                                "352": "http://127.0.0.1:9/v1/messages"},
                   extra="log_level = \"ERROR\"\n")
    other = make_home(tmp, "352", {"355": la.url + "/v1/messages"})
    school = make_home(tmp, SCHOOL, {"355": la.url + "/v1/messages"})
    for a, b in ((la, hub), (hub, la), (la, other), (la, school)):
        a.trust(b)
    unhandled: list[str] = []
    loop = asyncio.new_event_loop()
    la_app = create_app(la.settings(api_token=TOKEN), background=False, spool=False)
    hub_app = create_app(hub.settings(), background=False, spool=False)
    for app in (la_app, hub_app):
        app.middlewares.append(recorder(unhandled))  # innermost: sees what the handler raised
    hub_server = TestServer(hub_app, port=hub_port)
    client = TestClient(TestServer(la_app), loop=loop)
    loop.run_until_complete(hub_server.start_server(loop=loop))
    loop.run_until_complete(client.start_server())
    try:
        # an enquiry from 352 in 355's inbox, to reply to
        q = enquiry(sender="352", recipient="355", n=2)
        body = _signer(other).sign(mx.build(q))

        async def seed() -> int:
            return (await client.post("/v1/messages", data=body)).status

        assert loop.run_until_complete(seed()) == 200
        seeds = []
        for i, (dest, pupils) in enumerate([(("355", "4001"), 2), (("XXX", "XXXX"), 1)]):
            f = tmp / f"seed{i}.xml"
            write_ctf(f, source=("355", "2001"), dest=dest, pupils=pupils, years=1,
                      assessments=2, seed=i)
            seeds.append(f.read_bytes())
        yield World(loop, client, _signer(school), q.header.message_id, seeds, unhandled)
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(hub_server.close())
        loop.close()


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(tmp_path) as it:
        yield it


UNSIGNED = sorted(p.read_bytes() for p in EXAMPLES_DIR.glob("*.xml"))


def test_fuzz_admin_messages(fuzz: Counter, w: World) -> None:
    @fuzz_settings()
    @given(st.one_of(mutated(UNSIGNED), tree_mutated(UNSIGNED), xml_documents()),
           st.sampled_from(["352", "355", "S2S", "999", "", "x" * 300]))
    def run(body: bytes, to: str) -> None:
        with fuzz.input(body):
            before = len(w.unhandled)
            status, answer = w.post(f"/v1/admin/messages?to={to}", body,
                                    {**AUTH, "Content-Type": "application/xml"})
            w.check(status, answer, before)

    run()
    fuzz.verdict()


OUTCOMES = st.sampled_from([o.value for o in m.Outcome] + ["", "maybe"])
CHILD_OUTCOME = st.fixed_dictionaries(
    {"child_ref": st.one_of(st.sampled_from(["1", "2", "3"]), HOSTILE_TEXT),
     "outcome": OUTCOMES},
    optional={"school": st.one_of(
        st.fixed_dictionaries({}, optional={"laestab": HOSTILE_TEXT, "name": HOSTILE_TEXT,
                                            "x": HOSTILE_TEXT}), HOSTILE_TEXT),
        "comments": HOSTILE_TEXT})


def test_fuzz_admin_reply(fuzz: Counter, w: World) -> None:
    @fuzz_settings()
    @given(json_objects({"outcomes": st.lists(CHILD_OUTCOME, max_size=4),
                         "comments": HOSTILE_TEXT}),
           st.sampled_from(["real", "unknown", "junk"]))
    def run(body: bytes, which: str) -> None:
        mid = {"real": w.inbound_id, "unknown": str(uuid.uuid4()), "junk": "x%00y"}[which]
        with fuzz.input((mid, body)):
            before = len(w.unhandled)
            status, answer = w.post(f"/v1/admin/inbox/{mid}/reply", body,
                                    {**AUTH, "Content-Type": "application/json"})
            w.check(status, answer, before)

    run()
    fuzz.verdict()


def test_fuzz_admin_lpd_search(fuzz: Counter, w: World) -> None:
    @fuzz_settings()
    @given(json_objects({"reason": HOSTILE_TEXT, "upn": HOSTILE_TEXT,
                         "surname": HOSTILE_TEXT, "forename": HOSTILE_TEXT,
                         "dob": st.one_of(st.dates().map(dt.date.isoformat), HOSTILE_TEXT),
                         "sex": st.sampled_from(["M", "F", "", "X", "male"])}))
    def run(body: bytes) -> None:
        with fuzz.input(body):
            before = len(w.unhandled)
            status, answer = w.post("/v1/admin/lpd/search", body,
                                    {**AUTH, "Content-Type": "application/json"})
            w.check(status, answer, before)

    run()
    fuzz.verdict()


def test_fuzz_admin_lpd_claim(fuzz: Counter, w: World) -> None:
    @fuzz_settings()
    @given(json_objects({"transfer_id": st.one_of(st.uuids().map(str), HOSTILE_TEXT),
                         "for_school": st.sampled_from(["3554001", "3524001", "355", "",
                                                        "XXXXXXX"]),
                         "reason": HOSTILE_TEXT}))
    def run(body: bytes) -> None:
        with fuzz.input(body):
            before = len(w.unhandled)
            status, answer = w.post("/v1/admin/lpd/claim", body,
                                    {**AUTH, "Content-Type": "application/json"})
            w.check(status, answer, before)

    run()
    fuzz.verdict()


def _envelope(w: World, payload: bytes, mid: str) -> bytes:
    h = m.Header(mid, mid, m.utcnow(), SCHOOL, "355", m.MessageType.TRANSFER)
    return w.school.sign(mx.build(m.Transfer(
        header=h, purpose=m.Purpose.DELIVER,
        payload=m.Payload(hashlib.sha256(payload).hexdigest(), len(payload)))))


BOUNDARIES = st.sampled_from(["b0undary", "XyZ", "a" * 70, "a" * 71, "with space", "-",
                              "é", "x\r\ny"])
PART_HEADERS = st.sampled_from([
    "", "Content-Type: application/xml\r\n", "Content-Transfer-Encoding: base64\r\n",
    "Content-Encoding: gzip\r\n", "Content-Encoding: deflate\r\n", "Content-Length: 3\r\n",
    "Content-Type: text/plain; charset=latin-1\r\n", "X: " + "y" * 9000 + "\r\n",
    "Content-Disposition: attachment\r\n"])


@st.composite
def multipart(draw: st.DrawFn, w: World) -> tuple[bytes, str]:
    """A multipart body and its Content-Type: near-valid (a signed envelope over the payload
    that follows, the parts in any order, repeated or renamed, odd part headers) or broken
    (cut off, no closing boundary, boundaries that are not the declared one)."""
    payload = draw(st.one_of(mutated(w.ctf_seeds, max_ops=2), st.sampled_from(w.ctf_seeds),
                             st.binary(max_size=64)))
    mid = str(uuid.uuid4())
    envelope = _envelope(w, payload, mid) if draw(st.integers(0, 4)) else draw(
        mutated([_envelope(w, payload, mid)], max_ops=2))
    boundary = draw(st.one_of(BOUNDARIES, st.text(max_size=10)))
    names = draw(st.sampled_from([["envelope", "payload"]] * 4 + [
        ["payload", "envelope"], ["envelope"], ["envelope", "envelope"], ["x", "payload"],
        ["envelope", "payload", "payload"], []]))
    parts = []
    for name in names:
        content = envelope if name == "envelope" else payload
        disposition = draw(st.sampled_from([
            f'Content-Disposition: form-data; name="{name}"\r\n',
            f'Content-Disposition: form-data; name="{name}"; filename="c.xml"\r\n',
            f"Content-Disposition: form-data; name={name}\r\n", ""]))
        parts.append(f"--{boundary}\r\n{disposition}{draw(PART_HEADERS)}\r\n".encode(
            "utf-8", "surrogatepass") + content + b"\r\n")
    body = b"".join(parts) + draw(st.sampled_from([
        f"--{boundary}--\r\n", f"--{boundary}--", "", f"--{boundary}", "--other--\r\n"])).encode(
        "utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        body = draw(mutated([body], max_ops=3))
    ctype = draw(st.sampled_from([
        f"multipart/form-data; boundary={boundary}", f'multipart/form-data; boundary="{boundary}"',
        "multipart/form-data", "multipart/mixed; boundary=other", "application/xml",
        f"multipart/form-data; boundary={boundary}; charset=utf-16", ""]))
    return body, ctype


def test_fuzz_transfers_multipart(fuzz: Counter, w: World) -> None:
    @fuzz_settings()
    @given(st.data())
    def run(data: st.DataObject) -> None:
        body, ctype = data.draw(multipart(w))
        with fuzz.input((ctype, body)):
            before = len(w.unhandled)
            try:
                status, answer = w.post("/v1/transfers", body, {"Content-Type": ctype})
            except ValueError:  # aiohttp's client refuses a header it cannot send
                return
            w.check(status, answer, before)

    run()
    fuzz.verdict()
