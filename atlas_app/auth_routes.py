"""Sign-in and sign-out as plain HTTP routes on the app's own origin.

The browser posts an ordinary HTML form here, so the session cookie can be HttpOnly and SameSite=Strict:
page JavaScript never sees it, and the websocket sends it with its upgrade request, where
``SessionState`` reads it. Mounted in front of Reflex through ``rx.App(api_transformer=...)``.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from atlas_app.cookie_shield import session_cookie
from atlas_services import sessions
from atlas_services.client_address import client_address
from atlas_services.config import get_settings
from atlas_services.errors import InvalidInput, Throttled

log = logging.getLogger(__name__)

LOGIN_PAGE = "/login"
HOME_PAGE = "/connections"
MAX_FORM_BYTES = 8 * 1024


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (login CSRF): Origin, else Referer, must name this host.

    Browsers send Origin with every form post; a request with neither header is refused too.
    """
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer is not None:
        return urlsplit(referer).netloc == host
    return False


async def _form(request: Request) -> dict[str, str] | None:
    """The url-encoded form fields (first value each), or None when the body is too big or not a form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in fields.items() if values}


def _redirect(path: str) -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def login(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    form = await _form(request)
    if form is None:
        return _redirect(f"{LOGIN_PAGE}?error=1")
    try:
        # argon2 verification is deliberately slow: keep it off the event loop.
        token = await run_in_threadpool(sessions.authenticate, form.get("email", ""), form.get("password", ""),
                                        client_address(request.client.host if request.client else "",
                                                       request.headers.getlist("x-forwarded-for"),
                                                       get_settings().trusted_proxy_networks))
    except InvalidInput:
        return _redirect(f"{LOGIN_PAGE}?error=1")
    except Throttled:
        return _redirect(f"{LOGIN_PAGE}?error=3")
    except Exception as exc:  # noqa: BLE001 - the database is down, say; never show raw text
        log.error("sign-in failed: %s", type(exc).__name__)
        return _redirect(f"{LOGIN_PAGE}?error=2")
    response = _redirect(HOME_PAGE)
    cookie = session_cookie(request.url.scheme)
    response.set_cookie(
        cookie.name,
        token,
        max_age=get_settings().session_hours * 3600,
        path="/",  # and no Domain: a __Host- cookie must have both
        httponly=True,
        samesite="strict",
        secure=cookie.secure,
    )
    return response


async def logout(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    cookie = session_cookie(request.url.scheme)
    token = request.cookies.get(cookie.name)
    if token:
        try:
            await run_in_threadpool(sessions.end_session, token)
        except Exception as exc:  # noqa: BLE001 - sign-out always clears the cookie
            log.error("sign-out failed: %s", type(exc).__name__)
    response = _redirect(LOGIN_PAGE)
    response.delete_cookie(cookie.name, path="/", httponly=True, samesite="strict", secure=cookie.secure)
    return response


def build_auth_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes under."""
    return Starlette(routes=[
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ])
