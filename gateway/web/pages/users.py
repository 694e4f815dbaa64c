"""``/users`` (administrators): every user with their role and status; add a user (the
password is generated and shown once), disable one, or reset one (a new password, unlocked).
The same as ``cme-gateway users``; every change is audited."""

from __future__ import annotations

from aiohttp import web

from gateway.accounts import (
    add_user,
    check_role,
    check_username,
    disable_user,
    generate_password,
    reset_user,
)
from gateway.core.errors import GatewayError
from gateway.store import Role
from gateway.web.frame import actor, allow, render, session
from gateway.web.keys import GATEWAY

routes = web.RouteTableDef()


async def _page(request: web.Request, *, errors: list[dict[str, str]] | None = None,
                shown: tuple[str, str] | None = None, form: dict[str, str] | None = None,
                status: int = 200) -> web.Response:
    users = await request.app[GATEWAY].store.users.all()
    return render(request, "users.html", {"users": users, "errors": errors or [],
                                          "shown": shown, "form": form or {},
                                          "roles": [r.value for r in Role]}, status=status)


@routes.get("/users")
@allow(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/users")
@allow(Role.ADMIN)
async def users_post(request: web.Request) -> web.Response:
    store = request.app[GATEWAY].store
    form = await request.post()
    what = str(form.get("action", ""))
    name = str(form.get("username", ""))[:100]
    typed = {"username": name, "role": str(form.get("role", ""))[:20]}
    try:
        if what == "add":
            role = check_role(typed["role"])
            password = generate_password()
            row = await add_user(store, name, role, password, actor=actor(request))
            return await _page(request, shown=(row.username, password))
        user = check_username(name)
        me = session(request)
        if me is not None and user == me.user.username:
            raise GatewayError("bad-request", "you cannot disable or reset your own account "
                               "here; ask another administrator")
        if what == "disable":
            await disable_user(store, user, actor=actor(request))
            raise web.HTTPSeeOther("/users")
        if what == "reset":
            password = generate_password()
            await reset_user(store, user, password, actor=actor(request))
            return await _page(request, shown=(user, password))
        raise GatewayError("bad-request", "unknown action")
    except GatewayError as exc:
        return await _page(request, errors=[{"text": exc.text, "href": "#username"}],
                           form=typed, status=exc.status)
