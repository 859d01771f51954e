"""The web tier's event handlers, called the way Reflex calls them but without a browser (reflex-notes §5).

A state tree is built with ``rx.State()``, its router carries the session-digest cookie the cookie shield
would put on the websocket, and handlers are called as ``Handler.fn(state, **payload)`` with whatever a
browser (or an attacker) could send. What is checked:

- the matrix: every public handler × every role × {own tenant, other tenant}: only what the role table allows
  changes anything (database rows, or for reads: the data shown); another tenant's id gets exactly what a
  random id gets; nothing of the other tenant ever appears in the state;
- signed-out callers are sent to /login and change nothing;
- wrong-typed, oversized, SQL- and script-looking arguments are refused without a crash or a change;
- ``setvar`` on any var sets nothing;
- "Check connection" only writes a run and enqueues its id, with no outbound request;
- a removed member loses access within the session cache window (sooner through the heartbeat);
- secrets typed into forms never reach the state (not even backend-only vars).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import reflex as rx
from reflex.state import BaseState, State
from sqlalchemy import text

import atlas_app.atlas_app as web
from atlas_app.pages.audit import AuditState
from atlas_app.pages.connection_detail import ConnectionDetailState
from atlas_app.pages.connections import ConnectionsState
from atlas_app.pages.login import LoginState
from atlas_app.pages.members import MembersState
from atlas_app.pages.operations import OperationsState
from atlas_app.pages.runs.state import RunState
from atlas_app.state import session as session_module
from atlas_app.state.guard import (
    DENIED,
    INVALID,
    PAGE_DENIED,
    PUBLIC,
    SIGNED_IN,
    FormArgument,
    access_of,
    flag_arg,
    ignored_arg,
    validators_of,
)
from atlas_app.state.messages import NOT_FOUND
from atlas_app.state.session import SessionState
from atlas_services import sessions
from atlas_services.authz import ROLE_CAPABILITIES, Actor, Capability
from atlas_services.connections import create_connection, get_connection
from atlas_services.db import get_engine
from atlas_services.inventory import _encode_cursor
from atlas_services.members import add_member, remove_member
from atlas_services.models import Role
from atlas_services.runs import execute, queries, start
from atlas_services.secrets import SecretValue
from tests.aio import run_coroutine
from tests.plugins.atlas import make_actor, random_suffix
from tests.plugins.backing import TABLES

PASSWORD = "correct horse battery"  # what make_actor gives every user
ROLES = [role.value for role in Role]
# Everything created in the other tenant carries this marker, so a leak shows up in any state var.
OTHER = "zz-other-tenant"
GOOD_SECRET = "a-good~looking~secret-value-1234"


def run(coroutine: Any) -> Any:
    return run_coroutine(coroutine)


# ---------------------------------------------------------------- the world


@dataclass
class World:
    actors: dict[str, Actor]  # role → a user with that role in tenant A
    owner_a: Actor
    owner_b: Actor
    tenant_c: str  # a third tenant every user of A also belongs to (for switching)
    tenant_b: str


def _truncate() -> None:
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)}, login_attempts CASCADE"))  # `db` is per test


def _connection(owner: Actor, marker: str = "") -> str:
    view = create_connection(owner, name=f"{marker}conn-{random_suffix()}", entra_tenant_id=str(uuid.uuid4()),
                             client_id=str(uuid.uuid4()), client_secret=SecretValue(GOOD_SECRET), cloud="simulator")
    return str(view.id)


def _run(owner: Actor, marker: str = "") -> str:
    connection = _connection(owner, marker)
    return str(start.start_operation(owner, "health_check", connection, enqueue=lambda _run_id: None).run_id)


def _member(owner: Actor, marker: str = "") -> str:
    return str(add_member(owner, email=f"{marker}member-{random_suffix()}@example.test", role="readonly",
                          password=PASSWORD).user_id)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    _truncate()
    tenant_a = f"tenant-a-{random_suffix()}"
    actors = {role: make_actor(role, tenant_a) for role in ROLES}
    owner_b = make_actor("owner", f"{OTHER}-{random_suffix()}")
    owner_c = make_actor("owner", f"tenant-c-{random_suffix()}")
    for actor in actors.values():
        add_member(owner_c, email=actor.email, role="readonly")
    # Something of everything in both tenants (and so audit events in both).
    for owner, marker in ((actors["owner"], ""), (owner_b, f"{OTHER}-")):
        _run(owner, marker)
        _member(owner, marker)
    yield World(actors=actors, owner_a=actors["owner"], owner_b=owner_b, tenant_c=str(owner_c.tenant_id),
                tenant_b=str(owner_b.tenant_id))
    _truncate()


def _session_digest(actor: Actor) -> str:
    """A fresh sign-in (in the user's first tenant): the digest the cookie shield would hand Reflex."""
    return sessions.token_digest(sessions.authenticate(actor.email, PASSWORD))


def _state(cls: type[BaseState], digest: str | None, path: str = "/") -> Any:
    """A fresh state tree with the router an event from a socket would have; returns the ``cls`` substate."""
    root = State()
    headers = {"origin": "http://atlas.test", "host": "atlas.test"}
    if digest:
        headers["cookie"] = f"atlas_session_hash={digest}"
    root._update_router_vars({"headers": headers, "sid": uuid.uuid4().hex, "token": uuid.uuid4().hex,
                              "pathname": path, "asPath": path}, {})
    return root.get_substate(cls.get_full_name().split(".")[1:])


def _fingerprint() -> str:
    """A digest of every row the app can write (a change anywhere changes it)."""
    parts = [f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t)"
             for table in TABLES]
    with get_engine().connect() as conn:
        return str(conn.execute(text("SELECT " + " || ".join(parts))).scalar_one())


