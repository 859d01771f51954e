"""Invitations (issue 9, finding 1) and the last-owner guard under concurrency (finding 4)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlmodel import func, select
from starlette.testclient import TestClient

from atlas_app.invite_routes import ACCEPT_PATH, INVITE_PATH, build_invite_api
from atlas_services import invitations, members, passwords, sessions
from atlas_services.audit import list_events
from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.directory import actor_for, create_tenant
from atlas_services.errors import Forbidden, InvalidInput, NotFound
from atlas_services.invitations import accept_invitation, invite_member, my_invitations, revoke_invitation
from atlas_services.models import AuditEvent, Invitation, Membership, User
from tests.support.factories import PASSWORD, join_tenant, make_actor, random_suffix

ORIGIN = {"origin": "http://testserver"}


def _user_id(email: str) -> uuid.UUID:
    with session_scope() as session:
        return session.exec(select(User.id).where(User.email == email)).one()


def _count(model: Any) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_invitation_cannot_take_over_an_existing_account(db: None) -> None:
    attacker = make_actor("owner")
    victim = make_actor("owner")
    # The attacker "creates" the CEO's account in their own tenant, with a password they chose, and joins it.
    invite_member(attacker, email="ceo@victim.test", role="readonly", password="attacker's pw")
    token = sessions.authenticate("ceo@victim.test", "attacker's pw")
    # Later the victim's tenant invites the real CEO as owner, with a password it gives only to the CEO.
    invite_member(victim, email="ceo@victim.test", role="owner", password="given to the real CEO")
    squatter = sessions.actor_for_session(token)
    assert squatter is not None and squatter.tenant_id == attacker.tenant_id
    assert victim.tenant_id not in {tenant_id for tenant_id, _, _ in sessions.tenants_for(squatter)}
    with pytest.raises(NotFound):
        sessions.switch_tenant(sessions.token_digest(token), victim.tenant_id)
    with session_scope() as session, pytest.raises(NotFound):
        actor_for(session, email="ceo@victim.test", tenant_name=victim.tenant_name)  # the CLI's --as
    (pending,) = [i for i in my_invitations(squatter.user_id) if i.tenant_name == victim.tenant_name]
    for _ in range(invitations.MAX_ACCEPT_FAILURES):  # guessing voids the invitation
        with pytest.raises(InvalidInput):
            accept_invitation(squatter.user_id, pending.id, "attacker's pw")
    assert my_invitations(squatter.user_id) == []
    with pytest.raises(NotFound):
        accept_invitation(squatter.user_id, pending.id, "given to the real CEO")
    assert [m.email for m in members.list_members(victim)] == [victim.email]


def test_inviting_answers_the_same_way_whether_or_not_the_account_exists(
        db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = make_actor("owner")
    existing = make_actor("owner")  # in another tenant
    hashed: list[str] = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(invitations, "hash_password", lambda pw: hashed.append("x") or real_hash(pw))
    fresh = invite_member(owner, email=f"new-{random_suffix()}@example.test", role="operator",
                          password="long enough pw")
    known = invite_member(owner, email=existing.email, role="operator", password="long enough pw")
    assert len(hashed) == 2  # argon2 runs once for each: no timing class tells them apart
    assert (type(fresh), fresh.role) == (type(known), known.role)
    with pytest.raises(InvalidInput, match="password"):  # an existing account needs one just the same
        invite_member(owner, email=f"other-{random_suffix()}@example.test", role="operator", password="")


def test_a_pending_invitation_grants_nothing_until_accepted(db: None) -> None:
    owner = make_actor("owner")
    other = make_actor("owner")
    invitation = invite_member(owner, email=other.email, role="owner", password="long enough pw")
    token = sessions.authenticate(other.email, PASSWORD)
    digest = sessions.token_digest(token)
    signed_in = sessions.actor_for_session(token)
    assert signed_in is not None and signed_in.tenant_id == other.tenant_id
    assert [t for t, _, _ in sessions.tenants_for(signed_in)] == [other.tenant_id]
    with pytest.raises(NotFound):
        sessions.switch_tenant(digest, owner.tenant_id)
    with session_scope() as session, pytest.raises(NotFound):
        actor_for(session, email=other.email, tenant_name=owner.tenant_name)
    assert [m.email for m in members.list_members(owner)] == [owner.email]
    assert [i.email for i in invitations.list_invitations(owner)] == [other.email]
    accept_invitation(signed_in.user_id, invitation.id, "long enough pw")
    switched = sessions.switch_tenant(digest, owner.tenant_id)
    assert (switched.tenant_id, switched.role) == (owner.tenant_id, "owner")
    assert invitations.list_invitations(owner) == []


def test_a_new_accounts_first_sign_in_accepts_its_invitation(db: None) -> None:
    owner = make_actor("owner")
    email = f"new-{random_suffix()}@example.test"
    invite_member(owner, email=email, role="operator", password="initial password")
    with session_scope() as session, pytest.raises(NotFound):
        actor_for(session, email=email, tenant_name=owner.tenant_name)
    actor = sessions.actor_for_session(sessions.authenticate(email, "initial password"))
    assert actor is not None and (actor.tenant_id, actor.role) == (owner.tenant_id, "operator")
    actions = [event.action for event in list_events(owner)]
    assert actions[:2] == ["member.accept", "member.invite"]


def test_an_account_in_no_tenant_takes_the_invitations_password(db: None) -> None:
    first = make_actor("owner")
    second = make_actor("owner")
    leaver = join_tenant(first, email=f"leaver-{random_suffix()}@example.test", role="readonly")
    members.remove_member(first, leaver.user_id)
    invite_member(second, email=leaver.email, role="manager", password="a brand new password")
    with pytest.raises(InvalidInput):
        sessions.authenticate(leaver.email, PASSWORD)
    actor = sessions.actor_for_session(sessions.authenticate(leaver.email, "a brand new password"))
    assert actor is not None and (actor.tenant_id, actor.role) == (second.tenant_id, "manager")


def test_decline_and_revoke_write_nothing_but_the_audit(db: None) -> None:
    owner = make_actor("owner")
    invitee = make_actor("readonly")
    declined = invite_member(owner, email=invitee.email, role="operator", password="long enough pw")
    invitations.decline_invitation(invitee.user_id, declined.id)
    revoked = invite_member(owner, email=invitee.email, role="operator", password="long enough pw")
    with pytest.raises(NotFound):  # someone else's invitation does not exist for you
        invitations.decline_invitation(owner.user_id, revoked.id)
    with pytest.raises(NotFound):
        revoke_invitation(make_actor("owner"), revoked.id)
    with pytest.raises(Forbidden):
        revoke_invitation(make_actor("manager", tenant_name=owner.tenant_name), revoked.id)
    revoke_invitation(owner, revoked.id)
    never_used = invite_member(owner, email=f"ghost-{random_suffix()}@example.test", role="operator",
                               password="long enough pw")
    revoke_invitation(owner, never_used.id)  # the account it created goes with it
    with session_scope() as session:
        assert session.exec(select(User).where(User.email == never_used.email)).first() is None
    assert _count(Invitation) == 0
    with session_scope() as session:
        actions = list(session.exec(select(AuditEvent.action).where(AuditEvent.tenant_id == owner.tenant_id)
                                    .order_by(AuditEvent.at)).all())
    assert actions == ["member.invite", "member.decline", "member.invite", "member.revoke", "member.invite",
                       "member.revoke"]


@pytest.mark.parametrize("spelling", ["CEO@Victim.TEST", " ceo@victim.test ", "\uff43\uff45\uff4f@victim.test"])
def test_an_invitation_in_another_case_or_width_is_the_same_account(db: None, spelling: str) -> None:
    owner = make_actor("owner")
    join_tenant(owner, email="ceo@victim.test", role="readonly")
    with pytest.raises(invitations.AlreadyInvited):
        invite_member(owner, email=spelling, role="owner", password="long enough pw")
    assert sessions.actor_for_session(sessions.authenticate(spelling, PASSWORD)) is not None


@pytest.mark.parametrize("look_alike", ["\u0441eo@victim.test", "ceo@vi\u0441tim.test", "ce\u200bo@victim.test"])
def test_an_invitation_for_a_unicode_look_alike_is_refused_and_writes_nothing(db: None, look_alike: str) -> None:
    owner = make_actor("owner")
    users, audits = _count(User), _count(AuditEvent)
    with pytest.raises(InvalidInput, match="ASCII"):
        invite_member(owner, email=look_alike, role="owner", password="long enough pw")
    assert (_count(User), _count(AuditEvent), _count(Invitation)) == (users, audits, 0)


def _demote_or_remove_at_once(owners: list[Actor], attempts: int) -> None:
    barrier = threading.Barrier(attempts)

    def attack(index: int) -> None:
        actor, target = owners[index % len(owners)], owners[(index + 1) % len(owners)]
        barrier.wait()
        try:
            if index % 2:
                members.remove_member(actor, target.user_id)
            else:
                members.change_role(actor, target.user_id, "operator")
        except (InvalidInput, NotFound, Forbidden):
            pass

    threads = [threading.Thread(target=attack, args=(index,)) for index in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_owners_demoting_each_other_at_once_leave_an_owner(db: None) -> None:
    """20 threads: owners demote and remove each other at the same moment; an owner always remains."""
    for _ in range(3):
        first = make_actor("owner")
        owners = [first] + [make_actor("owner", tenant_name=first.tenant_name) for _ in range(3)]
        _demote_or_remove_at_once(owners, 20)
        with session_scope() as session:
            left = session.exec(select(func.count()).select_from(Membership).where(
                Membership.tenant_id == first.tenant_id, Membership.role == "owner")).one()
        assert left >= 1


# ---------------------------------------------------------------- the HTTP routes


@pytest.fixture
def client() -> TestClient:
    return TestClient(build_invite_api(), follow_redirects=False)


def _signed_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate(email, password))


def test_the_invite_route_invites_from_the_session_cookie(db: None, client: TestClient) -> None:
    owner = make_actor("owner")
    _signed_in(client, owner.email)
    email = f"routed-{random_suffix()}@example.test"
    response = client.post(INVITE_PATH, data={"email": email, "role": "operator", "password": "long enough pw"},
                           headers=ORIGIN)
    assert (response.status_code, response.headers["location"]) == (303, "/members?outcome=invited")
    assert [i.email for i in invitations.list_invitations(owner)] == [email]
    again = client.post(INVITE_PATH, data={"email": email, "role": "operator", "password": "long enough pw"},
                        headers=ORIGIN)
    assert again.headers["location"] == "/members?outcome=exists"


@pytest.mark.parametrize(("headers", "data", "status", "location"), [
    ({}, {"email": "a@example.test", "role": "owner", "password": "long enough pw"}, 403, None),
    ({"origin": "https://evil.test"}, {"email": "a@example.test", "role": "owner", "password": "long enough pw"},
     403, None),
    ({"origin": "null"}, {"email": "a@example.test", "role": "owner", "password": "long enough pw"}, 403, None),
    (ORIGIN, {"email": "a@example.test", "role": "owner", "password": "x" * 9000}, 303, "/members?outcome=invalid"),
    (ORIGIN, {"email": "a@example.test", "role": "czar", "password": "long enough pw"}, 303, "/members?outcome=role"),
    (ORIGIN, {"email": "not an email", "role": "owner", "password": "long enough pw"}, 303,
     "/members?outcome=email"),
    (ORIGIN, {"email": "a@example.test", "role": "owner", "password": "short"}, 303, "/members?outcome=password"),
])
def test_the_invite_route_refuses_bad_requests_and_writes_nothing(
        db: None, client: TestClient, headers: dict[str, str], data: dict[str, str], status: int,
        location: str | None) -> None:
    owner = make_actor("owner")
    _signed_in(client, owner.email)
    users, audits = _count(User), _count(AuditEvent)
    response = client.post(INVITE_PATH, data=data, headers=headers)
    assert response.status_code == status and response.headers.get("location") == location
    assert (_count(User), _count(AuditEvent), _count(Invitation)) == (users, audits, 0)


def test_the_invite_route_refuses_repeated_fields_no_cookie_and_no_capability(db: None, client: TestClient) -> None:
    owner = make_actor("owner")
    body = "email=a%40example.test&role=owner&role=readonly&password=long+enough+pw"
    headers = {**ORIGIN, "content-type": "application/x-www-form-urlencoded"}
    assert client.post(INVITE_PATH, content=body, headers=headers).headers["location"] == "/login"
    _signed_in(client, owner.email)
    assert client.post(INVITE_PATH, content=body, headers=headers).headers["location"] == "/members?outcome=invalid"
    manager = make_actor("manager", tenant_name=owner.tenant_name)
    _signed_in(client, manager.email)
    denied = client.post(INVITE_PATH, data={"email": "a@example.test", "role": "owner", "password": "long enough pw"},
                         headers=ORIGIN)
    assert denied.headers["location"] == "/members?outcome=denied"
    assert _count(Invitation) == 0


def test_the_accept_route_needs_the_invitation_password(db: None, client: TestClient) -> None:
    owner = make_actor("owner")
    invitee = make_actor("readonly")
    invitation = invite_member(owner, email=invitee.email, role="manager", password="given out of band")
    _signed_in(client, invitee.email)
    wrong = client.post(ACCEPT_PATH, data={"invitation_id": str(invitation.id), "password": PASSWORD},
                        headers=ORIGIN)
    assert wrong.headers["location"] == "/invitations?outcome=wrong"
    assert client.post(ACCEPT_PATH, data={"invitation_id": str(invitation.id), "password": "given out of band"},
                       headers={}).status_code == 403
    right = client.post(ACCEPT_PATH, data={"invitation_id": str(invitation.id), "password": "given out of band"},
                        headers=ORIGIN)
    assert right.headers["location"] == "/invitations?outcome=accepted"
    assert {m.email for m in members.list_members(owner)} == {owner.email, invitee.email}
    gone = client.post(ACCEPT_PATH, data={"invitation_id": str(invitation.id), "password": "given out of band"},
                       headers=ORIGIN)
    assert gone.headers["location"] == "/invitations?outcome=gone"


def test_the_tenant_directory_keeps_emails_in_their_key_form(db: None) -> None:
    with session_scope() as session:
        create_tenant(session, "Keys")
    owner = make_actor("owner", tenant_name="Keys")
    email = f"Stra\u00dfe-{random_suffix()}@Example.test"
    with pytest.raises(InvalidInput, match="ASCII"):  # ß casefolds to ss, but the rest must be ASCII too
        invite_member(owner, email=email.replace("-", "\u2010"), role="readonly", password="long enough pw")
    invitation = invite_member(owner, email=email, role="readonly", password="long enough pw")
    assert invitation.email == email.casefold() and "strasse" in invitation.email
