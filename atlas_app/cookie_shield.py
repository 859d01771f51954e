"""Keep the session token out of Reflex's state store.

Reflex copies the websocket upgrade request's headers, the Cookie header included, into ``State.router``,
and the state manager persists that (on disk, or in Redis with several workers). This ASGI middleware
rewrites the Cookie header of event-socket requests before Reflex sees it: the bearer token is replaced
by its SHA-256 digest (what ``user_sessions`` stores), and every other cookie is dropped. A digest
cannot be replayed: a client that sends ``atlas_session_hash`` itself has it dropped here.
"""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from atlas_services.sessions import SESSION_COOKIE, token_digest

SESSION_HASH_COOKIE = "atlas_session_hash"
EVENT_PATH_PREFIX = "/_event"


def cookie_value(cookie_headers: Iterable[str], name: str) -> str | None:
    """The first non-empty value of cookie ``name`` among Cookie header values."""
    for header in cookie_headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            jar = SimpleCookie()
        morsel = jar.get(name)
        if morsel is not None and morsel.value:
            return morsel.value
        # A malformed cookie from another app on this host must not hide ours.
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and value:
                return value
    return None


def shielded_cookie_header(cookie_headers: Iterable[str]) -> bytes | None:
    token = cookie_value(cookie_headers, SESSION_COOKIE)
    return f"{SESSION_HASH_COOKIE}={token_digest(token)}".encode() if token else None


class CookieShield:
    """ASGI middleware: event-socket requests reach Reflex with only the session digest as a cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and str(scope.get("path", "")).startswith(EVENT_PATH_PREFIX):
            headers = scope.get("headers", [])
            cookies = [value.decode("latin-1") for name, value in headers if name.lower() == b"cookie"]
            kept = [(name, value) for name, value in headers if name.lower() != b"cookie"]
            replacement = shielded_cookie_header(cookies)
            if replacement is not None:
                kept.append((b"cookie", replacement))
            scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)
