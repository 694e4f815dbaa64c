"""aiohttp application: ``create_app(settings)``, and where the running gateway is put
together: the inbound pipeline with its handlers, the sender, the spool folders, the
background matcher and the workflow (monitoring, notifications, the chaser of overdue
replies).

Partner endpoints: ``POST /v1/messages`` and ``POST /v1/transfers`` (``partners.py``).
Operator API under ``/v1/admin/`` (``operator.py``) needs ``Authorization: Bearer
<api_token>`` or an API client's token (``access.py``). Health at ``/healthz``, Prometheus
metrics at ``/metrics`` (``health.py``). The web pages for people (sign-in, outbox,
diagnostics, users) are ``pages/``, in the frame of ``frame.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.calendar import calendar_for
from gateway.core.clock import SYSTEM, Clock
from gateway.core.config import Settings
from gateway.exchange.gateway import Gateway
from gateway.exchange.handlers import EXCHANGE, Handler
from gateway.exchange.inbound import Inbound
from gateway.exchange.sender import Sender
from gateway.exchange.spool import Spool
from gateway.hub.handlers import HubEvents, hub_handlers
from gateway.messages import model as m
from gateway.store import OutboxState
from gateway.web import cnis, frame, health, operator, partners, workflow
from gateway.web.access import require_access
from gateway.web.errors import error_answers
from gateway.web.keys import CALENDAR, GATEWAY, INBOUND, METRICS, SENDER, Metrics
from gateway.web.pages import MODULES
from gateway.workflow.cases import ClaimNoticed, ReferralArrived
from gateway.workflow.chasing import ChaseWorker
from gateway.workflow.cnis import RegisterTransferArrived
from gateway.workflow.matching import MatchWorker
from gateway.workflow.monitoring import MonitorWorker, TravellerMoveArrived
from gateway.workflow.notices import SchoolNoticeArrived
from gateway.workflow.notify import Notifier

log = logging.getLogger(__name__)


def handlers(events: HubEvents | None = None) -> dict[m.MessageType, Handler]:
    """One handler per message type, for one gateway."""
    return {**EXCHANGE, **hub_handlers(events), m.MessageType.REFERRAL: ReferralArrived(),
            m.MessageType.CLAIM_NOTICE: ClaimNoticed(),
            m.MessageType.REGISTER_TRANSFER: RegisterTransferArrived(),
            m.MessageType.TRAVELLER_MOVE: TravellerMoveArrived(),
            m.MessageType.SCHOOL_NOTICE: SchoolNoticeArrived()}


def inbound_for(gw: Gateway, events: HubEvents | None = None) -> Inbound:
    """The inbound pipeline of ``gw`` with every message type's handler."""
    return Inbound(gw, handlers(events))


def create_app(settings: Settings, *, background: bool = True, spool: bool = True,
               clock: Clock = SYSTEM) -> web.Application:
    """The gateway app. ``background`` runs the sender (safe in every process: leases);
    ``spool`` the spool-folder task, the matcher, the workflow and the chaser (one process
    per gateway home only)."""
    app = web.Application(middlewares=[error_answers, require_access, frame.pages],
                          client_max_size=settings.max_body_bytes + 1024)
    # (/v1/transfers streams its multipart body and applies max_ctf_bytes itself)
    app[METRICS] = Metrics.create()
    app[health.COUNTS] = health.CachedCounts()

    async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
        # a calendar file that does not load stops start-up, here
        app[CALENDAR] = calendar_for(settings)
        gw = await Gateway.open(settings, clock)
        app[GATEWAY] = gw
        swept = await asyncio.to_thread(partners.sweep_incoming, settings)
        if swept:
            log.info("removed %d unfinished CTF upload(s) left by an earlier process", swept)
        if stranded := await gw.store.payloads.not_shared():
            log.warning("%d stored CTF(s) are files that only the host holding them can "
                        "serve; run 'cme-gateway ctf move-to-database' there", stranded)
        app[INBOUND] = inbound_for(gw, app[METRICS])
        yield
        await gw.close()

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        gw = app[GATEWAY]
        session = aiohttp.ClientSession()
        metrics = app[METRICS]

        def depth(counts: dict[OutboxState, int]) -> None:
            for state in OutboxState:
                metrics.outbox.labels(state.value).set(counts.get(state, 0))

        # One counter child per outcome, looked up once: ``labels()`` takes a lock and
        # hashes its arguments on every call, once per delivery.
        outcome_counters = {k: metrics.outbound.labels(k)
                            for k in ("delivered", "retry", "failed", "expired")}

        def outcome(kind: str) -> None:
            counter = outcome_counters.get(kind) or metrics.outbound.labels(kind)
            counter.inc()

        sender = Sender(gw, session, outcomes=outcome, depth=depth)
        app[SENDER] = sender
        tasks = [asyncio.create_task(sender.run(), name="sender")]
        if spool:
            tasks.append(asyncio.create_task(Spool(gw).run(), name="spool"))
            tasks.append(asyncio.create_task(MatchWorker(gw).run(), name="matcher"))
            tasks.append(asyncio.create_task(MonitorWorker(gw).run(), name="workflow"))
            tasks.append(asyncio.create_task(Notifier(gw).run(), name="notify"))
            tasks.append(asyncio.create_task(ChaseWorker(gw).run(), name="chaser"))
        yield
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sender.drain()
        await session.close()

    app.cleanup_ctx.append(gateway_ctx)
    if background:
        app.cleanup_ctx.append(workers_ctx)
    for table in (partners.routes, health.routes, operator.routes, workflow.routes,
                  cnis.routes):
        app.router.add_routes(table)
    frame.setup(app)
    for page in MODULES:
        app.router.add_routes(page.routes)
    return app
