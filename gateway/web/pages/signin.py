"""Signing in and out. ``/`` sends a signed-in user to their start page, anyone else to
``/sign-in``. The sign-in form has its own CSRF token (a cookie and a hidden field that must
match) since there is no session yet; signing out is a POST with the session's token."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from gateway.accounts import MAX_PASSWORD, MAX_USERNAME, sign_in, sign_out
from gateway.core.errors import GatewayError
from gateway.store import Role
from gateway.web.frame import EVERYONE, allow, cookie_name, render, session
from gateway.web.keys import GATEWAY

routes = web.RouteTableDef()
PRE_COOKIE = "cme_signin"
START = {Role.OFFICER: "/outbox", Role.MANAGER: "/outbox", Role.ADMIN: "/diagnostics"}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never ``//host`` or a scheme) is followed after sign-in."""
    if not target or len(target) > 500 or not target.startswith("/"):
        return None
    # No control character or backslash anywhere (a browser drops tabs and line feeds, so
    # "/\t/evil.example" would become "//evil.example"), and no scheme or host once parsed.
    if any(c < " " or c in "\\\x7f" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@routes.get("/")
@allow(public=True)
async def home(request: web.Request) -> web.Response:
    s = session(request)
    raise web.HTTPSeeOther(START[s.user.role] if s else "/sign-in")


def _form(request: web.Request, *, errors: list[dict[str, str]] | None = None,
          username: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", {
        "signin_token": token, "errors": errors or [], "username": username,
        "next": _safe_next(request.query.get("next")) or ""}, status=status)
    secure = request.app[GATEWAY].settings.cookie_secure
    response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="Strict", secure=secure,
                        path="/sign-in", max_age=3600)
    return response


@routes.get("/sign-in")
@allow(public=True)
async def sign_in_page(request: web.Request) -> web.Response:
    if session(request) is not None:
        raise web.HTTPSeeOther("/")
    return _form(request)


@routes.post("/sign-in")
@allow(public=True)
async def sign_in_post(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    form = await request.post()
    given = str(form.get("signin_token", ""))
    expected = request.cookies.get(PRE_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise GatewayError("csrf-invalid", "sign-in form")
    username = str(form.get("username", ""))[:MAX_USERNAME + 1]
    password = str(form.get("password", ""))[:MAX_PASSWORD + 1]
    errors = []
    if not username.strip():
        errors.append({"text": "Enter your user name", "href": "#username"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    if errors:
        return _form(request, errors=errors, username=username, status=400)
    try:
        s = await sign_in(gw.store, gw.clock, username, password, peer=request.remote)
    except GatewayError as exc:
        return _form(request, errors=[{"text": exc.sentence, "href": "#username"}],
                     username=username, status=exc.status)
    now = gw.clock.time()  # sessions past either time-out are deleted here, not only on use
    await gw.store.sessions.purge(now - gw.settings.session_idle_seconds,
                                  now - gw.settings.session_absolute_seconds)
    target = _safe_next(str(form.get("next", ""))) or START[s.user.role]
    response = web.HTTPSeeOther(target)
    response.set_cookie(cookie_name(gw.settings.cookie_secure), s.session_id, httponly=True,
                        samesite="Strict", secure=gw.settings.cookie_secure, path="/")
    response.del_cookie(PRE_COOKIE, path="/sign-in", secure=gw.settings.cookie_secure,
                        httponly=True, samesite="Strict")
    raise response


@routes.post("/sign-out")
@allow(*EVERYONE)
async def sign_out_post(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    s = session(request)
    assert s is not None  # @allow(EVERYONE) let only a session through
    await sign_out(gw.store, s)
    response = web.HTTPSeeOther("/sign-in")
    response.del_cookie(cookie_name(gw.settings.cookie_secure), path="/",
                        secure=gw.settings.cookie_secure, httponly=True, samesite="Strict")
    raise response
