"""Wrong-typed, oversized, SQL- and script-looking arguments are refused without a crash or a change, and
``setvar`` on any var sets nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from atlas_app.pages.connections import ConnectionsState
from atlas_app.state.guard import (
    INVALID,
    FormArgument,
    flag_arg,
    ignored_arg,
    validators_of,
)
from tests.support.reflex_harness import (
    database_fingerprint,
    form_fields,
    run,
    session_digest,
    state_for,
    visible_vars,
)
from tests.support.web_handler_specs import SPECS, handler_of, target_for
from tests.support.web_registry import atlas_states
from tests.support.web_world import GOOD_SECRET, World

BAD_VALUES: list[Any] = [
    {"evil": 1}, ["x"], 12, 12.5, True, "true", "x" * 100_000,
    "' OR '1'='1'; DROP TABLE users; --", "<script>alert(1)</script>", "00000000-0000-0000-0000-00000000000g",
]


def _bad_calls() -> list[tuple[str, str, Any]]:
    calls = []
    for name in sorted(SPECS):
        validators = validators_of(handler_of(name).fn) or {}
        for argument, validator in validators.items():
            if validator is ignored_arg:
                continue  # a timer tick: any value is dropped unread
            for index, value in enumerate(BAD_VALUES):
                if validator is flag_arg and value is True:
                    continue
                calls.append((name, argument, index))
    return calls


@pytest.mark.parametrize(("name", "argument", "index"), _bad_calls())
def test_wrong_typed_and_hostile_arguments_are_refused_without_a_crash(
    world: World, huey_queue: Any, name: str, argument: str, index: int
) -> None:
    spec = SPECS[name]
    target = target_for(world, spec.target, "own")
    kwargs = {**spec.kwargs(target), argument: BAD_VALUES[index]}
    state = state_for(spec.state, session_digest(world.owner_a), spec.path(target))
    spec.prepare(state, target)
    before = database_fingerprint()
    run(handler_of(name).fn(state, **kwargs))  # never raises
    assert database_fingerprint() == before
    errors = [state.notice] + [value for key, value in visible_vars(state).items() if key.endswith("_error")]
    assert any(errors), "the refusal was not explained"
    if not isinstance(validators_of(handler_of(name).fn)[argument], FormArgument):
        # Refused by the guard, before the handler body (and any service) saw the value.
        assert state.notice in (INVALID, "Choose one file."), state.notice
    assert "DROP TABLE" not in repr(visible_vars(state)) and "<script>" not in repr(visible_vars(state))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_unknown_and_missing_arguments_are_refused(world: World, name: str) -> None:
    spec = SPECS[name]
    target = target_for(world, spec.target, "own")
    first, second = session_digest(world.owner_a), session_digest(world.owner_a)
    before = database_fingerprint()
    state = state_for(spec.state, first, spec.path(target))
    run(handler_of(name).fn(state, **spec.kwargs(target), sneaky="1"))
    assert state.notice == INVALID
    if spec.kwargs(target):
        state = state_for(spec.state, second, spec.path(target))
        run(handler_of(name).fn(state))
        assert state.notice == INVALID
    assert database_fingerprint() == before


def test_sql_and_script_looking_text_is_stored_literally(world: World) -> None:
    name = "<script>alert(1)</script>'; DROP TABLE users; --"
    state = state_for(ConnectionsState, session_digest(world.owner_a))
    run(ConnectionsState.create_connection.fn(state, files=[], form_data=form_fields(
        name=name, cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
        credential_kind="secret", client_secret=GOOD_SECRET)))
    assert state.form_error == ""
    assert name in [row.name for row in state.connections]  # as typed: React renders it as text
    assert session_digest(world.owner_a)  # the users table is still there


def test_setvar_sets_nothing_on_any_var(world: World) -> None:
    digest = session_digest(world.owner_a)
    tried = 0
    for cls in atlas_states():
        state = state_for(cls, digest)
        run(cls.on_page_load.fn(state)) if "on_page_load" in cls.event_handlers else None
        for var, f in cls.__fields__.items():
            if not f._owner.__module__.startswith("atlas_app"):
                continue
            before = getattr(state, var)
            with pytest.raises(AttributeError):
                cls.setvar.fn(state, var, "owner")
            assert getattr(state, var) == before, f"{cls.__name__}.{var}"
            tried += 1
    assert tried > 50
