"""Probe: raw request targets with no credential must never reach an operator route."""
import asyncio

from gateway.web.app import create_app
from gateway.web.serve import serve
from tests.conftest import free_port, make_home

TARGETS = ["//v1/admin/outbox", "/v1/./admin/outbox", "/v1/x/../admin/outbox",
           "/./v1/admin/outbox", "/v1/admin/../admin/outbox", "/v1/%61dmin/outbox",
           "/v1/admin%2Foutbox", "http://127.0.0.1/v1/admin/outbox", "/v1/admin/outbox#x",
           "/v1/admin/outbox?x=1", "/V1/admin/outbox", "/v1/admin/outbox/", "/%2Fv1/admin/outbox",
           "/v1%2Fadmin%2Foutbox", "/v1/admin;/outbox", "/v1/admin/outbox;x"]


async def test_raw_targets(tmp_path):
    port = free_port()
    home = make_home(tmp_path, "355", port=port, extra='api_token = "op-token"\n')
    s = home.settings()
    stop = asyncio.Event()
    up = asyncio.Event()
    task = asyncio.create_task(serve(create_app(s, background=False), s, ready=up.set, stop=stop))
    await up.wait()
    bad = []
    try:
        for t in TARGETS:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(f"GET {t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = await r.read()
            w.close()
            status = data.split(b" ", 2)[1]
            print(t, status)
            if status == b"200":
                bad.append((t, data[-200:]))
    finally:
        stop.set()
        await task
    assert not bad, bad
