"""The second factor's plain HTTP routes: the second sign-in step, and setting up or removing an authenticator.

Codes, passwords, seeds and recovery codes travel only in ordinary form posts and server-rendered responses,
never as Reflex event arguments or state (which the state manager persists, in Redis with several workers).
The seed and the recovery codes are shown once, on a page rendered here with ``Cache-Control: no-store``.

Between the password and the second step the browser holds a challenge token in an HttpOnly, SameSite=Strict
cookie scoped to ``/auth`` (so it never reaches the event socket; CookieShield drops it there anyway). It is
single-use and short-lived; only its SHA-256 is stored.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from atlas_app.cookie_shield import session_cookie
from atlas_app.form_posts import read_form, redirect, same_origin
from atlas_services import mfa, sessions
from atlas_services.authz import Actor
from atlas_services.client_address import client_address
from atlas_services.config import get_settings
from atlas_services.errors import InvalidInput, NotFound, Throttled

log = logging.getLogger(__name__)

CHALLENGE_COOKIE = "atlas_second_factor"
CHALLENGE_PATH = "/auth"  # the cookie goes to the second-step routes only
SECOND_FACTOR_PATH = "/auth/second-factor"
ENROL_AT_SIGN_IN_PATH = "/auth/enrol"
ENROL_PATH = "/account/security/enrol"
REMOVE_PATH = "/account/security/remove"
RENEW_PATH = "/account/security/recovery-codes"
SECOND_FACTOR_PAGE = "/login/second-factor"
SECURITY_PAGE = "/account/security"
LOGIN_PAGE = "/login"
HOME_PAGE = "/connections"
MAX_FORM_FIELDS = 5
# The login page's message for a second step that is gone (expired, used, or never started).
STEP_GONE = f"{LOGIN_PAGE}?error=4"


def _client(request: Request) -> str:
    return client_address(request.client.host if request.client else "", request.headers.getlist("x-forwarded-for"),
                          get_settings().trusted_proxy_networks)


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Path=/ and no Domain (a __Host- cookie needs both)."""
    cookie = session_cookie(request.url.scheme)
    response.set_cookie(cookie.name, token, max_age=get_settings().session_hours * 3600, path="/",
                        httponly=True, samesite="strict", secure=cookie.secure)


def start_second_step(request: Request, outcome: mfa.SignIn) -> Response:
    """After a right password that needs a second factor: the challenge cookie and the way to the second step."""
    assert outcome.challenge is not None
    target = ENROL_AT_SIGN_IN_PATH if outcome.purpose == mfa.PURPOSE_ENROL else SECOND_FACTOR_PAGE
    response = redirect(target)
    ttl = mfa.ENROL_TTL if outcome.purpose == mfa.PURPOSE_ENROL else mfa.VERIFY_TTL
    response.set_cookie(CHALLENGE_COOKIE, outcome.challenge, max_age=int(ttl.total_seconds()), path=CHALLENGE_PATH,
                        httponly=True, samesite="strict", secure=session_cookie(request.url.scheme).secure)
    return response


def _forget_challenge(response: Response, request: Request) -> None:
    response.delete_cookie(CHALLENGE_COOKIE, path=CHALLENGE_PATH, httponly=True, samesite="strict",
                           secure=session_cookie(request.url.scheme).secure)


def _challenge(request: Request) -> str:
    return request.cookies.get(CHALLENGE_COOKIE, "")


# ---------------------------------------------------------------- the second step of sign-in


async def second_factor(request: Request) -> Response:
    if not same_origin(request, referer_will_do=True):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{SECOND_FACTOR_PAGE}?error=1")
    try:
        token = await run_in_threadpool(mfa.verify, _challenge(request), form.get("code", ""), _client(request))
    except NotFound:
        response = redirect(STEP_GONE)
        _forget_challenge(response, request)
        return response
    except InvalidInput:
        return redirect(f"{SECOND_FACTOR_PAGE}?error=1")
    except Throttled:
        return redirect(f"{SECOND_FACTOR_PAGE}?error=3")
    except Exception as exc:  # noqa: BLE001 - the database is down, say; never show raw text
        log.error("second sign-in step failed: %s", type(exc).__name__)
        return redirect(f"{SECOND_FACTOR_PAGE}?error=2")
    response = redirect(HOME_PAGE)
    set_session_cookie(response, request, token)
    _forget_challenge(response, request)
    return response


