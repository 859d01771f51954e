"""Calling the web tier's event handlers the way Reflex calls them, without a browser (reflex-notes §5).

A state tree is built with ``rx.State()``, its router carries the session-digest cookie the cookie shield
would put on the websocket, and handlers are called as ``Handler.fn(state, **payload)``.
"""

from __future__ import annotations

import uuid
from typing import Any

from reflex.state import BaseState, State
from sqlalchemy import text

from atlas_services import sessions
from atlas_services.authz import Actor
from atlas_services.db import get_engine
from tests.support.aio import run_coroutine
from tests.support.database import TABLES
from tests.support.factories import PASSWORD


def run(coroutine: Any) -> Any:
    return run_coroutine(coroutine)


def form_fields(**values: Any) -> dict[str, Any]:
    """What a submitted form hands its handler."""
    return values


def session_digest(actor: Actor) -> str:
    """A fresh sign-in (in the user's first tenant): the digest the cookie shield would hand Reflex."""
    return sessions.token_digest(sessions.authenticate(actor.email, PASSWORD))


def state_for(cls: type[BaseState], digest: str | None, path: str = "/") -> Any:
    """A fresh state tree with the router an event from a socket would have; returns the ``cls`` substate."""
    root = State()
    headers = {"origin": "http://atlas.test", "host": "atlas.test"}
    if digest:
        headers["cookie"] = f"atlas_session_hash={digest}"
    root._update_router_vars({"headers": headers, "sid": uuid.uuid4().hex, "token": uuid.uuid4().hex,
                              "pathname": path, "asPath": path}, {})
    return root.get_substate(cls.get_full_name().split(".")[1:])


def database_fingerprint() -> str:
    """A digest of every row the app can write (a change anywhere changes it)."""
    parts = [f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t)"
             for table in TABLES]
    with get_engine().connect() as conn:
        return str(conn.execute(text("SELECT " + " || ".join(parts))).scalar_one())


def visible_vars(state: Any) -> dict[str, Any]:
    """Every non-router var of the state and its parents, as the browser would get it."""
    cls = type(state)
    return {name: getattr(state, name) for name, f in cls.__fields__.items()
            if not f._backend and f._owner.__module__.startswith("atlas_app")}


def redirect_target(result: Any) -> str | None:
    events = result if isinstance(result, list) else [result]
    for event in events:
        args = {str(name): value for name, value in getattr(event, "args", ())}
        if {"path", "external", "replace"} <= set(args):  # what rx.redirect sends to the browser
            return str(args["path"]._var_value)
    return None


def returned_events(result: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Events a handler returned, as (name, args) with the values as JavaScript (comparable across calls)."""
    events = result if isinstance(result, list) else [result] if result is not None else []
    return [(event.handler.fn.__name__, tuple((str(name), str(value)) for name, value in event.args))
            for event in events]
