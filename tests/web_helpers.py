"""Helpers for the web page tests: a gateway app on a manual clock with users, and signing
in through the real sign-in form."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from gateway.accounts import add_user
from gateway.core.clock import ManualClock
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.store import OutboundRow, Role
from gateway.web.app import create_app
from gateway.web.keys import GATEWAY

PASSWORD = "correct horse battery"
# A Monday in term (the shipped 2026-27 calendar), 10:00 in England.
START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
_TOKEN = re.compile(r'name="(?:csrf_token|signin_token)" value="([^"]+)"')


def token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@dataclass
class Web:
    client: Any
    clock: ManualClock

    @property
    def gw(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    async def sign_in(self, user: str, password: str = PASSWORD, expect: int = 303) -> Any:
        page = await self.client.get("/sign-in")
        resp = await self.client.post("/sign-in", data={
            "username": user, "password": password, "signin_token": token(await page.text())},
            allow_redirects=False)
        assert resp.status == expect, await resp.text()
        return resp

    async def csrf(self, path: str = "/outbox") -> str:
        return token(await (await self.client.get(path)).text())

    async def send(self, surnames: tuple[str, ...] = ("Kowalczyk",), to: str = "352",
                   ) -> OutboundRow:
        gw = self.gw
        h = gw.header(m.MessageType.ENQUIRY, to)
        children = tuple(m.EnquiryChild(child_ref=str(i + 1), surname=s, forename="Amelia",
                                        dob=dt.date(2015, 3, 14), gender="F")
                         for i, s in enumerate(surnames))
        enquiry = m.Enquiry(header=h, enquiry_date=gw.clock.today(), officer=gw.officer(),
                            children=children)
        return await queue(gw, enquiry)


async def web_app(aiohttp_client: Any, home: Any, start: dt.datetime = START,
                  **settings: Any) -> Web:
    clock = ManualClock(start)
    app = create_app(home.settings(**{"cookie_secure": False, **settings}), background=False,
                     clock=clock)
    client = await aiohttp_client(app)
    store = app[GATEWAY].store
    for name, role in (("olive", Role.OFFICER), ("mina", Role.MANAGER), ("ada", Role.ADMIN)):
        await add_user(store, name, role, PASSWORD)
    return Web(client, clock)
