"""Sign in with Microsoft's plain HTTP routes. The web process makes no outbound call: these routes read and write
PostgreSQL and enqueue the worker's two short tasks (atlas_jobs.sso), which talk to Entra through MSAL.

- ``GET /auth/sso/start?workspace=NAME``: a new flow, bound to this browser by an HttpOnly, SameSite=Lax cookie
  scoped to /auth/sso (Lax: Microsoft's redirect back is a cross-site top-level GET and must carry it).
- ``GET /auth/sso/wait``: a small page that refreshes itself until the worker has the authorization URL (then
  goes to Microsoft) or has decided the sign-in (then issues the session cookie exactly as the password login does,
  or shows the refusal on the login page).
- ``GET /auth/sso/callback``: Microsoft's answer; checked against this browser's flow (state in constant time),
  sealed onto the flow row, and redeemed by the worker.

No second factor follows: people signing in with Microsoft get MFA and Conditional Access from their own Entra.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from atlas_app.form_posts import redirect
from atlas_app.mfa_routes import set_session_cookie
from atlas_jobs.sso import enqueue_begin, enqueue_redeem
from atlas_services import sso_sign_in
from atlas_services.config import get_settings
from atlas_services.errors import ProviderError, Throttled
from atlas_services.reasons import ReasonCode

log = logging.getLogger(__name__)

FLOW_COOKIE = "atlas_sso_flow"
FLOW_PATH = "/auth/sso"
START_PATH = "/auth/sso/start"
WAIT_PATH = "/auth/sso/wait"
CALLBACK_PATH = "/auth/sso/callback"
LOGIN_PAGE = "/login"
HOME_PAGE = "/connections"


def _refused(code: str) -> Response:
    response = redirect(f"{LOGIN_PAGE}?error={code}")
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
    return response


def _flow_cookie(request: Request) -> tuple[str, str]:
    flow_id, _, browser = request.cookies.get(FLOW_COOKIE, "").partition(".")
    return flow_id, browser


async def _guarded(call: Callable[[], Any]) -> tuple[Any, Response | None]:
    try:
        return await run_in_threadpool(call), None
    except ProviderError as refused:
        return None, _refused(ReasonCode(refused.code).value)
    except Throttled:
        return None, redirect(f"{LOGIN_PAGE}?error=3")
    except Exception as exc:  # noqa: BLE001 - the database or queue is down, say; never show raw text
        log.error("sign in with Microsoft failed: %s", type(exc).__name__)
        return None, redirect(f"{LOGIN_PAGE}?error=2")


def _callback_url(request: Request) -> str:
    """ATLAS_PUBLIC_URL's callback when set (behind a proxy), else this request's own origin's."""
    base = get_settings().public_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + CALLBACK_PATH


async def start(request: Request) -> Response:
    workspace = request.query_params.get("workspace", "")
    browser = secrets.token_urlsafe(32)

    def begin() -> str:
        flow_id = sso_sign_in.start(workspace, browser, _callback_url(request))
        enqueue_begin(flow_id)
        return str(flow_id)

    flow_id, failed = await _guarded(begin)
    if failed is not None:
        return failed
    response = redirect(WAIT_PATH)
    response.set_cookie(FLOW_COOKIE, f"{flow_id}.{browser}", max_age=sso_sign_in.FLOW_MINUTES * 60, path=FLOW_PATH,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


_WAITING = ("<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='1'>"
            "<title>Signing in…</title></head><body style='font-family:sans-serif;text-align:center;"
            "padding-top:20vh'><p data-testid='sso-waiting'>Signing you in with Microsoft…</p></body></html>")


async def wait(request: Request) -> Response:
    flow_id, browser = _flow_cookie(request)
    view, failed = await _guarded(lambda: sso_sign_in.poll(flow_id, browser))
    if failed is not None:
        return failed
    if view.status == sso_sign_in.READY and view.auth_uri:
        return redirect(view.auth_uri)
    if view.status == sso_sign_in.REFUSED:
        return _refused(view.reason_code or ReasonCode.SSO_FLOW_UNKNOWN.value)
    if view.status == sso_sign_in.DONE:
        token, failed = await _guarded(lambda: sso_sign_in.finish(flow_id, browser))
        if failed is not None:
            return failed
        response = redirect(HOME_PAGE)
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
        set_session_cookie(response, request, token)
        return response
    return HTMLResponse(_WAITING, headers={"Cache-Control": "no-store"})


async def callback(request: Request) -> Response:
    flow_id, browser = _flow_cookie(request)
    params = dict(request.query_params.items())

    def record() -> None:
        enqueue_redeem(sso_sign_in.callback(flow_id, browser, params))

    _, failed = await _guarded(record)
    return failed if failed is not None else redirect(WAIT_PATH)


def build_sso_api() -> Starlette:
    """Mounted in front of Reflex, beside the sign-in routes."""
    return Starlette(routes=[
        Route(START_PATH, start, methods=["GET"]),
        Route(WAIT_PATH, wait, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ])
