"""Issue 9, finding 2: authorization is never stale. A member removed (or demoted) a moment ago is refused in the
very next event, by every handler that changes anything or reads another page; only the timer polls of what a
tab already shows may reuse a check, and for a few seconds at most."""

from __future__ import annotations

from typing import Any

import pytest

from atlas_app.state import guard
from atlas_app.state import session as session_module
from atlas_app.state.guard import PUBLIC, SIGNED_IN, access_of
from atlas_services import sessions
from atlas_services.members import change_role, remove_member
from tests.support.factories import PASSWORD, join_tenant, random_suffix
from tests.support.reflex_harness import database_fingerprint, redirect_target, run, state_for
from tests.support.web_handler_specs import SPECS, handler_of, target_for
from tests.support.web_world import World

# Every handler that acts for a signed-in actor, except the timer polls (which may reuse a recent check).
FRESH = sorted(name for name in SPECS
               if access_of(handler_of(name).fn) != PUBLIC and not guard.is_timer_poll(handler_of(name).fn))
WRITES = sorted(name for name in FRESH if SPECS[name].db)
DEMOTABLE = [name for name in WRITES if access_of(handler_of(name).fn) != SIGNED_IN]


def _warm_tab(world: World, name: str) -> tuple[Any, Any, str | None]:
    """A tab of a new owner whose session was checked a moment ago (the cache is as warm as it gets)."""
    spec = SPECS[name]
    member = join_tenant(world.owner_a, email=f"stale-{random_suffix()}@example.test", role="owner")
    target = target_for(world, spec.target, "own")
    digest = sessions.token_digest(sessions.authenticate(member.email, PASSWORD))
    state = state_for(spec.state, digest, spec.path(target))
    spec.prepare(state, target)
    assert run(state._actor()) is not None
    return member, state, target


def test_only_timer_polls_may_reuse_a_session_check_and_never_for_long() -> None:
    assert session_module.ACTOR_CACHE_SECONDS <= 5
    polls = sorted(name for name in SPECS if guard.is_timer_poll(handler_of(name).fn))
    assert polls and all(name.endswith((".poll", ".heartbeat")) for name in polls)


@pytest.mark.parametrize("name", FRESH)
def test_a_member_removed_a_moment_ago_is_refused_by_the_very_next_event(world: World, name: str) -> None:
    spec = SPECS[name]
    member, state, target = _warm_tab(world, name)
    remove_member(world.owner_a, member.user_id)
    before = database_fingerprint()
    result = run(handler_of(name).fn(state, **spec.kwargs(target)))
    assert redirect_target(result) == "/login"
    assert database_fingerprint() == before


@pytest.mark.parametrize("name", DEMOTABLE)
def test_an_owner_demoted_a_moment_ago_cannot_write_in_the_very_next_event(world: World, name: str) -> None:
    spec = SPECS[name]
    member, state, target = _warm_tab(world, name)
    change_role(world.owner_a, member.user_id, "readonly")
    before = database_fingerprint()
    run(handler_of(name).fn(state, **spec.kwargs(target)))
    assert state.notice_kind == "error"
    assert database_fingerprint() == before
