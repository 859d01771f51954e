"""The session cookie at the web tier's edge: its name, one per request, and never in Reflex's state store.

Reflex copies the websocket upgrade request's headers, the Cookie header included, into ``State.router``,
and the state manager persists that (on disk, or in Redis with several workers). This ASGI middleware
rewrites the Cookie header of event-socket and upload requests before Reflex sees them: the bearer token is
replaced by its SHA-256 digest (what ``user_sessions`` stores), and every other cookie is dropped. A digest
cannot be replayed: a client that sends ``atlas_session_hash`` itself has it dropped here.

A request that carries more than one session cookie (one planted by a sibling host, say, beside ours) is
refused outright, on every route: which one would win is exactly what an attacker wants to choose.

Behind a TLS-terminating proxy the app never sees https itself, so ``ATLAS_PUBLIC_URL`` says what users see:
when it is https, the cookie is ``__Host-atlas_session`` (Secure, Path=/, no Domain: the browser refuses it
otherwise, and no sibling host can set it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from atlas_services.config import get_settings
from atlas_services.sessions import SESSION_COOKIE, token_digest

SESSION_HASH_COOKIE = "atlas_session_hash"
HOST_SESSION_COOKIE = f"__Host-{SESSION_COOKIE}"
SHIELDED_PATH_PREFIXES = ("/_event", "/_upload")
TWO_SESSIONS = "Refused: this request carries more than one Atlas session cookie. Clear this site's cookies " \
               "and sign in again."


@dataclasses.dataclass(frozen=True)
class SessionCookie:
    name: str
    secure: bool


def session_cookie(request_scheme: str) -> SessionCookie:
    """The session cookie's name and Secure flag for this deployment (``ATLAS_PUBLIC_URL``)."""
    if urlsplit(get_settings().public_url).scheme == "https":
        return SessionCookie(HOST_SESSION_COOKIE, True)
    return SessionCookie(SESSION_COOKIE, request_scheme == "https")


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


def session_cookie_count(cookie_headers: Iterable[str]) -> int:
    """How many session cookies (under either name) the headers carry."""
    names = {SESSION_COOKIE, HOST_SESSION_COOKIE}
    return sum(1 for header in cookie_headers for part in header.split(";")
               if part.strip().partition("=")[0] in names)


def shielded_cookie_header(cookie_headers: Iterable[str], scheme: str = "http") -> bytes | None:
    token = cookie_value(cookie_headers, session_cookie(scheme).name)
    return f"{SESSION_HASH_COOKIE}={token_digest(token)}".encode() if token else None


def _scheme(scope: Scope) -> str:
    return "https" if scope.get("scheme") in ("https", "wss") else "http"


class CookieShield:
    """ASGI middleware: one session cookie per request; Reflex sees only its digest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        cookies = [value.decode("latin-1") for name, value in headers if name.lower() == b"cookie"]
        if session_cookie_count(cookies) > 1:
            await _refuse_two_sessions(scope, send)
            return
        if str(scope.get("path", "")).startswith(SHIELDED_PATH_PREFIXES):
            kept = [(name, value) for name, value in headers if name.lower() != b"cookie"]
            replacement = shielded_cookie_header(cookies, _scheme(scope))
            if replacement is not None:
                kept.append((b"cookie", replacement))
            scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)


async def _refuse_two_sessions(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before the handshake: the client gets 403
        return
    body = TWO_SESSIONS.encode()
    await send({"type": "http.response.start", "status": 400, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
