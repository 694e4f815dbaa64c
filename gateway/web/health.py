"""``/healthz`` (party, role, outbox counts by state) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.web.keys import GATEWAY, METRICS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    counts = await gw.store.outbox.counts()
    return web.json_response({"party": gw.party, "role": gw.settings.role,
                              "outbox": {state.value: n for state, n in counts.items()}})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
