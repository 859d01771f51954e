"""Sign-in and sign-out as plain HTTP routes on the app's own origin.

The browser posts an ordinary HTML form here, so the session cookie can be HttpOnly and SameSite=Strict:
page JavaScript never sees it, and the websocket sends it with its upgrade request, where
``SessionState`` reads it. Mounted in front of Reflex through ``rx.App(api_transformer=...)``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from atlas_app.cookie_shield import session_cookie
from atlas_app.form_posts import read_form, redirect, same_origin
from atlas_app.mfa_routes import set_session_cookie, start_second_step
from atlas_services import mfa, sessions
from atlas_services.client_address import client_address
from atlas_services.config import get_settings
from atlas_services.errors import InvalidInput, Throttled
from atlas_services.sso_config import SsoRequired

log = logging.getLogger(__name__)

LOGIN_PAGE = "/login"
HOME_PAGE = "/connections"
MAX_FORM_FIELDS = 10


async def login(request: Request) -> Response:
    if not same_origin(request, referer_will_do=True):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{LOGIN_PAGE}?error=1")
    try:
        # argon2 verification is deliberately slow: keep it off the event loop.
        # A right password opens a session, or (an authenticator, or a tenant requiring one) a second step.
        outcome = await run_in_threadpool(mfa.sign_in, form.get("email", ""), form.get("password", ""),
                                          client_address(request.client.host if request.client else "",
                                                         request.headers.getlist("x-forwarded-for"),
                                                         get_settings().trusted_proxy_networks))
    except InvalidInput:
        return redirect(f"{LOGIN_PAGE}?error=1")
    except Throttled:
        return redirect(f"{LOGIN_PAGE}?error=3")
    except SsoRequired:
        return redirect(f"{LOGIN_PAGE}?error=sso.required")
    except Exception as exc:  # noqa: BLE001 - the database is down, say; never show raw text
        log.error("sign-in failed: %s", type(exc).__name__)
        return redirect(f"{LOGIN_PAGE}?error=2")
    if outcome.session_token is None:
        return start_second_step(request, outcome)
    response = redirect(HOME_PAGE)
    set_session_cookie(response, request, outcome.session_token)
    return response


async def logout(request: Request) -> Response:
    if not same_origin(request, referer_will_do=True):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    cookie = session_cookie(request.url.scheme)
    token = request.cookies.get(cookie.name)
    if token:
        try:
            await run_in_threadpool(sessions.end_session, token)
        except Exception as exc:  # noqa: BLE001 - sign-out always clears the cookie
            log.error("sign-out failed: %s", type(exc).__name__)
    response = redirect(LOGIN_PAGE)
    response.delete_cookie(cookie.name, path="/", httponly=True, samesite="strict", secure=cookie.secure)
    return response


def build_auth_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes under."""
    return Starlette(routes=[
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ])
