"""Every public handler × every role × {own tenant, other tenant}: only what the role table allows changes
anything (database rows, or for reads: the data shown); another tenant's id gets exactly what a random id gets;
nothing of the other tenant ever appears in the state; signed-out callers are sent to /login and change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from atlas_app.pages.connections import ConnectionsState
from atlas_app.state.guard import (
    DENIED,
    PAGE_DENIED,
    PUBLIC,
    access_of,
)
from atlas_services import sessions
from tests.support.reflex_harness import (
    redirect_target,
    returned_events,
    run,
    state_for,
    visible_vars,
)
from tests.support.web_handler_specs import SPECS, allowed, call_as, handler_of, target_for
from tests.support.web_registry import atlas_handlers
from tests.support.web_world import OTHER, ROLES, World


def test_the_matrix_covers_every_handler_and_matches_the_declarations() -> None:
    assert set(SPECS) == set(atlas_handlers())
    mismatched = {name: access_of(handler_of(name).fn) for name, spec in SPECS.items()
                  if access_of(handler_of(name).fn) != spec.capability}
    assert mismatched == {}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_only_what_the_role_table_allows_happens_and_other_tenants_look_like_nothing(
    world: World, huey_queue: Any, name: str
) -> None:
    spec, handler = SPECS[name], handler_of(name)
    for role in ROLES:
        for scope in ("own", "other") if spec.target else ("own",):
            where = f"{name} as {role} on {scope}"
            target = target_for(world, spec.target, scope, world.actors[role])
            state, result, changed = call_as(spec, handler, world.actors[role], target)
            effect = changed if spec.db else bool(spec.shown and spec.shown(state, target, result))
            expected = allowed(role, spec.capability) and scope == "own"
            assert effect == expected, where
            if not expected:
                assert not changed, f"{where}: rows changed"
            if not allowed(role, spec.capability):
                assert state.notice in (DENIED, PAGE_DENIED) and state.notice_kind == "error", where
            assert OTHER not in repr(visible_vars(state)), f"{where}: the other tenant's data leaked"
            if scope == "other" and allowed(role, spec.capability):
                # Another tenant's real id and a random id get the very same answer.
                random_state, random_result, random_changed = call_as(spec, handler, world.actors[role],
                                                                    str(uuid.uuid4()))
                assert not random_changed
                assert _without_clock(visible_vars(state)) == _without_clock(visible_vars(random_state)), where
                assert returned_events(result) == returned_events(random_result), where


def _without_clock(visible: dict[str, Any]) -> dict[str, Any]:
    # A poll stamps the wall-clock second it confirmed the page; two calls may straddle a second.
    return {name: value for name, value in visible.items() if name != "checked_at"}


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.capability != PUBLIC))
def test_signed_out_callers_are_sent_to_login_and_change_nothing(world: World, huey_queue: Any, name: str) -> None:
    spec = SPECS[name]
    target = target_for(world, spec.target, "own")
    state, result, changed = call_as(spec, handler_of(name), None, target)
    assert redirect_target(result) == "/login"
    assert not changed
    visible = visible_vars(state)
    assert visible["user_email"] == "" and visible["notice"] == ""
    for data in ("connections", "runs", "members", "events", "summary"):
        assert not visible.get(data), data


def test_a_forged_session_digest_is_nobody(world: World) -> None:
    for digest in ("0" * 64, "x" * 64, "' OR 1=1 --", sessions.token_digest("not-a-real-token")):
        state = state_for(ConnectionsState, digest)
        result = run(ConnectionsState.on_page_load.fn(state))
        assert redirect_target(result) == "/login" and state.connections == []
