"""Baseline: a bare aiohttp handler that reads the body and answers 200 (no XML, no crypto),
on the event loop ``serve`` uses (uvloop where installed; ``--loop asyncio`` as argument 2)."""

import asyncio
import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"<ok/>", content_type="application/xml")


app = web.Application(client_max_size=2 * 1024 * 1024)
app.router.add_post("/v1/messages", handle)
app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
loop = None
if sys.argv[2:3] != ["asyncio"]:
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:
        pass
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
            loop=loop or asyncio.new_event_loop())
