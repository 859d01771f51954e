"""A page that shows runs while they happen: one guarded poll, declared once, with the page's own capability.

A live page names both bases (a Reflex class whose state bases are all mixins is a mixin itself) and who may
watch it::

    class XState(LivePageState, SessionState):
        watched_with: ClassVar[Capability] = Capability.PROVIDER_VIEW

and fills in four hooks:

- ``_position()``: what a read reads now (filters, a cursor, an id); ``_poll_position()`` may say None: nothing
  to poll now;
- ``_read_snapshot(actor, position)``: everything the page shows, from PostgreSQL only (blocking; a thread);
- ``_apply(snapshot, position)``: show it;
- ``_has_active(snapshot)``: whether a run in it is still active (the poll timer runs while one is).

A poll first asks whether anything of the tenant changed since the page was read (its change stamp:
``atlas_services.change_stamps``, kept in memory per process for a second) and re-reads only then, or when the page
moved, or when the read is older than ``REREAD_SECONDS`` (expiry warnings change with the date, not with a write).
The guard has checked the actor before any of this: an unchanged stamp skips the read, never the authorization.
A changed page is read once per process for all the tenant's tabs at that position (``SharedReads``: the
reads depend on the tenant and the position only, never on who asks). Every poll ends by setting
``checked_at``, the time the page was last confirmed current.

The poll handler is made per page, with the guard and the page's capability, when the page's class is created,
so it is registered as that page's own handler (``ConnectionsState.poll``) and the guard-coverage test sees it.
This is a Reflex mixin: its vars become each page's own vars, and no extra state sits in the state tree.
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import reflex as rx

from atlas_app.state.guard import ignored_arg, requires_capability
from atlas_app.state.messages import user_message
from atlas_app.state.polling import SHARED_READS, claim_poll, release_poll
from atlas_app.state.session import FAILED, SessionState
from atlas_services import change_stamps
from atlas_services.authz import Actor, Capability

REREAD_SECONDS = 60.0


def _clock_text() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S UTC")


def _guarded_poll(page: str, capability: Capability) -> Any:
    async def poll(self: LivePageState, actor: Actor, tick: Any) -> None:
        """Timer tick while runs are active: re-read what the page shows (PostgreSQL only, never Microsoft)."""
        await self._poll(actor)

    poll.__qualname__ = f"{page}.poll"  # what the guard's log lines name
    return requires_capability(capability, background=True, temporal=True, tick=ignored_arg)(poll)


class LivePageState(SessionState, mixin=True):
    has_active: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    checked_at: rx.Field[str] = rx.field("")  # when a poll last confirmed the page current
    _poll_started_at: float = 0.0
    # What is shown: (tenant id, position, the tenant's stamp before the read, when read); None: nothing.
    _shown: tuple[str, Any, int, float] | None = None

    watched_with: ClassVar[Capability]  # who may watch the page (and so poll it)

    if TYPE_CHECKING:
        poll: Any  # made per page by __init_subclass__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        capability = cls.__dict__.get("watched_with")
        if not isinstance(capability, Capability):
            raise TypeError(f"{cls.__name__}: a live page declares `watched_with`, the capability that may watch it")
        # Set before Reflex registers the class's handlers, so the poll is this page's own.
        cls.poll = _guarded_poll(cls.__name__, capability)
        super().__init_subclass__(**kwargs)

    # ---- hooks ----

    def _position(self) -> Any:
        return ()

    def _poll_position(self) -> Any:
        """Where a poll reads; None: nothing to poll now (by default, wherever the page is)."""
        return self._position()

    def _still_showing(self, position: Any) -> bool:
        """Whether a snapshot read for ``position`` still belongs on the page (the user may have moved on)."""
        return bool(position == self._position())

    @staticmethod
    def _read_snapshot(actor: Actor, position: Any) -> Any:
        raise NotImplementedError

    def _apply(self, snapshot: Any, position: Any) -> None:
        raise NotImplementedError

    def _has_active(self, snapshot: Any) -> bool:
        raise NotImplementedError

    # ---- reading ----

    @staticmethod
    async def _stamp(actor: Actor) -> int:
        stamp = change_stamps.recent_stamp(actor.tenant_id)
        return stamp if stamp is not None else await asyncio.to_thread(change_stamps.current_stamp, actor.tenant_id)

    def _unchanged(self, actor: Actor, position: Any, stamp: int) -> bool:
        """Whether the page shown at ``position`` is still current: its tenant's stamp has not moved since."""
        if self._shown is None:
            return False
        tenant, shown_position, shown_stamp, read_at = self._shown
        return (tenant == str(actor.tenant_id) and shown_position == position and stamp <= shown_stamp
                and 0 <= time.time() - read_at < REREAD_SECONDS)

    def _show(self, snapshot: Any, position: Any, actor: Actor | None = None, stamp: int = -1) -> None:
        """Show a snapshot; read for ``actor`` after their tenant's stamp was ``stamp`` (unknown: re-read next)."""
        self._apply(snapshot, position)
        self.has_active = self._has_active(snapshot)
        self.loaded = True
        self._shown = (str(actor.tenant_id), position, stamp, time.time()) if actor is not None else None

    async def _load(self, actor: Actor, position: Any) -> bool:
        """Read and show the page at ``position``; False (and a notice) when that failed."""
        stamp = await self._stamp(actor)  # read before the page: what is shown is at least this new
        snapshot = await self._call(self._read_snapshot, actor, position)
        if snapshot is FAILED:
            self.has_active = False
            self._shown = None
            return False
        self._show(snapshot, position, actor, stamp)
        return True

    async def _read_changed(self, actor: Actor, position: Any, stamp: int) -> Any:
        """The page at ``position`` read at stamp ``stamp`` or later: shared with the tenant's other tabs (a load
        after the user's own action never is: it reads afresh)."""
        key = (self.get_full_name(), str(actor.tenant_id), position)  # self: a StateProxy in a background task
        read = functools.partial(self._read_snapshot, actor, position)
        try:
            hash(key)
        except TypeError:  # a position that cannot be a key is read for this tab alone
            return await asyncio.to_thread(read)
        return await SHARED_READS.read(key, stamp, read)

    async def _refresh(self, actor: Actor) -> bool:
        return await self._load(actor, self._position())

    async def _poll(self, actor: Actor) -> None:
        """One tick at a time per tab (claim_poll); the read runs outside the state lock, and only when the
        tenant's stamp moved since the page was read."""
        stamp = await self._stamp(actor)
        async with self:
            position = self._poll_position()
            if position is None:  # nothing to watch: nothing was checked
                return
            if self._unchanged(actor, position, stamp):
                self.checked_at = _clock_text()
                return
            if not claim_poll(self):
                return
        try:
            snapshot, failure = await self._read_changed(actor, position, stamp), ""
        except Exception as exc:  # noqa: BLE001 - translated for the user
            snapshot, failure = None, user_message(exc)
        async with self:
            release_poll(self)
            self.checked_at = _clock_text()  # the tick's one delta, with the page when it changed
            if failure:
                self._say(failure, "error")
                self.has_active = False
                self._shown = None
            elif self._still_showing(position):
                self._show(snapshot, position, actor, stamp)
