"""The frame every web page shares: templates, sign-in and roles, CSRF, security headers.

A page is one module in ``gateway/web/pages/`` with a ``routes`` table, and one template in
``gateway/web/templates/``. Each handler says who may use it with ``@allow(...)``; the
``pages`` middleware refuses everyone else before the handler runs (a page with no
``@allow`` is refused to all: fail closed). A form POST must carry the session's CSRF token.
Every page is served with a Content-Security-Policy (scripts only from this gateway, plus
the template's one inline line, by nonce; styles from this gateway, plus the style of an
inline SVG chart, by the same nonce), no caching, and no framing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.accounts import Session, csrf_ok, session_for
from gateway.core.errors import GatewayError
from gateway.store import Role
from gateway.web import views
from gateway.web.access import cookie_name
from gateway.web.keys import GATEWAY

HERE = Path(__file__).parent
STATIC = HERE / "static"
SESSION = web.RequestKey("session", Session)
NONCE = web.RequestKey("nonce", str)
PUBLIC: tuple[Role, ...] = ()
EVERYONE = (Role.OFFICER, Role.MANAGER, Role.ADMIN)
_ROLES = "_cme_roles"
MAX_FORM = 64 * 1024  # a page's form is a few fields
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_PAGES = ("/v1/", "/healthz", "/metrics", "/static/")


def allow(*roles: Role, public: bool = False) -> Callable[[Handler], Handler]:
    """Who may use a page: ``@allow(Role.OFFICER)``; ``@allow(public=True)`` for sign-in."""
    def mark(handler: Handler) -> Handler:
        setattr(handler, _ROLES, PUBLIC if public else tuple(roles))
        return handler
    return mark


def setup(app: web.Application) -> None:
    loader = jinja2.ChoiceLoader([
        jinja2.PackageLoader("gateway.web", "templates"),
        jinja2.PrefixLoader({"govuk_frontend_jinja": jinja2.PackageLoader(
            "govuk_frontend_jinja")}),
    ])
    # auto_reload off: the templates are package files, and checking each one's mtime on
    # every use (the govuk macros import others on every call) cost a stat per use.
    env = aiohttp_jinja2.setup(app, loader=loader, autoescape=True, auto_reload=False,
                               trim_blocks=True, lstrip_blocks=True)
    env.filters["quote"] = lambda v: quote(str(v), safe="")
    env.filters["when"] = views.when
    env.filters["day"] = views.day
    app.router.add_static("/static/", STATIC, name="static", append_version=True)


def session(request: web.Request) -> Session | None:
    return request.get(SESSION)


def user_role(request: web.Request) -> Role | None:
    s = session(request)
    return s.user.role if s else None


def actor(request: web.Request) -> str:
    s = session(request)
    return f"user:{s.user.username}" if s else "web"


def render(request: web.Request, template: str, context: Mapping[str, Any],
           status: int = 200) -> web.Response:
    gw = request.app[GATEWAY]
    s = session(request)
    base = {"authority": gw.settings.display_name, "party": gw.party, "session": s,
            "role": s.user.role.value if s else None,
            "csrf_token": s.csrf_token if s else "", "cspNonce": request.get(NONCE, ""),
            "path": request.path, "cnis_on": gw.settings.cnis_register == "on",
            "static": lambda name: request.app.router["static"].url_for(
                filename=name)}
    return aiohttp_jinja2.render_template(template, request, {**base, **context},
                                          status=status)


def _secure_headers(response: web.StreamResponse, nonce: str) -> None:
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        f"img-src 'self' data:; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        f"base-uri 'none'; object-src 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"


async def load_session(request: web.Request) -> Session | None:
    gw = request.app[GATEWAY]
    sid = request.cookies.get(cookie_name(gw.settings.cookie_secure))
    if not sid:
        return None
    try:
        return await session_for(gw.store, gw.clock, gw.settings, sid)
    except GatewayError:
        return None


def _sign_in_redirect(request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else "/"
    raise web.HTTPSeeOther(f"/sign-in?next={quote(target, safe='')}")


@web.middleware
async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Roles, CSRF and headers for every page (everything but the API, health and static)."""
    if request.path.startswith(NOT_PAGES) or request.match_info.http_exception is not None:
        return await handler(request)
    nonce = secrets.token_urlsafe(16)
    request[NONCE] = nonce
    try:
        response = await _checked(request, handler)
    except web.HTTPException as exc:
        _secure_headers(exc, nonce)
        raise
    except GatewayError as exc:
        response = error_page(request, exc)
    _secure_headers(response, nonce)
    return response


async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    roles = getattr(request.match_info.handler, _ROLES, None)
    found = await load_session(request)
    if found is not None:
        request[SESSION] = found
    if roles is None:  # a page without @allow: nobody
        raise GatewayError("role-forbidden", "this page declares no roles")
    if roles != PUBLIC:
        if found is None:
            return _sign_in_redirect(request)
        if found.user.role not in roles:
            raise GatewayError("role-forbidden")
    if request.method == "POST":
        if request.content_length is not None and request.content_length > MAX_FORM:
            raise GatewayError("body-too-large", f"a form is at most {MAX_FORM} bytes")
        try:
            form = await request.post()
        except (ValueError, AssertionError, UnicodeDecodeError):  # a body that is no form
            raise GatewayError("bad-request", "the form could not be read") from None
        token = form.get("csrf_token")
        if found is not None and not csrf_ok(found, token if isinstance(token, str) else None):
            raise GatewayError("csrf-invalid")
    return await handler(request)


def error_page(request: web.Request, exc: GatewayError) -> web.Response:
    return render(request, "error.html", {"error": exc}, status=exc.status)
