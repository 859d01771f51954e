"""The web tier's registry as Reflex sees it: every atlas_app State class and every browser-callable handler."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.state import BaseState, EventHandlerSetVar

import atlas_app.atlas_app  # noqa: F401 - registers every page and state


def atlas_states() -> list[type[BaseState]]:
    found: list[type[BaseState]] = []
    pending: list[type[BaseState]] = [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if cls.__module__.startswith("atlas_app"):
            found.append(cls)
    return sorted(found, key=lambda cls: cls.get_full_name())


def atlas_handlers() -> dict[str, Any]:
    """'StateName.handler' → EventHandler, for every handler an atlas_app state defines (built-in setvar aside)."""
    handlers = {}
    for cls in atlas_states():
        for name, handler in cls.event_handlers.items():
            if isinstance(handler, EventHandlerSetVar):
                continue  # Reflex's own; it only calls set_<name> methods, and there are none (a test checks)
            handlers[f"{cls.__name__}.{name}"] = handler
    return handlers
