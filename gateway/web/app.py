"""aiohttp application: ``create_app(settings)``.

Partner endpoint: ``POST /v1/messages`` (signed XML in, signed Receipt or Error out).
Operator API under ``/v1/admin/`` needs ``Authorization: Bearer <api_token>``.
Health at ``/healthz``, Prometheus metrics at ``/metrics``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.core.httpio import read_limited
from gateway.core.logsafe import failure
from gateway.exchange import inbound as pipeline
from gateway.exchange.gateway import Gateway
from gateway.exchange.sender import Sender
from gateway.exchange.spool import Spool
from gateway.store.store import STATES
from gateway.web import admin, transfers_view
from gateway.workflow.matching import MatchWorker

log = logging.getLogger(__name__)

GATEWAY = web.AppKey("gateway", Gateway)
SENDER = web.AppKey("sender", Sender)
METRICS = web.AppKey("metrics", dict)
REGISTRY = web.AppKey("registry", CollectorRegistry)
XML = "application/xml"


def _xml(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type=XML, charset="utf-8")


async def post_message(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    metrics = request.app[METRICS]
    limit = gw.settings.max_body_bytes
    body = b""
    with metrics["latency"].time():
        try:
            if request.content_length is not None and request.content_length > limit:
                raise GatewayError("body-too-large", f"{request.content_length} bytes")
            body = await read_limited(request.content, limit)
            accepted = await pipeline.receive(gw, body)
        except GatewayError as exc:
            metrics["rejected"].labels(exc.code).inc()
            log.info("rejected code=%s peer=%s", exc.code, request.remote)
            return _xml(pipeline.error_message(gw, exc, body), exc.status)
        except Exception as failed:
            log.error("inbound failed unexpectedly peer=%s: %s", request.remote,
                      failure(failed))
            err = GatewayError("internal-error")
            metrics["rejected"].labels(err.code).inc()
            return _xml(pipeline.error_message(gw, err, body), 500)
    metrics["accepted"].labels(accepted.message.header.message_type.value).inc()
    sender = request.app.get(SENDER)
    if sender is not None and not accepted.duplicate:
        sender.wake.set()
    return _xml(accepted.receipt, 200)


async def healthz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    counts = await gw.store.counts()
    return web.json_response({"party": gw.party, "role": gw.settings.role, "outbox": counts})


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def api_errors(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
    """One place that turns GatewayErrors into JSON for the operator API."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return web.json_response({"code": exc.code, "error": exc.text}, status=exc.status)


@web.middleware
async def require_token(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    if request.path.startswith("/v1/admin/"):
        token = request.app[GATEWAY].settings.api_token
        if not token:
            raise GatewayError("admin-api-disabled")
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise GatewayError("unauthorized")
    return await handler(request)


def create_app(settings: Settings, *, background: bool = True,
               spool: bool = True) -> web.Application:
    """The gateway app. ``background`` runs the sender (safe in every process: leases);
    ``spool`` the spool-folder task (one process per gateway home only)."""
    app = web.Application(middlewares=[api_errors, require_token],
                          client_max_size=settings.max_body_bytes + 1024)
    # (/v1/transfers streams its multipart body and applies max_ctf_bytes itself)
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[METRICS] = {
        "accepted": Counter("cme_inbound_accepted_total", "Inbound messages accepted",
                            ["type"], registry=registry),
        "rejected": Counter("cme_inbound_rejected_total", "Inbound messages rejected",
                            ["code"], registry=registry),
        "latency": Histogram("cme_inbound_seconds", "Inbound handling time", registry=registry),
        "outbound": Counter("cme_outbound_attempts_total", "Delivery attempts by outcome",
                            ["outcome"], registry=registry),
        "outbox": Gauge("cme_outbox_messages", "Outbox messages by state", ["state"],
                        registry=registry),
    }

    async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
        gw = await Gateway.open(settings)
        app[GATEWAY] = gw
        yield
        await gw.close()

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        gw = app[GATEWAY]
        session = aiohttp.ClientSession()
        metrics = app[METRICS]

        def depth(counts: dict[str, int]) -> None:
            for state in STATES:
                metrics["outbox"].labels(state).set(counts.get(state, 0))

        sender = Sender(gw, session, outcomes=lambda k: metrics["outbound"].labels(k).inc(),
                        depth=depth)
        app[SENDER] = sender
        tasks = [asyncio.create_task(sender.run(), name="sender")]
        if spool:
            tasks.append(asyncio.create_task(Spool(gw).run(), name="spool"))
            tasks.append(asyncio.create_task(MatchWorker(gw).run(), name="matcher"))
        yield
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sender.drain()
        await session.close()

    app.cleanup_ctx.append(gateway_ctx)
    if background:
        app.cleanup_ctx.append(workers_ctx)
    app.router.add_post("/v1/messages", post_message)
    app.router.add_post("/v1/transfers", transfers_view.make_handler(GATEWAY))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    admin.add_routes(app, GATEWAY)
    return app
