"""An LA gateway's side of the Lost Pupils Database: search and claim at the hub.

The officer asks their own gateway (operator API or CLI); the gateway signs an LpdSearch or
LpdClaim as itself, POSTs it to the hub, verifies the hub's signed answer and returns it.
Each request is also written to the local audit table.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import aiohttp

from gateway.core.errors import ERRORS, GatewayError
from gateway.core.parties import HUB
from gateway.exchange.client import PartnerRejected, Retry, post
from gateway.exchange.gateway import Gateway
from gateway.exchange.outgoing import prepare
from gateway.messages import model as m


class HubRefused(Exception):
    """The hub refused the request with a signed Error (its code and text are kept)."""

    def __init__(self, code: str, text: str, status: int) -> None:
        super().__init__(f"{code}: {text}")
        self.code, self.text, self.status = code, text, status


async def _ask(gw: Gateway, message: m.Message) -> m.Message:
    row = prepare(gw, message)
    try:
        async with aiohttp.ClientSession() as session:
            _, answer, _ = await post(gw, session, row)
    except PartnerRejected as exc:
        raise HubRefused(exc.code, exc.text, ERRORS.get(exc.code, (400, ""))[0]) from None
    except Retry as exc:
        if exc.code is not None:  # the hub's own signed refusal, asking to try later
            raise HubRefused(exc.code, str(exc), ERRORS.get(exc.code, (503, ""))[0]) from None
        raise GatewayError("partner-unreachable", f"the hub: {exc}") from None
    return answer


async def search(gw: Gateway, reason: str, *, upn: str | None = None,
                 surname: str | None = None, forename: str | None = None,
                 dob: date | None = None, sex: str | None = None,
                 actor: str = "api") -> list[dict[str, Any]]:
    if not reason or not reason.strip():
        raise GatewayError("bad-request", "a reason for the search is required")
    q = m.LpdSearch(header=gw.header(m.MessageType.LPD_SEARCH, HUB), reason=reason, upn=upn,
                    surname=surname, forename=forename, dob=dob, sex=sex)
    answer = await _ask(gw, q)
    assert isinstance(answer, m.LpdResult)
    shown = ",".join(c.transfer_id for c in answer.candidates)  # ids only: what was disclosed
    await gw.store.audit.add(actor, "lpd-search", q.header.message_id,
                             f"{len(answer.candidates)} results{': ' + shown if shown else ''}"
                             f"; reason: {reason[:500]}")
    return [dataclasses.asdict(c) for c in answer.candidates]


async def claim(gw: Gateway, transfer_id: str, for_school: str, reason: str,
                actor: str = "api") -> str:
    if not reason or not reason.strip():
        raise GatewayError("bad-request", "a reason for the claim is required")
    c = m.LpdClaim(header=gw.header(m.MessageType.LPD_CLAIM, HUB), transfer_id=transfer_id,
                   for_school=for_school, reason=reason)
    await _ask(gw, c)
    await gw.store.audit.add(actor, "lpd-claim", c.header.message_id,
                         f"transfer {transfer_id} for {for_school}; reason: {reason[:500]}")
    return c.header.message_id
