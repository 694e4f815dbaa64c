"""``/notifications`` (officers and managers): what the gateway told officers and managers,
newest first, urgent first: safeguarding escalations, escalated enquiries, watched children
found, open cases matching a new pupil, schools' late returns; with whether each was
e-mailed. Subjects name ids, never a child, so managers read it too."""

from __future__ import annotations

from aiohttp import web

from gateway.store import Role
from gateway.web.frame import allow, render, user_role
from gateway.web.keys import GATEWAY

routes = web.RouteTableDef()


@routes.get("/notifications")
@allow(Role.OFFICER, Role.MANAGER)
async def notifications_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    rows = await gw.store.notifications.recent(200)
    return render(request, "notifications.html", {
        "rows": rows, "officer": user_role(request) is Role.OFFICER,
        "email": bool(gw.settings.smtp_host)})
