"""Sign-in sessions, throttling, tenant switching, membership management and the audit log."""

from __future__ import annotations

import pytest
from sqlmodel import select

from atlas_services import sessions, sign_in_throttle
from atlas_services.audit import list_events
from atlas_services.db import session_scope
from atlas_services.directory import create_tenant
from atlas_services.errors import Forbidden, InvalidInput, NotFound, Throttled
from atlas_services.invitations import invite_member
from atlas_services.members import change_role, list_members, remove_member
from atlas_services.models import UserSession, utcnow
from tests.support.factories import join_tenant, make_actor

PASSWORD = "correct horse battery"  # what make_actor gives every user


def test_sign_in_gives_a_session_only_its_digest_is_stored_and_sign_out_ends_it(db: None) -> None:
    owner = make_actor("owner")
    token = sessions.authenticate(owner.email.upper(), PASSWORD)
    assert sessions.actor_for_session(token) == owner
    with session_scope() as session:
        stored = list(session.exec(select(UserSession.token_hash)).all())
    assert stored == [sessions.token_digest(token)] and token not in stored
    sessions.end_session(token)
    assert sessions.actor_for_session(token) is None


@pytest.mark.parametrize("token", [None, "", "x" * 500, "not-a-session", "'; DROP TABLE users; --"])
def test_unknown_or_malformed_tokens_resolve_to_nobody(db: None, token: str | None) -> None:
    assert sessions.actor_for_session(token) is None


def test_expired_sessions_are_refused(db: None) -> None:
    owner = make_actor("owner")
    token = sessions.authenticate(owner.email, PASSWORD)
    with session_scope() as session:
        row = session.exec(select(UserSession)).one()
        row.expires_at = utcnow()
    assert sessions.actor_for_session(token) is None


@pytest.mark.parametrize(("email", "password"), [
    ("nobody@example.test", PASSWORD), ("OWNER", PASSWORD), ("", ""), ("a@b.test", "x" * 1_000_000),
])
def test_bad_sign_ins_all_get_the_same_generic_answer(db: None, email: str, password: str) -> None:
    make_actor("owner")
    with pytest.raises(InvalidInput) as caught:
        sessions.authenticate(email, password)
    assert str(caught.value) in ("Wrong email or password", "Enter your email and password")


def test_throttling_per_account(db: None) -> None:
    owner = make_actor("owner")
    for _ in range(sign_in_throttle.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(InvalidInput):
            sessions.authenticate(owner.email, "wrong password!", "10.1.1.1")
    with pytest.raises(Throttled):  # even the right password waits now, from any address
        sessions.authenticate(owner.email, PASSWORD, "10.1.1.2")
    # Unknown accounts are throttled the same way: no hint about which accounts exist.
    for _ in range(sign_in_throttle.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(InvalidInput):
            sessions.authenticate("ghost@example.test", "wrong password!", "10.1.1.3")
    with pytest.raises(Throttled):
        sessions.authenticate("ghost@example.test", "wrong password!", "10.1.1.4")


def test_throttling_per_client_address(db: None) -> None:
    owner = make_actor("owner")
    for index in range(sign_in_throttle.MAX_FAILURES_PER_CLIENT):  # many accounts, each below its own limit
        with pytest.raises(InvalidInput):
            sessions.authenticate(f"probe{index}@example.test", "wrong password!", "10.9.9.9")
    with pytest.raises(Throttled):
        sessions.authenticate(owner.email, PASSWORD, "10.9.9.9")
    assert sessions.actor_for_session(sessions.authenticate(owner.email, PASSWORD, "10.0.0.5")) == owner


def test_switching_tenants_only_to_ones_the_user_belongs_to(db: None) -> None:
    owner = make_actor("owner")
    with session_scope() as session:
        second = create_tenant(session, "Second MSP")
        third = create_tenant(session, "Third MSP")
    join_tenant(owner, email="someone@example.test", role="operator", password="long enough pw")
    token = sessions.authenticate(owner.email, PASSWORD)
    token_hash = sessions.token_digest(token)
    with pytest.raises(NotFound):
        sessions.switch_tenant(token_hash, second.id)
    from atlas_services.directory import actor_for
    from atlas_services.models import Membership

    with session_scope() as session:
        session.add(Membership(user_id=owner.user_id, tenant_id=second.id, role="readonly"))
    assert [name for _, name, _ in sessions.tenants_for(owner)] == sorted([owner.tenant_name, "Second MSP"])
    switched = sessions.switch_tenant(token_hash, second.id)
    assert (switched.tenant_name, switched.role) == ("Second MSP", "readonly")
    for bad in (third.id, "not-a-uuid"):
        with pytest.raises(NotFound):
            sessions.switch_tenant(token_hash, bad)
    with session_scope() as session:
        assert actor_for(session, email=owner.email, tenant_name="Second MSP").role == "readonly"


def test_member_management_keeps_an_owner_and_removal_ends_sessions(db: None) -> None:
    owner = make_actor("owner")
    member = join_tenant(owner, email="op@example.test", role="operator", password="long enough pw")
    token = sessions.authenticate("op@example.test", "long enough pw")
    assert sessions.actor_for_session(token) is not None
    assert change_role(owner, member.user_id, "manager").role == "manager"
    with pytest.raises(InvalidInput, match="at least one owner"):
        change_role(owner, owner.user_id, "manager")
    with pytest.raises(InvalidInput, match="at least one owner"):
        remove_member(owner, owner.user_id)
    with pytest.raises(InvalidInput, match="already a member"):
        invite_member(owner, email="OP@example.test", role="readonly", password="long enough pw")
    remove_member(owner, member.user_id)
    assert sessions.actor_for_session(token) is None
    assert [m.email for m in list_members(owner)] == [owner.email]
    manager = make_actor("manager", tenant_name=owner.tenant_name)
    with pytest.raises(Forbidden):
        join_tenant(manager, email="x@example.test", role="owner", password="long enough pw")
    foreign = make_actor("owner")
    with pytest.raises(NotFound):
        remove_member(owner, foreign.user_id)
    actions = [event.action for event in list_events(owner)]
    assert actions == ["member.remove", "member.role_change", "member.accept", "member.invite"]


def test_audit_log_is_tenant_scoped_paged_and_needs_audit_view(db: None) -> None:
    owner = make_actor("owner")
    for index in range(7):
        invite_member(owner, email=f"user{index}@example.test", role="readonly", password="long enough pw")
    first = list_events(owner, limit=5)
    rest = list_events(owner, limit=5, before=(first[-1].at, first[-1].id))
    assert len(first) == 5 and len(rest) == 2
    assert {e.id for e in first}.isdisjoint({e.id for e in rest})
    assert all(e.actor_email == owner.email for e in first + rest)
    assert list_events(make_actor("owner")) == []
    with pytest.raises(Forbidden):
        list_events(make_actor("operator", tenant_name=owner.tenant_name))


def test_failures_older_than_the_window_stop_counting_and_are_dropped(db: None) -> None:
    from sqlalchemy import func

    from atlas_services.models import LoginAttempt

    owner = make_actor("owner")
    for _ in range(sign_in_throttle.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(InvalidInput):
            sessions.authenticate(owner.email, "wrong password!", "10.2.2.2")
    with session_scope() as session:
        for row in session.exec(select(LoginAttempt)).all():
            row.at = utcnow() - sign_in_throttle.THROTTLE_WINDOW - sign_in_throttle.THROTTLE_WINDOW
    with pytest.raises(InvalidInput):  # counted again from zero, not throttled
        sessions.authenticate(owner.email, "wrong password!", "10.2.2.2")
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(LoginAttempt)).one() == 1
