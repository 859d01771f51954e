"""``POST /_upload`` acts for whoever sent the request, and only when that is who the tab is signed in as.

Reflex runs an upload as an event of the tab named by the ``reflex-client-token`` header, with that tab's
stored websocket headers: the request's own cookie plays no part. The tab token travels in the websocket URL
(so it lands in proxy logs), and holding it would be enough to create or rotate a credential as that tab's
user. This ASGI middleware (inside ``CookieShield``, which has replaced the cookie by its digest) lets an
upload through only when:

- it comes from this origin (``Origin`` present and naming this host);
- it names an upload handler (one declared with ``files_arg``) and a tab;
- its body fits ``MAX_UPLOAD_BYTES`` (a PFX file plus the form) in at most ``MAX_UPLOAD_PARTS`` parts;
  the body is counted before Reflex parses any of it (413 beyond the limit);
- its session cookie resolves to a live session, and the tab's websocket was opened with the same one.

Everything else is refused with a plain-text reason, and nothing runs.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from reflex.istate.wrappers import get_state
from reflex_base.registry import RegistrationContext
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_app.cookie_shield import SESSION_HASH_COOKIE, cookie_value
from atlas_app.pages.connections.credentials import MAX_PFX_READ
from atlas_app.state.guard import takes_files
from atlas_app.state.session import SessionState
from atlas_services import sessions

UPLOAD_PATH = "/_upload"
# The PFX file, plus the form that travels with it (a PEM paste of up to 256 KiB, JSON-escaped), plus framing.
MAX_UPLOAD_BYTES = MAX_PFX_READ + 2 * 256 * 1024 + 16 * 1024
MAX_UPLOAD_PARTS = 4
_DIGEST = re.compile(r"[0-9a-f]{64}")
_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)


class UploadRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UploadGate:
    """ASGI middleware for ``POST /_upload``: same origin, small, and the sender is the tab's user."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or \
                str(scope.get("path", "")).rstrip("/") != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        try:
            headers = _headers(scope)
            _check_request(headers)
            body = await _read_body(receive)
            _check_parts(headers, body)
            await _check_sender(headers)
        except UploadRefused as refused:
            await _answer(send, refused.status, refused.reason)
            return
        await self.app(scope, _replay(body, receive), send)


def _headers(scope: Scope) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in scope.get("headers", []):
        found.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return found


def _one(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name, [])
    return values[0] if len(values) == 1 else ""


def _check_request(headers: dict[str, list[str]]) -> None:
    origin, host = _one(headers, "origin"), _one(headers, "host")
    if not origin or origin == "null" or urlsplit(origin).netloc != host:
        raise UploadRefused(403, "Upload refused: it does not come from this site.")
    handler = _one(headers, "reflex-event-handler")
    registered = RegistrationContext.get().event_handlers.get(handler) if handler else None
    if registered is None or not takes_files(registered.handler.fn) or not _one(headers, "reflex-client-token"):
        raise UploadRefused(400, "Upload refused: it names no upload form.")
    length = _one(headers, "content-length")
    if length and (not length.isdigit() or int(length) > MAX_UPLOAD_BYTES):
        raise UploadRefused(413, f"Upload refused: more than {MAX_UPLOAD_BYTES // 1024:,} KiB.")


async def _read_body(receive: Receive) -> bytes:
    """The whole body, counted as it arrives (a missing or lying Content-Length changes nothing)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise UploadRefused(400, "Upload refused: the request ended early.")
        body += message.get("body", b"")
        if len(body) > MAX_UPLOAD_BYTES:
            raise UploadRefused(413, f"Upload refused: more than {MAX_UPLOAD_BYTES // 1024:,} KiB.")
        if not message.get("more_body", False):
            return bytes(body)


def _check_parts(headers: dict[str, list[str]], body: bytes) -> None:
    content_type = _one(headers, "content-type")
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise UploadRefused(400, "Upload refused: it is not a form upload.")
    delimiters = body.count(b"--" + match.group(1).encode("latin-1"))
    if delimiters - 1 > MAX_UPLOAD_PARTS:  # the last delimiter closes the body
        raise UploadRefused(413, f"Upload refused: more than {MAX_UPLOAD_PARTS} parts.")


async def _check_sender(headers: dict[str, list[str]]) -> None:
    sent = cookie_value(headers.get("cookie", []), SESSION_HASH_COOKIE) or ""
    if not _DIGEST.fullmatch(sent):
        raise UploadRefused(403, "Upload refused: sign in first.")
    if await _tab_session_hash(_one(headers, "reflex-client-token")) != sent:
        raise UploadRefused(403, "Upload refused: this tab is signed in as someone else. Reload the page.")
    if await asyncio.to_thread(sessions.actor_for_session_hash, sent) is None:
        raise UploadRefused(403, "Upload refused: sign in first.")


async def _tab_session_hash(client_token: str) -> str:
    """The session digest the tab's websocket was opened with ("" for a tab the server does not know)."""
    state: Any = await get_state(client_token, SessionState)
    return str(state._session_hash())


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer(send: Send, status: int, reason: str) -> None:
    body = reason.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
