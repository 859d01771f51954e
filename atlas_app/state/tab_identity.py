"""A tab's state belongs to one sign-in: when the session behind the tab changes, the tab starts from nothing.

Reflex keys a tab's state by a token in the tab's sessionStorage, which outlives signing out. Without this,
the next user of the tab would get the previous user's member list, audit events and connections in the
first frame (the hydrate snapshot), before any handler could check anything. Sign-in and sign-out are HTTP
routes that change the session cookie and reload the page, so the new websocket's first event carries a
different session digest: ``ForgetPreviousUser`` (a Reflex middleware, run before every event, hydrate
included) sees that and resets the whole application state tree. A tenant switch keeps the session and
calls ``forget_tab`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflex.middleware.middleware import Middleware
from reflex.state import BaseState

from atlas_app.state.session import SessionState, forget_tab

if TYPE_CHECKING:
    from reflex.app import App
    from reflex_base.event import Event


class ForgetPreviousUser(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> Any:
        session = await state._get_root_state().get_state(SessionState)
        if session._tab_session_hash != session._session_hash():
            await forget_tab(session)
        return None
