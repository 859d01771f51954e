"""What particular handlers do: "Check connection" only writes a run and enqueues its id, with no outbound
request; a removed member loses access within the session cache window (sooner through the heartbeat); secrets
typed into forms never reach the state (not even backend-only vars); switching tenant; keyset paging of the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import reflex as rx
from sqlalchemy import text
from starlette.testclient import TestClient

from atlas_app.invite_routes import INVITE_PATH, build_invite_api
from atlas_app.pages.audit import AuditState
from atlas_app.pages.connections import ConnectionsState
from atlas_app.pages.members import MembersState
from atlas_app.state import session as session_module
from atlas_app.state.messages import NOT_FOUND
from atlas_app.state.session import SessionState
from atlas_services import sessions
from atlas_services.db import get_engine
from atlas_services.members import remove_member
from atlas_services.runs import queries
from tests.support.factories import PASSWORD, join_tenant, make_actor, random_suffix
from tests.support.reflex_harness import (
    form_fields,
    redirect_target,
    run,
    session_digest,
    state_for,
)
from tests.support.web_world import OTHER, World, new_connection


def test_check_connection_only_writes_a_run_and_enqueues_its_id(world: World, huey_queue: Any, outbound: Any) -> None:
    connection = new_connection(world.owner_a)
    state = state_for(ConnectionsState, session_digest(world.actors["operator"]))
    outbound.requests.clear()
    run(ConnectionsState.check_connection.fn(state, connection_id=connection))
    assert outbound.requests == []
    assert state.notice == "Health check queued."
    assert huey_queue.pending_count() == 1
    (task,) = huey_queue.pending()
    assert task.args == (state.last_run_id,) and not task.kwargs
    assert queries.get_run(world.owner_a, state.last_run_id).status == "queued"


def test_a_removed_member_loses_access_within_the_cache_window(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = join_tenant(world.owner_a, email=f"leaving-{random_suffix()}@example.test", role="operator",
                        password=PASSWORD)
    state = state_for(ConnectionsState, sessions.token_digest(sessions.authenticate(member.email, PASSWORD)))
    run(ConnectionsState.on_page_load.fn(state))
    assert state.connections and state.user_email == member.email
    remove_member(world.owner_a, member.user_id)

    start = session_module._clock()
    monkeypatch.setattr(session_module, "_clock", lambda: start + session_module.HEARTBEAT_SECONDS + 1)
    # The page's heartbeat re-reads the session after HEARTBEAT_SECONDS and sends the page to /login.
    result = run(SessionState.heartbeat.fn(state, tick="x"))
    assert redirect_target(result) == "/login"
    assert state.connections == [] and state.user_email == ""

    # Any event after the cache window is refused too, heartbeat or not.
    state = state_for(ConnectionsState, sessions.token_digest(sessions.authenticate(world.owner_a.email, PASSWORD)))
    run(ConnectionsState.on_page_load.fn(state))
    checked = state._actor_checked_at
    monkeypatch.setattr(session_module, "_clock", lambda: checked + session_module.ACTOR_CACHE_SECONDS + 1)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE user_sessions SET revoked_at = now() WHERE user_id = :u"),
                     {"u": world.owner_a.user_id})
    result = run(ConnectionsState.make_default.fn(state, connection_id=new_connection(world.owner_a)))
    assert redirect_target(result) == "/login"


@dataclass
class _Canary:
    value: str = field(default_factory=lambda: f"CANARY{uuid.uuid4().hex}")


def _state_bytes(state: Any) -> bytes:
    """What the state store would hold for this tab (every state of the tree, as the Redis manager pickles
    them one by one, backend-only vars included) plus what the browser would get."""
    root = state
    while root.parent_state is not None:
        root = root.parent_state
    stored, pending = [], [root]
    while pending:
        current = pending.pop()
        stored.append(current._serialize())
        pending.extend(current.substates.values())
    return b"".join(stored) + repr(root.dict()).encode()


def test_secrets_typed_into_forms_never_reach_the_state(world: World, huey_queue: Any) -> None:
    canary = _Canary().value
    state = state_for(ConnectionsState, session_digest(world.owner_a))
    secret_ids = {"client_secret", "certificate_pem", "pfx_passphrase"}

    # Success, and each failure path: a bad PEM, a secret that is too long, a GUID-shaped secret.
    attempts = [
        form_fields(name=f"ok-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
              client_id=str(uuid.uuid4()), credential_kind="secret", client_secret=f"  {canary}  ",
              pfx_passphrase=canary),
        form_fields(name="bad-pem", cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
              credential_kind="pem", certificate_pem=f"-----BEGIN PRIVATE KEY-----\n{canary}\n"),
        form_fields(name="too-long", credential_kind="secret", client_secret=canary * 200),
        form_fields(name="guid", cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
              credential_kind="secret", client_secret=str(uuid.uuid4())),
    ]
    for form in attempts:
        result = run(ConnectionsState.create_connection.fn(state, files=[], form_data=form))
        cleared = {args["ref"]._var_value for args in ({str(n): v for n, v in event.args} for event in result)
                   if set(args) == {"ref", "value"} and args["value"]._var_value == ""}  # rx.set_value(id, "")
        assert {f"ref_{element}" for element in secret_ids} <= cleared
        assert canary.encode() not in _state_bytes(state)
    assert state.create_guid_warning  # the GUID refusal offers the "I'm sure" checkbox
    connection = next(row.id for row in state.connections if row.name.startswith("ok-"))
    run(ConnectionsState.rotate_credential.fn(state, files=[], form_data=form_fields(
        connection_id=connection, credential_kind="secret", rotate_client_secret=canary + "-rotated")))
    assert state.rotation_run_id and canary.encode() not in _state_bytes(state)
    # The invite form posts to a plain route (its password is never an event argument); the page then lists it.
    invited = f"invited-{random_suffix()}@example.test"
    client = TestClient(build_invite_api(), follow_redirects=False)
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate(world.owner_a.email, PASSWORD))
    answer = client.post(INVITE_PATH, data={"email": invited, "role": "readonly", "password": canary},
                         headers={"origin": "http://testserver"})
    assert answer.headers["location"] == "/members?outcome=invited"
    members = state_for(MembersState, session_digest(world.owner_a))
    run(MembersState.on_page_load.fn(members))
    assert invited in {row.email for row in members.invitations}

    for candidate in (state, members):
        assert canary.encode() not in _state_bytes(candidate)


def test_a_pfx_upload_is_read_in_the_handler_and_not_kept(world: World) -> None:
    import io
    from pathlib import Path

    from tests.support.certificates import make_certificate

    canary = _Canary().value
    pfx = make_certificate("atlas-web-test").pfx(canary.encode())
    upload = rx.UploadFile(file=io.BytesIO(pfx), path=Path("cert.pfx"), size=len(pfx))
    state = state_for(ConnectionsState, session_digest(world.owner_a))
    run(ConnectionsState.create_connection.fn(state, files=[upload], form_data=form_fields(
        name=f"pfx-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()), credential_kind="pfx", pfx_passphrase=canary)))
    assert state.form_error == "" and state.notice_kind == "success", (state.form_error, state.notice)
    created = next(row for row in state.connections if row.name.startswith("pfx-"))
    assert created.credential_kind == "Certificate" and created.expires
    assert canary.encode() not in _state_bytes(state) and pfx not in _state_bytes(state)

    wrong = rx.UploadFile(file=io.BytesIO(pfx), path=Path("cert.pfx"), size=len(pfx))
    run(ConnectionsState.create_connection.fn(state, files=[wrong], form_data=form_fields(
        name=f"pfx-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()), credential_kind="pfx", pfx_passphrase="wrong passphrase")))
    assert state.form_field == "passphrase" and "passphrase" in state.form_error


def test_switching_tenant_changes_the_session_and_the_header(world: World) -> None:
    state = state_for(ConnectionsState, session_digest(world.actors["operator"]))
    run(ConnectionsState.on_page_load.fn(state))
    assert {tenant.id for tenant in state.tenants} == {str(world.actors["operator"].tenant_id), world.tenant_c}
    result = run(SessionState.switch_tenant.fn(state, tenant_id=world.tenant_c))
    assert redirect_target(result) == "/connections"
    assert state.tenant_id == world.tenant_c and state.user_role == "readonly"
    assert not state.can_run and state.connections == []


def test_another_tenants_connection_is_simply_not_found(world: World) -> None:
    state = state_for(ConnectionsState, session_digest(world.owner_a))
    run(ConnectionsState.delete_connection.fn(state, connection_id=new_connection(world.owner_b, f"{OTHER}-")))
    assert (state.notice, state.notice_kind) == (NOT_FOUND, "error")


def test_the_audit_log_pages_back_by_keyset_without_gaps_or_repeats(world: World) -> None:
    from atlas_services.audit import list_events
    from atlas_services.db import session_scope
    from atlas_services.models import AuditEvent

    owner = make_actor("owner", f"audit-{random_suffix()}")
    tied = datetime.now(UTC) - timedelta(hours=1)
    with session_scope() as session:  # half of them share one timestamp: the id breaks the tie
        for index in range(60):
            session.add(AuditEvent(tenant_id=owner.tenant_id, actor_user_id=owner.user_id, action=f"test.{index}",
                                   target_type="test", at=tied if index % 2 else tied - timedelta(seconds=index)))
    expected = [str(view.id) for view in list_events(owner, limit=500)]
    state = state_for(AuditState, session_digest(owner))
    run(AuditState.on_page_load.fn(state))
    seen, pages = [row.id for row in state.events], 1
    while state.has_older:
        run(AuditState.older_events.fn(state))
        seen += [row.id for row in state.events]
        pages += 1
        assert state.page_number == pages
    assert seen == expected and len(expected) >= 60 and pages == -(-len(expected) // 25)
    run(AuditState.newest_events.fn(state))
    assert state.page_number == 1 and [row.id for row in state.events] == expected[:25]