def _visible(state: Any) -> dict[str, Any]:
    """Every non-router var of the state and its parents, as the browser would get it."""
    cls = type(state)
    return {name: getattr(state, name) for name, f in cls.__fields__.items()
            if not f._backend and f._owner.__module__.startswith("atlas_app")}


def _redirect_target(result: Any) -> str | None:
    events = result if isinstance(result, list) else [result]
    for event in events:
        args = {str(name): value for name, value in getattr(event, "args", ())}
        if {"path", "external", "replace"} <= set(args):  # what rx.redirect sends to the browser
            return str(args["path"]._var_value)
    return None


def _events(result: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Events a handler returned, as (name, args) with the values as JavaScript (comparable across calls)."""
    events = result if isinstance(result, list) else [result] if result is not None else []
    return [(event.handler.fn.__name__, tuple((str(name), str(value)) for name, value in event.args))
            for event in events]


def _allowed(role: str, access: Capability | str) -> bool:
    return access in (PUBLIC, SIGNED_IN) or access in ROLE_CAPABILITIES[Role(role)]


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Spec:
    """How to call one handler, and how to tell whether it did anything."""

    state: type[BaseState]
    capability: Capability | str  # what the role table should demand (checked against the declaration)
    target: str | None = None  # "connection" | "run" | "member" | "tenant": the id the call acts on
    kwargs: Callable[[str | None], dict[str, Any]] = lambda target: {}
    db: bool = False  # the effect is a database change
    shown: Callable[[Any, str | None, Any], bool] | None = None  # the effect is what the state shows
    prepare: Callable[[Any, str | None], None] = lambda state, target: None
    path: Callable[[str | None], str] = lambda target: "/"


def _form(**values: Any) -> dict[str, Any]:
    return values


def _item_cursor() -> str:
    """An item-table cursor as the inventory read model hands them out (a position after an item)."""
    return _encode_cursor("", uuid.uuid4())


def _future_run_cursor() -> str:
    """A run-history position after every run (so the "older" page holds them all)."""
    return f"{(datetime.now(UTC) + timedelta(minutes=1)).isoformat()}|{uuid.uuid4()}"


SPECS: dict[str, Spec] = {
    "SessionState.switch_tenant": Spec(SessionState, SIGNED_IN, "tenant", lambda t: {"tenant_id": t}, db=True),
    "SessionState.heartbeat": Spec(SessionState, SIGNED_IN, kwargs=lambda t: {"tick": "2024-01-01"},
                                   shown=lambda s, t, r: r is None and s.user_email != ""),
    "SessionState.dismiss_notice": Spec(SessionState, SIGNED_IN, prepare=lambda s, t: setattr(s, "notice", "hi"),
                                        shown=lambda s, t, r: s.notice == ""),
    "IndexState.route": Spec(web.IndexState, PUBLIC, shown=lambda s, t, r: _redirect_target(r) == "/connections"),
    "LoginState.on_page_load": Spec(LoginState, PUBLIC, shown=lambda s, t, r: _redirect_target(r) == "/connections"),
    "ConnectionsState.on_page_load": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                          shown=lambda s, t, r: len(s.connections) > 0 and len(s.runs) > 0),
    "ConnectionsState.poll": Spec(ConnectionsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"tick": "x"},
                                  shown=lambda s, t, r: len(s.connections) > 0),
    "ConnectionsState.check_connection": Spec(ConnectionsState, Capability.PROVIDER_RUN, "connection",
                                              lambda t: {"connection_id": t}, db=True),
    "ConnectionsState.make_default": Spec(ConnectionsState, Capability.PROVIDER_MANAGE, "connection",
                                          lambda t: {"connection_id": t}, db=True),
    "ConnectionsState.change_enabled": Spec(ConnectionsState, Capability.PROVIDER_MANAGE, "connection",
                                            lambda t: {"connection_id": t, "enabled": False}, db=True),
    "ConnectionsState.delete_connection": Spec(ConnectionsState, Capability.PROVIDER_MANAGE, "connection",
                                               lambda t: {"connection_id": t}, db=True),
    "ConnectionsState.choose_create_kind": Spec(ConnectionsState, Capability.PROVIDER_MANAGE,
                                                kwargs=lambda t: {"kind": "pem"},
                                                shown=lambda s, t, r: s.create_kind == "pem"),
    "ConnectionsState.create_connection": Spec(
        ConnectionsState, Capability.PROVIDER_MANAGE, db=True,
        kwargs=lambda t: {"files": [], "form_data": _form(
            name=f"new-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
            client_id=str(uuid.uuid4()), credential_kind="secret", client_secret=GOOD_SECRET)}),
    "ConnectionsState.open_rotation": Spec(ConnectionsState, Capability.PROVIDER_MANAGE, "connection",
                                           lambda t: {"connection_id": t},
                                           shown=lambda s, t, r: s.rotate_open and s.rotate_id == t),
    "ConnectionsState.rotation_dialog": Spec(ConnectionsState, Capability.PROVIDER_MANAGE,
                                             kwargs=lambda t: {"is_open": False},
                                             prepare=lambda s, t: setattr(s, "rotate_open", True),
                                             shown=lambda s, t, r: s.rotate_open is False),
    "ConnectionsState.choose_rotate_kind": Spec(ConnectionsState, Capability.PROVIDER_MANAGE,
                                                kwargs=lambda t: {"kind": "pfx"},
                                                shown=lambda s, t, r: s.rotate_kind == "pfx"),
    "ConnectionsState.rotate_credential": Spec(
        ConnectionsState, Capability.PROVIDER_MANAGE, "connection", db=True,
        kwargs=lambda t: {"files": [], "form_data": _form(connection_id=t, credential_kind="secret",
                                                          rotate_client_secret=GOOD_SECRET + "-new")}),
    "MembersState.on_page_load": Spec(MembersState, Capability.TENANT_MANAGE, shown=lambda s, t, r: len(s.members) > 0),
    "MembersState.invite_member": Spec(
        MembersState, Capability.TENANT_MANAGE, db=True,
        kwargs=lambda t: {"form_data": _form(email=f"new-{random_suffix()}@example.test", role="operator",
                                             password=PASSWORD)}),
    "MembersState.change_member_role": Spec(MembersState, Capability.TENANT_MANAGE, "member",
                                            lambda t: {"user_id": t, "role": "operator"}, db=True),
    "MembersState.remove_member": Spec(MembersState, Capability.TENANT_MANAGE, "member", lambda t: {"user_id": t},
                                       db=True),
    "AuditState.on_page_load": Spec(AuditState, Capability.AUDIT_VIEW, shown=lambda s, t, r: len(s.events) > 0),
    "AuditState.newest_events": Spec(AuditState, Capability.AUDIT_VIEW, shown=lambda s, t, r: len(s.events) > 0),
    "AuditState.older_events": Spec(
        AuditState, Capability.AUDIT_VIEW,
        prepare=lambda s, t: (setattr(s, "has_older", True),
                              setattr(s, "_cursor_at", datetime.now(UTC) + timedelta(minutes=1)),
                              setattr(s, "_cursor_id", str(uuid.uuid4()))),
        shown=lambda s, t, r: s.page_number == 2 and len(s.events) > 0),
    "RunState.on_page_load": Spec(RunState, Capability.PROVIDER_VIEW, "run", path=lambda t: f"/runs/{t}",
                                  shown=lambda s, t, r: s.found and s.detail_id == t),
    "RunState.poll": Spec(RunState, Capability.PROVIDER_VIEW, "run", lambda t: {"tick": "x"},
                          prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "is_active", True)),
                          shown=lambda s, t, r: s.found),
    "RunState.cancel_run": Spec(RunState, Capability.PROVIDER_RUN, "run", lambda t: {"run_ref": t}, db=True),
    "ConnectionDetailState.on_page_load": Spec(ConnectionDetailState, Capability.PROVIDER_VIEW, "connection",
                                               path=lambda t: f"/connections/{t}",
                                               shown=lambda s, t, r: s.found and s.detail_id == t),
    "ConnectionDetailState.poll": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW, "connection", lambda t: {"tick": "x"},
        prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "has_active", True)),
        shown=lambda s, t, r: s.found and s.detail_id == t),
    "ConnectionDetailState.start_operation": Spec(
        ConnectionDetailState, Capability.PROVIDER_RUN, "connection",
        lambda t: {"connection_id": t, "op_type": "inventory_sync"}, db=True),
    "ConnectionDetailState.choose_kind": Spec(ConnectionDetailState, Capability.PROVIDER_VIEW,
                                              kwargs=lambda t: {"kind": "mobile_app"},
                                              shown=lambda s, t, r: s.items_kind == "mobile_app"),
    "ConnectionDetailState.search_items": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW,
        kwargs=lambda t: {"form_data": _form(kind="mobile_app", search=" laptop ")},
        shown=lambda s, t, r: s.items_search == "laptop" and s.items_kind == "mobile_app"),
    "ConnectionDetailState.show_removed": Spec(ConnectionDetailState, Capability.PROVIDER_VIEW,
                                               kwargs=lambda t: {"include": True},
                                               shown=lambda s, t, r: s.items_removed is True),
    "ConnectionDetailState.next_items": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW, "connection",
        prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "_next_cursor", _item_cursor())),
        shown=lambda s, t, r: s.items_page == 2 and s.detail_id == t),
    "ConnectionDetailState.previous_items": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW, "connection",
        prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "_item_cursors", [_item_cursor()]),
                              setattr(s, "items_page", 2)),
        shown=lambda s, t, r: s.items_page == 1 and s.detail_id == t),
    "OperationsState.on_page_load": Spec(OperationsState, Capability.PROVIDER_VIEW,
                                         shown=lambda s, t, r: len(s.runs) > 0 and len(s.connection_choices) > 0),
    "OperationsState.poll": Spec(OperationsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"tick": "x"},
                                 shown=lambda s, t, r: len(s.runs) > 0 and s.has_active),
    "OperationsState.filter_by_connection": Spec(OperationsState, Capability.PROVIDER_VIEW, "connection",
                                                 lambda t: {"connection": t},
                                                 shown=lambda s, t, r: s.filter_connection == t and s.loaded),
    "OperationsState.filter_by_status": Spec(
        OperationsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"status": "queued"},
        shown=lambda s, t, r: s.filter_status == "queued" and len(s.runs) > 0
        and all(row.status == "queued" for row in s.runs)),
    "OperationsState.filter_by_operation": Spec(
        OperationsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"op_type": "health_check"},
        shown=lambda s, t, r: s.filter_op == "health_check" and len(s.runs) > 0
        and all(row.op_type == "health_check" for row in s.runs)),
    "OperationsState.older_runs": Spec(
        OperationsState, Capability.PROVIDER_VIEW,
        prepare=lambda s, t: (setattr(s, "has_older", True), setattr(s, "_older_cursor", _future_run_cursor())),
        shown=lambda s, t, r: s.page_number == 2 and len(s.runs) > 0),
    "OperationsState.newest_runs": Spec(OperationsState, Capability.PROVIDER_VIEW,
                                        shown=lambda s, t, r: s.page_number == 1 and len(s.runs) > 0),
}


def _handler(name: str) -> Any:
    state_name, handler_name = name.split(".")
    return getattr(SPECS[name].state, handler_name)


def _target(world: World, kind: str | None, scope: str) -> str | None:
    owner = world.owner_a if scope == "own" else world.owner_b
    marker = "" if scope == "own" else f"{OTHER}-"
    if kind == "connection":
        return _connection(owner, marker)
    if kind == "run":
        return _run(owner, marker)
    if kind == "member":
        return _member(owner, marker)
    if kind == "tenant":
        return world.tenant_c if scope == "own" else world.tenant_b
    return None


def _call(spec: Spec, handler: Any, actor: Actor | None, target: str | None) -> tuple[Any, Any, bool]:
    """Call the handler as ``actor``; returns (state, result, whether the database changed)."""
    state = _state(spec.state, _session_digest(actor) if actor else None, spec.path(target))
    spec.prepare(state, target)
    before = _fingerprint()
    result = run(handler.fn(state, **spec.kwargs(target)))
    return state, result, _fingerprint() != before


def test_the_matrix_covers_every_handler_and_matches_the_declarations() -> None:
    from tests.unit.test_web_registry import _handlers

    assert set(SPECS) == set(_handlers())
    mismatched = {name: access_of(_handler(name).fn) for name, spec in SPECS.items()
                  if access_of(_handler(name).fn) != spec.capability}
    assert mismatched == {}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_only_what_the_role_table_allows_happens_and_other_tenants_look_like_nothing(
    world: World, huey_queue: Any, name: str
) -> None:
    spec, handler = SPECS[name], _handler(name)
    for role in ROLES:
        for scope in ("own", "other") if spec.target else ("own",):
            where = f"{name} as {role} on {scope}"
            target = _target(world, spec.target, scope)
            state, result, changed = _call(spec, handler, world.actors[role], target)
            effect = changed if spec.db else bool(spec.shown and spec.shown(state, target, result))
            expected = _allowed(role, spec.capability) and scope == "own"
            assert effect == expected, where
            if not expected:
                assert not changed, f"{where}: rows changed"
            if not _allowed(role, spec.capability):
                assert state.notice in (DENIED, PAGE_DENIED) and state.notice_kind == "error", where
            assert OTHER not in repr(_visible(state)), f"{where}: the other tenant's data leaked"
            if scope == "other" and _allowed(role, spec.capability):
                # Another tenant's real id and a random id get the very same answer.
                random_state, random_result, random_changed = _call(spec, handler, world.actors[role],
                                                                    str(uuid.uuid4()))
                assert not random_changed
                assert _visible(state) == _visible(random_state), where
                assert _events(result) == _events(random_result), where


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.capability != PUBLIC))
def test_signed_out_callers_are_sent_to_login_and_change_nothing(world: World, huey_queue: Any, name: str) -> None:
    spec = SPECS[name]
    target = _target(world, spec.target, "own")
    state, result, changed = _call(spec, _handler(name), None, target)
    assert _redirect_target(result) == "/login"
    assert not changed
    visible = _visible(state)
    assert visible["user_email"] == "" and visible["notice"] == ""
    for data in ("connections", "runs", "members", "events", "summary"):
        assert not visible.get(data), data


def test_a_forged_session_digest_is_nobody(world: World) -> None:
    for digest in ("0" * 64, "x" * 64, "' OR 1=1 --", sessions.token_digest("not-a-real-token")):
        state = _state(ConnectionsState, digest)
        result = run(ConnectionsState.on_page_load.fn(state))
        assert _redirect_target(result) == "/login" and state.connections == []


# ---------------------------------------------------------------- forged arguments


BAD_VALUES: list[Any] = [
    {"evil": 1}, ["x"], 12, 12.5, True, "true", "x" * 100_000,
    "' OR '1'='1'; DROP TABLE users; --", "<script>alert(1)</script>", "00000000-0000-0000-0000-00000000000g",
]


def _bad_calls() -> list[tuple[str, str, Any]]:
    calls = []
    for name in sorted(SPECS):
        validators = validators_of(_handler(name).fn) or {}
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
    target = _target(world, spec.target, "own")
    kwargs = {**spec.kwargs(target), argument: BAD_VALUES[index]}
    state = _state(spec.state, _session_digest(world.owner_a), spec.path(target))
    spec.prepare(state, target)
    before = _fingerprint()
    run(_handler(name).fn(state, **kwargs))  # never raises
    assert _fingerprint() == before
    errors = [state.notice] + [value for key, value in _visible(state).items() if key.endswith("_error")]
    assert any(errors), "the refusal was not explained"
    if not isinstance(validators_of(_handler(name).fn)[argument], FormArgument):
        # Refused by the guard, before the handler body (and any service) saw the value.
        assert state.notice in (INVALID, "Choose one file."), state.notice
    assert "DROP TABLE" not in repr(_visible(state)) and "<script>" not in repr(_visible(state))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_unknown_and_missing_arguments_are_refused(world: World, name: str) -> None:
    spec = SPECS[name]
    target = _target(world, spec.target, "own")
    first, second = _session_digest(world.owner_a), _session_digest(world.owner_a)
    before = _fingerprint()
    state = _state(spec.state, first, spec.path(target))
    run(_handler(name).fn(state, **spec.kwargs(target), sneaky="1"))
    assert state.notice == INVALID
    if spec.kwargs(target):
        state = _state(spec.state, second, spec.path(target))
        run(_handler(name).fn(state))
        assert state.notice == INVALID
    assert _fingerprint() == before


def test_sql_and_script_looking_text_is_stored_literally(world: World) -> None:
    name = "<script>alert(1)</script>'; DROP TABLE users; --"
    state = _state(ConnectionsState, _session_digest(world.owner_a))
    run(ConnectionsState.create_connection.fn(state, files=[], form_data=_form(
        name=name, cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
        credential_kind="secret", client_secret=GOOD_SECRET)))
    assert state.form_error == ""
    assert name in [row.name for row in state.connections]  # as typed: React renders it as text
    assert _session_digest(world.owner_a)  # the users table is still there


def test_setvar_sets_nothing_on_any_var(world: World) -> None:
    from tests.unit.test_web_registry import _atlas_states

    digest = _session_digest(world.owner_a)
    tried = 0
    for cls in _atlas_states():
        state = _state(cls, digest)
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


# ---------------------------------------------------------------- specific behaviour


def test_check_connection_only_writes_a_run_and_enqueues_its_id(world: World, huey_queue: Any, outbound: Any) -> None:
    connection = _connection(world.owner_a)
    state = _state(ConnectionsState, _session_digest(world.actors["operator"]))
    outbound.requests.clear()
    run(ConnectionsState.check_connection.fn(state, connection_id=connection))
    assert outbound.requests == []
    assert state.notice == "Health check queued."
    assert huey_queue.pending_count() == 1
    (task,) = huey_queue.pending()
    assert task.args == (state.last_run_id,) and not task.kwargs
    assert queries.get_run(world.owner_a, state.last_run_id).status == "queued"


def test_a_removed_member_loses_access_within_the_cache_window(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = add_member(world.owner_a, email=f"leaving-{random_suffix()}@example.test", role="operator",
                        password=PASSWORD)
    state = _state(ConnectionsState, sessions.token_digest(sessions.authenticate(member.email, PASSWORD)))
    run(ConnectionsState.on_page_load.fn(state))
    assert state.connections and state.user_email == member.email
    remove_member(world.owner_a, member.user_id)

    start = session_module._clock()
    monkeypatch.setattr(session_module, "_clock", lambda: start + session_module.HEARTBEAT_SECONDS + 1)
    # The page's heartbeat re-reads the session after HEARTBEAT_SECONDS and sends the page to /login.
    result = run(SessionState.heartbeat.fn(state, tick="x"))
    assert _redirect_target(result) == "/login"
    assert state.connections == [] and state.user_email == ""

    # Any event after the cache window is refused too, heartbeat or not.
    state = _state(ConnectionsState, sessions.token_digest(sessions.authenticate(world.owner_a.email, PASSWORD)))
    run(ConnectionsState.on_page_load.fn(state))
    checked = state._actor_checked_at
    monkeypatch.setattr(session_module, "_clock", lambda: checked + session_module.ACTOR_CACHE_SECONDS + 1)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE user_sessions SET revoked_at = now() WHERE user_id = :u"),
                     {"u": world.owner_a.user_id})
    result = run(ConnectionsState.make_default.fn(state, connection_id=_connection(world.owner_a)))
    assert _redirect_target(result) == "/login"


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
    state = _state(ConnectionsState, _session_digest(world.owner_a))
    secret_ids = {"client_secret", "certificate_pem", "pfx_passphrase"}

    # Success, and each failure path: a bad PEM, a secret that is too long, a GUID-shaped secret.
    attempts = [
        _form(name=f"ok-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
              client_id=str(uuid.uuid4()), credential_kind="secret", client_secret=f"  {canary}  ",
              pfx_passphrase=canary),
        _form(name="bad-pem", cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
              credential_kind="pem", certificate_pem=f"-----BEGIN PRIVATE KEY-----\n{canary}\n"),
        _form(name="too-long", credential_kind="secret", client_secret=canary * 200),
        _form(name="guid", cloud="simulator", entra_tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
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
    run(ConnectionsState.rotate_credential.fn(state, files=[], form_data=_form(
        connection_id=connection, credential_kind="secret", rotate_client_secret=canary + "-rotated")))
    assert state.rotation_run_id and canary.encode() not in _state_bytes(state)
    members = _state(MembersState, _session_digest(world.owner_a))
    run(MembersState.invite_member.fn(members, form_data=_form(
        email=f"invited-{random_suffix()}@example.test", role="readonly", password=canary)))
    assert members.notice_kind == "success"

    for candidate in (state, members):
        assert canary.encode() not in _state_bytes(candidate)


def test_a_pfx_upload_is_read_in_the_handler_and_not_kept(world: World) -> None:
    import io
    from pathlib import Path

    from tests.certs import make_certificate

    canary = _Canary().value
    pfx = make_certificate("atlas-web-test").pfx(canary.encode())
    upload = rx.UploadFile(file=io.BytesIO(pfx), path=Path("cert.pfx"), size=len(pfx))
    state = _state(ConnectionsState, _session_digest(world.owner_a))
    run(ConnectionsState.create_connection.fn(state, files=[upload], form_data=_form(
        name=f"pfx-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()), credential_kind="pfx", pfx_passphrase=canary)))
    assert state.form_error == "" and state.notice_kind == "success", (state.form_error, state.notice)
    created = next(row for row in state.connections if row.name.startswith("pfx-"))
    assert created.credential_kind == "Certificate" and created.expires
    assert canary.encode() not in _state_bytes(state) and pfx not in _state_bytes(state)

    wrong = rx.UploadFile(file=io.BytesIO(pfx), path=Path("cert.pfx"), size=len(pfx))
    run(ConnectionsState.create_connection.fn(state, files=[wrong], form_data=_form(
        name=f"pfx-{random_suffix()}", cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()), credential_kind="pfx", pfx_passphrase="wrong passphrase")))
    assert state.form_field == "passphrase" and "passphrase" in state.form_error


def test_switching_tenant_changes_the_session_and_the_header(world: World) -> None:
    state = _state(ConnectionsState, _session_digest(world.actors["operator"]))
    run(ConnectionsState.on_page_load.fn(state))
    assert {tenant.id for tenant in state.tenants} == {str(world.actors["operator"].tenant_id), world.tenant_c}
    result = run(SessionState.switch_tenant.fn(state, tenant_id=world.tenant_c))
    assert _redirect_target(result) == "/connections"
    assert state.tenant_id == world.tenant_c and state.user_role == "readonly"
    assert not state.can_run and state.connections == []


def test_another_tenants_connection_is_simply_not_found(world: World) -> None:
    state = _state(ConnectionsState, _session_digest(world.owner_a))
    run(ConnectionsState.delete_connection.fn(state, connection_id=_connection(world.owner_b, f"{OTHER}-")))
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
    state = _state(AuditState, _session_digest(owner))
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


# ---------------------------------------------------------------- connection detail, operations, run detail


def _run_now(actor: Actor, op_type: str, connection_id: str) -> str:
    """Start ``op_type`` and run it here, as the worker would; returns the run id."""
    started = start.start_operation(actor, op_type, connection_id, enqueue=lambda _run_id: None)
    assert started.outcome == "started", started
    execute.execute_run(started.run_id)
    return str(started.run_id)


@dataclass(frozen=True)
class DemoContoso:
    digest: Callable[[], str]  # a fresh sign-in of the demo owner
    contoso: str
    runs: dict[str, str]  # op type → its (succeeded) run


@pytest.fixture(scope="module")
def demo_contoso(world: World, simulator: Any) -> DemoContoso:
    """The demo tenant and Contoso, after a health check, an inventory sync and a compliance snapshot."""
    from atlas_cli.demo import seed_demo
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for
    from atlas_services.graph.tokens import clear_token_cache

    clear_token_cache()
    demo = seed_demo()
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    with session_scope() as session:
        actor = actor_for(session, email=owner["email"], tenant_name="Demo MSP")
    contoso = next(c["id"] for c in demo["connections"] if c["name"] == "Contoso")
    runs = {op: _run_now(actor, op, contoso) for op in ("health_check", "inventory_sync", "compliance_snapshot")}
    return DemoContoso(lambda: sessions.token_digest(sessions.authenticate(owner["email"], owner["password"])),
                       contoso, runs)


def test_the_connection_detail_page_shows_health_inventory_and_the_trend(demo_contoso: DemoContoso) -> None:
    contoso, runs = demo_contoso.contoso, demo_contoso.runs
    state = _state(ConnectionDetailState, demo_contoso.digest(), f"/connections/{contoso}")
    run(ConnectionDetailState.on_page_load.fn(state))
    assert state.found and state.name == "Contoso" and state.health_status == "healthy"
    assert {row.kind: row.active for row in state.kinds} == {
        "managed_device": 300, "device_configuration": 9, "compliance_policy": 4, "mobile_app": 18}
    assert {row.capability: row.status for row in state.readiness} == {
        "health_check": "ready", "inventory_sync": "ready", "compliance_snapshot": "ready"}
    assert state.required_permissions and {row.grant for row in state.required_permissions} == {"granted"}
    assert "role assignments" in state.permission_source and "Organization.Read.All" in state.granted
    assert state.last_sync_status == "succeeded" and state.last_sync_run_id == runs["inventory_sync"]
    assert [point["compliant"] for point in state.trend] == [251]
    assert {row.id for row in state.runs} == set(runs.values()) and not state.has_active

    # The device table: ten at a time, forwards and back, searched, other kinds.
    first = [row.name for row in state.items]
    assert len(first) == 10 and state.items_has_next and state.items_page == 1
    run(ConnectionDetailState.next_items.fn(state))
    second = [row.name for row in state.items]
    assert state.items_page == 2 and len(second) == 10 and second[0] > first[-1]
    run(ConnectionDetailState.previous_items.fn(state))
    assert [row.name for row in state.items] == first and state.items_page == 1
    run(ConnectionDetailState.search_items.fn(state, form_data=_form(kind="managed_device", search=first[3])))
    assert [row.name for row in state.items] == [first[3]] and not state.items_has_next
    run(ConnectionDetailState.choose_kind.fn(state, kind="mobile_app"))
    assert state.items_search == "" and len(state.items) == 10 and state.items_has_next
    run(ConnectionDetailState.show_removed.fn(state, include=True))
    assert state.items_removed and len(state.items) == 10
    assert state.notice == "" and state.items_error == ""


def test_the_run_page_shows_each_summary_readably(demo_contoso: DemoContoso) -> None:
    def page(op_type: str) -> Any:
        state = _state(RunState, demo_contoso.digest(), f"/runs/{demo_contoso.runs[op_type]}")
        run(RunState.on_page_load.fn(state))
        assert state.found and state.op_type == op_type and state.status == "succeeded"
        return state

    health = page("health_check")
    facts = {item.key: item.value for item in health.facts}
    assert facts["Organization"] == "Contoso" and facts["Credential"] == "Client secret"
    assert [row.status for row in health.readiness] == ["ready"] * 3
    assert {row.grant for row in health.required_permissions} == {"granted"}
    assert not health.sections and not health.compliance

    inventory = page("inventory_sync")
    assert {row.name: (row.status, row.item_count) for row in inventory.sections} == {
        "managed_devices": ("succeeded", 300), "device_configurations": ("succeeded", 9),
        "compliance_policies": ("succeeded", 4), "mobile_apps": ("succeeded", 18)}
    assert {item.key: item.value for item in inventory.facts}["Items stored"] == "331"

    compliance = page("compliance_snapshot")
    assert {row.key: row.value for row in compliance.compliance}["compliant"] == 251
    assert {row.label for row in compliance.devices} >= {"Enrolled", "Windows"}
    assert {row.status for row in compliance.sections} == {"succeeded"}
    for state in (health, inventory, compliance):
        assert all("{" not in item.value for item in state.summary)  # no raw JSON left


def test_the_run_page_shows_live_progress_while_a_run_works(world: World) -> None:
    run_id = _run(world.owner_a)
    progress = {"pages_fetched": 3, "items_stored": 120, "current_section": "mobile_apps",
                "sections": {"managed_devices": {"kind": "managed_device", "status": "succeeded", "pages": 2,
                                                 "items": 100, "stored": 100, "removed": 0},
                             "mobile_apps": {"kind": "mobile_app", "status": "running", "pages": 1, "items": 20,
                                             "stored": 20}}}
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE operation_runs SET status = 'running', op_type = 'inventory_sync', "
                          "progress = CAST(:p AS jsonb) WHERE id = :id"),
                     {"p": json.dumps(progress), "id": run_id})
    state = _state(RunState, _session_digest(world.owner_a), f"/runs/{run_id}")
    run(RunState.on_page_load.fn(state))
    assert state.is_active
    assert state.progress == "3 pages fetched · 120 items stored · reading mobile apps"
    assert [(row.name, row.status, row.item_count) for row in state.progress_sections] == [
        ("managed_devices", "succeeded", 100), ("mobile_apps", "running", 20)]
    operations_state = _state(OperationsState, _session_digest(world.owner_a))
    run(OperationsState.on_page_load.fn(operations_state))
    live = next(row for row in operations_state.active_runs if row.id == run_id)
    assert live.active and live.progress == state.progress and operations_state.has_active
    with get_engine().begin() as conn:  # leave no run of tenant A "running" for the other tests
        conn.execute(text("UPDATE operation_runs SET status = 'failed' WHERE id = :id"), {"id": run_id})


def test_start_outcomes_are_told_apart_and_name_the_run(world: World, huey_queue: Any) -> None:
    first = _connection(world.owner_a)
    entra = str(get_connection(world.owner_a, first).entra_tenant_id)
    twin = str(create_connection(world.owner_a, name=f"twin-{random_suffix()}", entra_tenant_id=entra,
                                 client_id=str(uuid.uuid4()), client_secret=SecretValue(GOOD_SECRET),
                                 cloud="simulator").id)
    state = _state(ConnectionDetailState, _session_digest(world.actors["operator"]), f"/connections/{first}")
    run(ConnectionDetailState.on_page_load.fn(state))
    run(ConnectionDetailState.start_operation.fn(state, connection_id=first, op_type="health_check"))
    assert state.start_outcome == "started" and state.start_label == "Health check"
    started = state.start_run_id
    assert [row.id for row in state.runs] == [started] and state.has_active  # the page now polls
    run(ConnectionDetailState.start_operation.fn(state, connection_id=first, op_type="health_check"))
    assert (state.start_outcome, state.start_run_id) == ("deduplicated", started)
    # The same Microsoft tenant through another connection: the scope is busy with the first run.
    run(ConnectionDetailState.start_operation.fn(state, connection_id=twin, op_type="inventory_sync"))
    assert (state.start_outcome, state.start_run_id) == ("scope_busy", started)
    assert huey_queue.pending_count() == 1 and state.notice == ""


def test_the_operations_history_pages_back_by_keyset_and_filters(world: World) -> None:
    owner = make_actor("owner", f"ops-{random_suffix()}")
    first, second = _connection(owner), _connection(owner)
    for index in range(30):
        run_id = start.start_operation(owner, "health_check" if index % 3 else "inventory_sync",
                                            first if index % 2 else second, enqueue=lambda _run_id: None).run_id
        with get_engine().begin() as conn:  # finished at once, so the next one can start
            conn.execute(text("UPDATE operation_runs SET status = :s WHERE id = :id"),
                         {"s": "failed" if index % 5 == 0 else "succeeded", "id": run_id})
    expected = [str(view.id) for view in queries.list_runs(owner, 200)]
    state = _state(OperationsState, _session_digest(owner))
    run(OperationsState.on_page_load.fn(state))
    assert len(state.connection_choices) == 2 and not state.has_active
    seen = [row.id for row in state.runs]
    assert len(seen) == 25 and state.has_older
    run(OperationsState.older_runs.fn(state))
    seen += [row.id for row in state.runs]
    assert seen == expected and not state.has_older and state.page_number == 2
    run(OperationsState.newest_runs.fn(state))
    assert [row.id for row in state.runs] == expected[:25] and state.page_number == 1

    run(OperationsState.filter_by_status.fn(state, status="failed"))
    assert len(state.runs) == 6 and {row.status for row in state.runs} == {"failed"}
    run(OperationsState.filter_by_operation.fn(state, op_type="inventory_sync"))
    assert state.runs and {(row.status, row.op_type) for row in state.runs} == {("failed", "inventory_sync")}
    run(OperationsState.filter_by_connection.fn(state, connection=first))
    assert {row.connection_id for row in state.runs} <= {first}
    run(OperationsState.filter_by_status.fn(state, status="all"))
    run(OperationsState.filter_by_operation.fn(state, op_type="all"))
    assert len(state.runs) == 15 and {row.connection_id for row in state.runs} == {first}
    run(OperationsState.filter_by_connection.fn(state, connection=_connection(world.owner_b)))
    assert state.notice == NOT_FOUND and state.filter_connection == first  # another tenant's: not found
