"""The one place that turns a failure into an HTTP answer.

- On the partner endpoints (``/v1/messages``, ``/v1/transfers``) a refusal is an Error
  (``exchange.answers.error``: signed only when the request's signature verified) with the
  code's HTTP status, and is counted.
- Everywhere else (the operator API, health) it is JSON ``{"code", "error"}``.
- A failure we did not expect is logged by type and place (never its message, which may
  quote a child's details) and answered as ``internal-error``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.core.logsafe import failure
from gateway.exchange import answers
from gateway.hub.relay import HubRefused
from gateway.web.keys import GATEWAY, METRICS
from gateway.web.partners import xml

log = logging.getLogger(__name__)
PARTNER_PATHS = ("/v1/messages", "/v1/transfers")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _partner_refusal(request: web.Request, error: GatewayError) -> web.Response:
    request.app[METRICS].rejected.labels(error.code).inc()
    return xml(answers.error(request.app[GATEWAY], error), error.status)


@web.middleware
async def error_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    partner = request.path in PARTNER_PATHS
    try:
        return await handler(request)
    except web.HTTPException:
        raise  # aiohttp's own answers (404 for an unknown path, 405 for a wrong method)
    except GatewayError as exc:
        if partner:
            log.info("rejected code=%s path=%s peer=%s", exc.code, request.path,
                     request.remote)
            return _partner_refusal(request, exc)
        return web.json_response({"code": exc.code, "error": exc.text}, status=exc.status)
    except HubRefused as exc:  # the hub's own signed refusal, passed on to the officer
        return web.json_response({"code": exc.code, "error": exc.text}, status=exc.status)
    except ConnectionResetError:  # the client went away mid-request: nobody to answer
        request.app[METRICS].rejected.labels("client-disconnected").inc()
        log.info("client disconnected path=%s peer=%s", request.path, request.remote)
        return web.Response(status=400)
    except Exception as failed:
        log.error("request failed unexpectedly path=%s peer=%s: %s", request.path,
                  request.remote, failure(failed))
        err = GatewayError("internal-error")
        if partner:
            return _partner_refusal(request, err)
        return web.json_response({"code": err.code, "error": err.text}, status=err.status)