async def enrol_at_sign_in_page(request: Request) -> Response:
    try:
        offer = await run_in_threadpool(mfa.enrolment_offer_for_challenge, _challenge(request))
    except NotFound:
        return redirect(STEP_GONE)
    except Exception as exc:  # noqa: BLE001
        log.error("enrolment offer failed: %s", type(exc).__name__)
        return redirect(f"{LOGIN_PAGE}?error=2")
    intro = ("Your organisation requires a second factor for sign-in. Set up an authenticator app to continue.")
    return _offer_page(offer, ENROL_AT_SIGN_IN_PATH, intro, _error(request))


async def enrol_at_sign_in(request: Request) -> Response:
    if not same_origin(request, referer_will_do=True):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{ENROL_AT_SIGN_IN_PATH}?error=1")
    try:
        token, codes = await run_in_threadpool(mfa.confirm_enrolment_for_challenge, _challenge(request),
                                               form.get("code", ""), _client(request))
    except NotFound:
        return redirect(STEP_GONE)
    except InvalidInput as exc:
        return redirect(f"{ENROL_AT_SIGN_IN_PATH}?error={'1' if exc.field == 'code' else '4'}")
    except Throttled:
        return redirect(f"{ENROL_AT_SIGN_IN_PATH}?error=3")
    except Exception as exc:  # noqa: BLE001
        log.error("enrolment at sign-in failed: %s", type(exc).__name__)
        return redirect(f"{ENROL_AT_SIGN_IN_PATH}?error=2")
    response = _recovery_codes_page(codes, HOME_PAGE, "Continue to Atlas")
    set_session_cookie(response, request, token)
    _forget_challenge(response, request)
    return response


# ---------------------------------------------------------------- the signed-in user's own authenticator


def _signed_in(endpoint: Callable[[Request, Actor], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        if request.method == "POST" and not same_origin(request):
            return PlainTextResponse("Cross-site request refused", status_code=403)
        actor = await run_in_threadpool(sessions.actor_for_session,
                                        request.cookies.get(session_cookie(request.url.scheme).name))
        if actor is None:
            return redirect(LOGIN_PAGE)
        return await endpoint(request, actor)

    return wrapped


async def enrol_page(request: Request, actor: Actor) -> Response:
    try:
        offer = await run_in_threadpool(mfa.enrolment_offer, actor)
    except InvalidInput:
        return redirect(f"{SECURITY_PAGE}?outcome=already")
    except Exception as exc:  # noqa: BLE001
        log.error("enrolment offer failed: %s", type(exc).__name__)
        return redirect(f"{SECURITY_PAGE}?outcome=error")
    intro = "Scan the code with your authenticator app, then enter the code it shows to finish."
    return _offer_page(offer, ENROL_PATH, intro, _error(request), cancel=SECURITY_PAGE)


async def enrol(request: Request, actor: Actor) -> Response:
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{ENROL_PATH}?error=1")
    try:
        codes = await run_in_threadpool(mfa.confirm_enrolment, actor, form.get("code", ""), _client(request))
    except InvalidInput as exc:
        return redirect(f"{ENROL_PATH}?error=1" if exc.field == "code" else f"{SECURITY_PAGE}?outcome=invalid")
    except Throttled:
        return redirect(f"{ENROL_PATH}?error=3")
    except Exception as exc:  # noqa: BLE001
        log.error("enrolment failed: %s", type(exc).__name__)
        return redirect(f"{ENROL_PATH}?error=2")
    return _recovery_codes_page(codes, f"{SECURITY_PAGE}?outcome=enrolled", "Back to account security")


async def remove(request: Request, actor: Actor) -> Response:
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{SECURITY_PAGE}?outcome=invalid")
    try:
        # A password proof is checked with argon2: slow on purpose, so off the event loop.
        await run_in_threadpool(mfa.remove, actor, form.get("proof", ""), _client(request))
    except InvalidInput:
        return redirect(f"{SECURITY_PAGE}?outcome=wrong")
    except Throttled:
        return redirect(f"{SECURITY_PAGE}?outcome=throttled")
    except Exception as exc:  # noqa: BLE001
        log.error("authenticator removal failed: %s", type(exc).__name__)
        return redirect(f"{SECURITY_PAGE}?outcome=error")
    return redirect(f"{SECURITY_PAGE}?outcome=removed")


async def renew(request: Request, actor: Actor) -> Response:
    form = await read_form(request, max_fields=MAX_FORM_FIELDS)
    if form is None:
        return redirect(f"{SECURITY_PAGE}?outcome=invalid")
    try:
        codes = await run_in_threadpool(mfa.renew_recovery_codes, actor, form.get("code", ""), _client(request))
    except InvalidInput:
        return redirect(f"{SECURITY_PAGE}?outcome=wrong-code")
    except Throttled:
        return redirect(f"{SECURITY_PAGE}?outcome=throttled")
    except Exception as exc:  # noqa: BLE001
        log.error("renewing recovery codes failed: %s", type(exc).__name__)
        return redirect(f"{SECURITY_PAGE}?outcome=error")
    return _recovery_codes_page(codes, f"{SECURITY_PAGE}?outcome=renewed", "Back to account security",
                                heading="New recovery codes")


# ---------------------------------------------------------------- pages shown once (never cached)

_ERRORS = {
    "1": "That code is not valid. Enter the code your authenticator shows now.",
    "2": "This is unavailable right now. Try again in a moment.",
    "3": "Too many attempts. Wait a few minutes and try again.",
    "4": "There is nothing waiting to be confirmed. Start again.",
}
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1c2024}"
          "code,.codes{font-family:ui-monospace,monospace;font-size:1.05rem}"
          ".error{color:#ce2c31}input{font-size:1.1rem;padding:.4rem;width:10rem}"
          "button,.button{font-size:1rem;padding:.45rem 1rem;margin-top:.6rem}")


