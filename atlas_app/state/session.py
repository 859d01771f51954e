"""Who is using this tab: resolved from the HttpOnly session cookie on the websocket's upgrade request.

Identity never comes from event arguments, ``rx.Cookie`` or local storage. ``CookieShield`` has already
replaced the cookie's token by its digest (so the token never lands in the state store). The actor (session,
membership and role, one query) is re-read from PostgreSQL for every event: a revoked session, a removed or
demoted member is refused by the very next click. Only the timer polls of what a tab already shows (the
guard's ``temporal=True`` handlers) may reuse a check younger than ``ACTOR_CACHE_SECONDS``. Signed-in pages
also send a heartbeat every ``HEARTBEAT_SECONDS``, so an open page that nobody touches is sent to the login
page soon after its session ends (a removed member, say).

Every public method is callable from the browser, so the public ones here are declared through
``atlas_app.state.guard``; everything else is private.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, TypeVar

import reflex as rx
from reflex.state import BaseState
from reflex_base.event import EventSpec

from atlas_app.cookie_shield import SESSION_HASH_COOKIE, cookie_value
from atlas_app.state.guard import SIGNED_IN, ignored_arg, requires_capability, uuid_arg
from atlas_app.state.messages import user_message
from atlas_services import sessions
from atlas_services.authz import Actor, Capability, can
from atlas_services.errors import NotFound

log = logging.getLogger(__name__)

ACTOR_CACHE_SECONDS = 5.0  # timer polls only; never more than 5 s (issue 9)
HEARTBEAT_SECONDS = 10.0
LOGIN_ROUTE = "/login"
HOME_ROUTE = "/connections"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass
class TenantChoice:
    id: str = ""
    name: str = ""


P = ParamSpec("P")
T = TypeVar("T")


class Failed(enum.Enum):
    """What ``SessionState._call`` returns when the service failed (the user has been told)."""

    FAILED = "failed"


FAILED = Failed.FAILED


def _clock() -> float:
    """Wall-clock seconds (with several workers a tab's state moves between processes)."""
    return time.time()


def _lookup(session_hash: str) -> tuple[Actor | None, list[TenantChoice]]:
    """The actor behind a session digest and the tenants its user may switch to (blocking: call in a thread)."""
    actor = sessions.actor_for_session_hash(session_hash) if session_hash else None
    if actor is None:
        return None, []
    return actor, [TenantChoice(id=str(tenant_id), name=name) for tenant_id, name, _ in sessions.tenants_for(actor)]


def _state_tree(cls: type[BaseState]) -> list[type[BaseState]]:
    found: list[type[BaseState]] = []
    for substate in cls.get_substates():
        found += [substate, *_state_tree(substate)]
    return found


async def forget_tab(session: SessionState) -> None:
    """Reset every application state of this tab (loading those not loaded yet): a new user or tenant starts
    from nothing. See atlas_app.state.tab_identity."""
    loaded: set[type[BaseState]] = set()
    pending: list[BaseState] = [session]
    while pending:
        state = pending.pop()
        loaded.add(type(state))
        pending.extend(state.substates.values())
    for cls in _state_tree(SessionState):
        if cls not in loaded:  # with the Redis state manager, only what an event needs is loaded
            await session.get_state(cls)
    session.reset()  # type: ignore[no-untyped-call]
    session._tab_session_hash = session._session_hash()


class SessionState(rx.State):
    """The signed-in actor (backend only) plus what the header shows about them."""

    # Backend-only: never sent to the browser (but pickled into the state store: no secrets here).
    _actor_value: Actor | None = None
    _actor_cache_key: str = ""
    _actor_checked_at: float = 0.0
    # The session digest this tab's state was built for (atlas_app.state.tab_identity resets it on a change).
    _tab_session_hash: str = ""

    # Shown in the header; derived from the actor, never trusted as input.
    user_email: rx.Field[str] = rx.field("")
    tenant_name: rx.Field[str] = rx.field("")
    tenant_id: rx.Field[str] = rx.field("")
    user_role: rx.Field[str] = rx.field("")
    tenants: rx.Field[list[TenantChoice]] = rx.field(default_factory=list)
    can_view: rx.Field[bool] = rx.field(False)
    can_manage: rx.Field[bool] = rx.field(False)
    can_run: rx.Field[bool] = rx.field(False)
    can_audit: rx.Field[bool] = rx.field(False)
    can_manage_tenant: rx.Field[bool] = rx.field(False)

    # The page's message line (shown by the page frame).
    notice: rx.Field[str] = rx.field("")
    notice_kind: rx.Field[str] = rx.field("info")  # info | success | error

    # ---- private helpers (not callable from the browser) ----

    def _session_hash(self) -> str:
        session_hash = cookie_value([self.router.headers.cookie], SESSION_HASH_COOKIE) or ""
        return session_hash if _DIGEST.fullmatch(session_hash) else ""

    def _cache_key(self, session_hash: str) -> str:
        # The socket id comes from the server side of the connection, not from the client.
        return f"{self.router.session.session_id}:{session_hash}"

    async def _actor(self, reuse_recent_check: bool = False) -> Actor | None:
        """The actor for this event's websocket cookie, or None when not signed in.

        Read afresh unless ``reuse_recent_check`` (timer polls only) and the last check is younger than
        ``ACTOR_CACHE_SECONDS``.
        """
        session_hash = self._session_hash()
        cache_key = self._cache_key(session_hash)
        now = _clock()
        if (reuse_recent_check and cache_key == self._actor_cache_key and self._actor_checked_at
                and 0 <= now - self._actor_checked_at < ACTOR_CACHE_SECONDS):
            return self._actor_value
        actor, tenants = await asyncio.to_thread(_lookup, session_hash)
        self._remember_actor(actor, cache_key, now, tenants)
        return actor

    def _remember_actor(self, actor: Actor | None, cache_key: str, checked_at: float,
                        tenants: list[TenantChoice]) -> None:
        self._actor_value = actor
        self._actor_cache_key = cache_key
        self._actor_checked_at = checked_at
        self.user_email = actor.email if actor else ""
        self.tenant_name = actor.tenant_name if actor else ""
        self.tenant_id = str(actor.tenant_id) if actor else ""
        self.user_role = actor.role if actor else ""
        self.tenants = tenants if actor else []
        self.can_view = bool(actor and can(actor, Capability.PROVIDER_VIEW))
        self.can_manage = bool(actor and can(actor, Capability.PROVIDER_MANAGE))
        self.can_run = bool(actor and can(actor, Capability.PROVIDER_RUN))
        self.can_audit = bool(actor and can(actor, Capability.AUDIT_VIEW))
        self.can_manage_tenant = bool(actor and can(actor, Capability.TENANT_MANAGE))

    def _forget_actor(self) -> None:
        self._remember_actor(None, "", 0.0, [])

    def _clear_page(self) -> None:
        """Pages drop what they show when the session ends (overridden by page states)."""

    def _signed_out(self) -> Any:
        self._forget_actor()
        self._clear_page()
        self.notice = ""
        return rx.redirect(LOGIN_ROUTE)

    def _say(self, message: str, kind: str = "info") -> None:
        self.notice = message
        self.notice_kind = kind

    async def _call(self, service: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | Literal[Failed.FAILED]:
        """Run a blocking service call in a thread; when it fails, the page's notice says why and FAILED returns."""
        try:
            return await asyncio.to_thread(service, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            return FAILED

    # ---- events ----

    @requires_capability(SIGNED_IN, tenant_id=uuid_arg)
    async def switch_tenant(self, actor: Actor, tenant_id: Any) -> EventSpec | None:
        """Point this session at another suite tenant the user belongs to, then start over on its home page."""
        session_hash = self._session_hash()
        try:
            switched = await asyncio.to_thread(sessions.switch_tenant, session_hash, tenant_id)
            _, tenants = await asyncio.to_thread(_lookup, session_hash)
        except NotFound:
            self._say("That tenant was not found.", "error")
            return None
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            return None
        # Nothing of the previous tenant stays in this tab's state (every page's, not only this one's).
        await forget_tab(self)
        self._remember_actor(switched, self._cache_key(session_hash), _clock(), tenants)
        self._say(f"Switched to {switched.tenant_name}.", "success")
        return rx.redirect(HOME_ROUTE)

    @requires_capability(SIGNED_IN, temporal=True, tick=ignored_arg)
    async def heartbeat(self, actor: Actor, tick: Any) -> None:
        """Timer tick from every signed-in page: re-checks the session (the decorator signs out a dead one)."""
        return None

    @requires_capability(SIGNED_IN)
    async def dismiss_notice(self, actor: Actor) -> None:
        self.notice = ""
        return None
