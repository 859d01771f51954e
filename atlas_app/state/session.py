"""Who is using this tab: resolved from the HttpOnly session cookie on the websocket's upgrade request.

Identity never comes from event arguments, ``rx.Cookie`` or local storage. ``CookieShield`` has already
replaced the cookie's token by its digest (so the token never lands in the state store). The actor is
re-read from PostgreSQL on every new websocket connection (so every page load), whenever the digest
changes, and otherwise at least every ``ACTOR_CACHE_SECONDS``: a revoked session stops working on an open
page within that time. Everything here is private: every public State method is
callable from the browser.
"""

from __future__ import annotations

import asyncio
import re
import time

import reflex as rx

from atlas_app.cookie_shield import SESSION_HASH_COOKIE, cookie_value
from atlas_services import sessions
from atlas_services.authz import Actor, Capability, can

ACTOR_CACHE_SECONDS = 30.0
LOGIN_ROUTE = "/login"
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SessionState(rx.State):
    """The signed-in actor (backend only) plus what the header shows about them."""

    # Backend-only: never sent to the browser.
    _actor_value: Actor | None = None
    _actor_cache_key: str = ""
    _actor_checked_at: float = 0.0

    # Shown in the header; derived from the actor, never trusted as input.
    user_email: str = ""
    tenant_name: str = ""
    user_role: str = ""
    can_manage: bool = False
    can_run: bool = False

    async def _actor(self) -> Actor | None:
        """The actor for this event's websocket cookie, or None when not signed in."""
        session_hash = cookie_value([self.router.headers.cookie], SESSION_HASH_COOKIE) or ""
        if not _DIGEST.fullmatch(session_hash):
            session_hash = ""
        # The socket id comes from the server side of the connection, not from the client.
        cache_key = f"{self.router.session.session_id}:{session_hash}"
        # Wall-clock time: with several workers the state moves between processes.
        now = time.time()
        if (cache_key == self._actor_cache_key and self._actor_checked_at
                and 0 <= now - self._actor_checked_at < ACTOR_CACHE_SECONDS):
            return self._actor_value
        actor = await asyncio.to_thread(sessions.actor_for_session_hash, session_hash) if session_hash else None
        self._remember_actor(actor, cache_key, now)
        return actor

    def _remember_actor(self, actor: Actor | None, cache_key: str, checked_at: float) -> None:
        self._actor_value = actor
        self._actor_cache_key = cache_key
        self._actor_checked_at = checked_at
        self.user_email = actor.email if actor else ""
        self.tenant_name = actor.tenant_name if actor else ""
        self.user_role = actor.role if actor else ""
        self.can_manage = bool(actor and can(actor, Capability.PROVIDER_MANAGE))
        self.can_run = bool(actor and can(actor, Capability.PROVIDER_RUN))

    def _forget_actor(self) -> None:
        self._remember_actor(None, "", 0.0)