def _error(request: Request) -> str:
    code = request.query_params.get("error", "")
    return _ERRORS.get(code, "")


def _page(title: str, body: str) -> HTMLResponse:
    document = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} · Atlas"
                f"</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<style>{_STYLE}</style></head><body>{body}</body></html>")
    response = HTMLResponse(document)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
    # Not "no-referrer": under it the browser sends "Origin: null" with the page's own form post, which the
    # same-origin check (rightly) refuses.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _offer_page(offer: mfa.EnrolmentOffer, action: str, intro: str, error: str, cancel: str = "") -> HTMLResponse:
    secret = offer.secret.reveal()
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    body = (
        "<h1>Set up an authenticator</h1>"
        f"<p>{html.escape(intro)}</p>"
        + (f"<p class='error' data-testid='enrol-error'>{html.escape(error)}</p>" if error else "")
        + f"<img src='{html.escape(offer.qr_data_url)}' alt='QR code for your authenticator app' width='220' "
        "height='220' data-testid='enrol-qr'>"
        f"<p>Or enter this key by hand (account {html.escape(offer.account)}):<br>"
        f"<code data-testid='enrol-secret'>{html.escape(grouped)}</code></p>"
        f"<form method='post' action='{html.escape(action)}'>"
        "<label for='code'>Code from the app</label><br>"
        "<input id='code' name='code' inputmode='numeric' autocomplete='one-time-code' maxlength='9' required "
        "data-testid='enrol-code'><br><button type='submit' data-testid='enrol-submit'>Confirm</button></form>"
        + (f"<p><a href='{html.escape(cancel)}'>Cancel</a></p>" if cancel else "")
    )
    return _page("Set up an authenticator", body)


def _recovery_codes_page(codes: list[str], next_url: str, next_label: str,
                         heading: str = "Authenticator set up") -> HTMLResponse:
    items = "".join(f"<li data-testid='recovery-code'>{html.escape(code)}</li>" for code in codes)
    body = (
        f"<h1>{html.escape(heading)}</h1>"
        "<p>Keep these recovery codes somewhere safe. Each one signs you in once if you lose your authenticator. "
        "<strong>They are shown only now.</strong> Any earlier recovery codes no longer work.</p>"
        f"<ol class='codes'>{items}</ol>"
        f"<p><a class='button' href='{html.escape(next_url)}' data-testid='recovery-continue'>"
        f"{html.escape(next_label)}</a></p>"
    )
    return _page("Recovery codes", body)


def build_mfa_api() -> Starlette:
    """Mounted in front of Reflex, beside the sign-in routes."""
    return Starlette(routes=[
        Route(SECOND_FACTOR_PATH, second_factor, methods=["POST"]),
        Route(ENROL_AT_SIGN_IN_PATH, enrol_at_sign_in_page, methods=["GET"]),
        Route(ENROL_AT_SIGN_IN_PATH, enrol_at_sign_in, methods=["POST"]),
        Route(ENROL_PATH, _signed_in(enrol_page), methods=["GET"]),
        Route(ENROL_PATH, _signed_in(enrol), methods=["POST"]),
        Route(REMOVE_PATH, _signed_in(remove), methods=["POST"]),
        Route(RENEW_PATH, _signed_in(renew), methods=["POST"]),
    ])
