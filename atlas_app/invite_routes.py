"""Inviting and accepting as plain HTTP form posts, so an invitation's password never travels as a Reflex
event argument (nor lands in Reflex's state, its Redis store, or its error logs).

Each route resolves the actor from the request's own session cookie, refuses any request whose Origin is
missing or foreign, and answers with a redirect to a page that shows a fixed message named by a short code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from atlas_app.cookie_shield import session_cookie
from atlas_app.form_posts import read_form, redirect, same_origin
from atlas_services import invitations, sessions
from atlas_services.authz import Actor
from atlas_services.errors import Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

INVITE_PATH = "/members/invite"
ACCEPT_PATH = "/invitations/accept"
MEMBERS_PAGE = "/members"
INVITATIONS_PAGE = "/invitations"
LOGIN_PAGE = "/login"
MAX_FORM_FIELDS = 5


Handler = Callable[[Actor, dict[str, str]], str]


def _signed_in_form_post(page: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Origin check, session cookie, form; then ``handler`` (in a thread: argon2 is slow) names the outcome."""

    async def endpoint(request: Request) -> Response:
        if not same_origin(request):
            return PlainTextResponse("Cross-site request refused", status_code=403)
        token = request.cookies.get(session_cookie(request.url.scheme).name)  # __Host- behind an https ATLAS_PUBLIC_URL
        actor = await run_in_threadpool(sessions.actor_for_session, token)
        if actor is None:
            return redirect(LOGIN_PAGE)
        form = await read_form(request, max_fields=MAX_FORM_FIELDS)
        if form is None:
            return redirect(f"{page}?outcome=invalid")
        try:
            outcome = await run_in_threadpool(handler, actor, form)
        except Exception as exc:  # noqa: BLE001 - never show raw text, never log the message (it is user input)
            log.error("%s failed: %s", request.url.path, type(exc).__name__)
            outcome = "error"
        return redirect(f"{page}?outcome={outcome}")

    return endpoint


def _invite(actor: Actor, form: dict[str, str]) -> str:
    try:
        invitations.invite_member(actor, email=form.get("email", ""), role=form.get("role", ""),
                                  password=form.get("password", ""))
    except Forbidden:
        return "denied"
    except invitations.AlreadyInvited:
        return "exists"
    except InvalidInput as exc:
        return exc.field if exc.field in {"email", "role", "password"} else "invalid"
    return "invited"


def _accept(actor: Actor, form: dict[str, str]) -> str:
    try:
        invitations.accept_invitation(actor.user_id, form.get("invitation_id", ""), form.get("password", ""))
    except NotFound:
        return "gone"
    except InvalidInput:
        return "wrong"
    return "accepted"


def build_invite_api() -> Starlette:
    return Starlette(routes=[
        Route(INVITE_PATH, _signed_in_form_post(MEMBERS_PAGE, _invite), methods=["POST"]),
        Route(ACCEPT_PATH, _signed_in_form_post(INVITATIONS_PAGE, _accept), methods=["POST"]),
    ])
