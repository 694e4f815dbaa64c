"""docs/openapi.yaml describes every route of the JSON operator API, with the methods the app
serves (a route added without its description fails here)."""

from __future__ import annotations

import re

from gateway.core.config import Settings
from gateway.web.app import create_app
from tests.conftest import ROOT


def test_every_operator_route_is_in_the_openapi_file() -> None:
    text = (ROOT / "docs" / "openapi.yaml").read_text()
    documented: dict[str, set[str]] = {}
    path = None
    for line in text.splitlines():
        found = re.fullmatch(r"  (/v1/admin/\S+):", line)
        if found:
            path = found.group(1)
            documented[path] = set()
        elif path and (m := re.fullmatch(r"    (get|post|put|delete):", line)):
            documented[path].add(m.group(1).upper())
    app = create_app(Settings(party="355"), background=False)
    served: dict[str, set[str]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        p = info.get("path") or info.get("formatter")
        if p and p.startswith("/v1/admin/") and route.method != "HEAD":
            served.setdefault(p, set()).add(route.method)
    assert served == documented
