"""Issue 9, finding 6 at the state level: a tab's state tree is dropped when its session changes (sign-out,
another user's sign-in) and when its tenant is switched; every page's state, not only the one in use."""

from __future__ import annotations

from typing import Any

from atlas_app.pages.audit import AuditState
from atlas_app.pages.members import MembersState
from atlas_app.state.session import SessionState
from atlas_app.state.tab_identity import ForgetPreviousUser
from tests.support.reflex_harness import run, session_digest, state_for
from tests.support.web_world import World


def _signed_in_tab(world: World) -> Any:
    members = state_for(MembersState, session_digest(world.owner_a), "/members")
    run(ForgetPreviousUser().preprocess(None, members._get_root_state(), None))  # type: ignore[arg-type]
    run(MembersState.on_page_load.fn(members))
    audit = run(members.get_state(AuditState))
    run(AuditState.on_page_load.fn(audit))
    assert members.members and audit.events and members.user_email == world.owner_a.email
    return members, audit


def _socket_with_cookie(state: Any, digest: str) -> None:
    """What a new websocket of the same tab brings: the same tab token, another cookie."""
    root = state._get_root_state()
    headers = {"origin": "http://atlas.test", "host": "atlas.test"}
    if digest:
        headers["cookie"] = f"atlas_session_hash={digest}"
    root._update_router_vars({"headers": headers}, root.router_data)


def test_the_next_user_of_a_tab_gets_a_fresh_state_tree(world: World) -> None:
    members, audit = _signed_in_tab(world)
    _socket_with_cookie(members, "")  # signed out: the login page's socket
    run(ForgetPreviousUser().preprocess(None, members._get_root_state(), None))  # type: ignore[arg-type]
    assert members.members == [] and audit.events == [] and members.user_email == ""

    members, audit = _signed_in_tab(world)
    _socket_with_cookie(members, session_digest(world.owner_b))  # another user signs in in the same tab
    run(ForgetPreviousUser().preprocess(None, members._get_root_state(), None))  # type: ignore[arg-type]
    assert members.members == [] and audit.events == [] and members.tenant_name == ""


def test_the_same_session_keeps_its_state(world: World) -> None:
    members, audit = _signed_in_tab(world)
    run(ForgetPreviousUser().preprocess(None, members._get_root_state(), None))  # type: ignore[arg-type]
    assert members.members and audit.events


def test_switching_tenant_drops_every_page_of_the_previous_tenant(world: World) -> None:
    members, audit = _signed_in_tab(world)
    session = run(members.get_state(SessionState))
    run(SessionState.switch_tenant.fn(session, tenant_id=world.tenant_c))
    assert session.tenant_id == world.tenant_c
    assert members.members == [] and audit.events == []
