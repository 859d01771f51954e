"""How to call each browser-callable handler in the tests, and how to tell whether the call did anything."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reflex.state import BaseState

import atlas_app.atlas_app as web
from atlas_app.pages.account_security import AccountSecurityState
from atlas_app.pages.alerts import AlertsState
from atlas_app.pages.audit import AuditState
from atlas_app.pages.connection_detail import ConnectionDetailState
from atlas_app.pages.connections import ConnectionsState
from atlas_app.pages.invitations import InvitationsState
from atlas_app.pages.login import LoginState
from atlas_app.pages.members import MembersState
from atlas_app.pages.operations import OperationsState
from atlas_app.pages.runs.state import RunState
from atlas_app.pages.second_factor import SecondFactorState
from atlas_app.pages.sign_in_settings import SignInSettingsState
from atlas_app.state.guard import (
    PUBLIC,
    SIGNED_IN,
)
from atlas_app.state.session import SessionState
from atlas_services.authz import ROLE_CAPABILITIES, Actor, Capability
from atlas_services.inventory import _encode_cursor
from atlas_services.models import Role
from tests.support.factories import make_actor, random_suffix
from tests.support.reflex_harness import (
    database_fingerprint,
    form_fields,
    redirect_target,
    run,
    session_digest,
    state_for,
)
from tests.support.web_world import (
    GOOD_SECRET,
    OTHER,
    World,
    new_connection,
    new_invitation,
    new_member,
    new_run,
)


def allowed(role: str, access: Capability | str) -> bool:
    return access in (PUBLIC, SIGNED_IN) or access in ROLE_CAPABILITIES[Role(role)]


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Spec:
    """How to call one handler, and how to tell whether it did anything."""

    state: type[BaseState]
    capability: Capability | str  # what the role table should demand (checked against the declaration)
    # "connection" | "run" | "member" | "tenant" | "invitation" | "my-invitation": the id the call acts on
    target: str | None = None
    kwargs: Callable[[str | None], dict[str, Any]] = lambda target: {}
    db: bool = False  # the effect is a database change
    shown: Callable[[Any, str | None, Any], bool] | None = None  # the effect is what the state shows
    prepare: Callable[[Any, str | None], None] = lambda state, target: None
    path: Callable[[str | None], str] = lambda target: "/"


def ensure_webhooks(state: Any, target: str | None) -> None:
    """Every tenant has an alert webhook (so clearing or testing one has something to act on)."""
    from sqlmodel import select

    from atlas_services.credentials import seal_webhook_url
    from atlas_services.db import session_scope
    from atlas_services.models import AlertWebhook, Tenant
    from atlas_services.secrets import SecretValue

    with session_scope() as session:
        for tenant_id in session.exec(select(Tenant.id).where(Tenant.id.not_in(  # type: ignore[attr-defined]
                select(AlertWebhook.tenant_id)))).all():
            sealed = seal_webhook_url(SecretValue("https://hooks.example.test/x/TOKEN"), tenant_id=tenant_id)
            session.add(AlertWebhook(tenant_id=tenant_id, kind="json", ciphertext=sealed.ciphertext,
                                     nonce=sealed.nonce, key_id=sealed.key_id, hint="hooks.example.test …OKEN"))


def ensure_sso_configs() -> None:
    """Every tenant has a sign-in app (so a policy change or removal has something to act on)."""
    from sqlmodel import select

    from atlas_services.credentials import seal_sso_credential
    from atlas_services.db import session_scope
    from atlas_services.models import SsoConfig, Tenant
    from atlas_services.secrets import SecretValue

    with session_scope() as session:
        for tenant_id in session.exec(select(Tenant.id).where(Tenant.id.not_in(  # type: ignore[attr-defined]
                select(SsoConfig.tenant_id)))).all():
            sealed = seal_sso_credential(SecretValue("sign-in-app-secret"), tenant_id=tenant_id)
            session.add(SsoConfig(tenant_id=tenant_id, cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
                                  client_id=str(uuid.uuid4()), kind="client_secret", ciphertext=sealed.ciphertext,
                                  nonce=sealed.nonce, key_id=sealed.key_id, hint="…cret"))


def item_cursor() -> str:
    """An item-table cursor as the inventory read model hands them out (a position after an item)."""
    return _encode_cursor("", uuid.uuid4())


def future_run_cursor() -> str:
    """A run-history position after every run (so the "older" page holds them all)."""
    return f"{(datetime.now(UTC) + timedelta(minutes=1)).isoformat()}|{uuid.uuid4()}"


SPECS: dict[str, Spec] = {
    "SessionState.switch_tenant": Spec(SessionState, SIGNED_IN, "tenant", lambda t: {"tenant_id": t}, db=True),
    "SessionState.heartbeat": Spec(SessionState, SIGNED_IN, kwargs=lambda t: {"tick": "2024-01-01"},
                                   shown=lambda s, t, r: r is None and s.user_email != ""),
    "SessionState.dismiss_notice": Spec(SessionState, SIGNED_IN, prepare=lambda s, t: setattr(s, "notice", "hi"),
                                        shown=lambda s, t, r: s.notice == ""),
    "IndexState.route": Spec(web.IndexState, PUBLIC, shown=lambda s, t, r: redirect_target(r) == "/connections"),
    "LoginState.on_page_load": Spec(LoginState, PUBLIC, shown=lambda s, t, r: redirect_target(r) == "/connections"),
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
        kwargs=lambda t: {"files": [], "form_data": form_fields(
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
        kwargs=lambda t: {"files": [], "form_data": form_fields(connection_id=t, credential_kind="secret",
                                                          rotate_client_secret=GOOD_SECRET + "-new")}),
    "ConnectionsState.filter_by_health": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                              kwargs=lambda t: {"health": "unknown"},
                                              shown=lambda s, t, r: s.filter_health == "unknown" and s.loaded),
    "ConnectionsState.filter_by_cloud": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                             kwargs=lambda t: {"cloud": "simulator"},
                                             shown=lambda s, t, r: s.filter_cloud == "simulator" and s.loaded),
    "ConnectionsState.filter_by_expiry": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                              kwargs=lambda t: {"days": "30"},
                                              shown=lambda s, t, r: s.filter_expiring == "30" and s.loaded),
    "ConnectionsState.filter_by_inventory_age": Spec(
        ConnectionsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"days": "7"},
        shown=lambda s, t, r: s.filter_inventory == "7" and len(s.connections) > 0),
    "ConnectionsState.filter_by_failing": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                               kwargs=lambda t: {"failing": "any"},
                                               shown=lambda s, t, r: s.filter_failing == "any" and s.loaded),
    "ConnectionsState.show_count": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                        kwargs=lambda t: {"count": "never_checked"},
                                        shown=lambda s, t, r: s.filter_health == "never_checked"
                                        and len(s.connections) > 0),
    "ConnectionsState.sort_by": Spec(ConnectionsState, Capability.PROVIDER_VIEW, kwargs=lambda t: {"column": "health"},
                                     shown=lambda s, t, r: s.sort_column == "health" and len(s.connections) > 0),
    "ConnectionsState.next_page": Spec(ConnectionsState, Capability.PROVIDER_VIEW,
                                       prepare=lambda s, t: setattr(s, "page_count", 2),
                                       shown=lambda s, t, r: s.page_number == 2 and s.loaded),
    "ConnectionsState.previous_page": Spec(
        ConnectionsState, Capability.PROVIDER_VIEW,
        prepare=lambda s, t: (setattr(s, "page_number", 2), setattr(s, "page_count", 2)),
        shown=lambda s, t, r: s.page_number == 1 and len(s.connections) > 0),
    "ConnectionsState.check_all_shown": Spec(ConnectionsState, Capability.PROVIDER_RUN, db=True),
    "MembersState.on_page_load": Spec(MembersState, Capability.TENANT_MANAGE, shown=lambda s, t, r: len(s.members) > 0),
    "MembersState.change_member_role": Spec(MembersState, Capability.TENANT_MANAGE, "member",
                                            lambda t: {"user_id": t, "role": "operator"}, db=True),
    "MembersState.remove_member": Spec(MembersState, Capability.TENANT_MANAGE, "member", lambda t: {"user_id": t},
                                       db=True),
    "MembersState.revoke_invitation": Spec(MembersState, Capability.TENANT_MANAGE, "invitation",
                                           lambda t: {"invitation_id": t}, db=True),
    "InvitationsState.on_page_load": Spec(InvitationsState, SIGNED_IN, shown=lambda s, t, r: s.loaded),
    "InvitationsState.decline": Spec(InvitationsState, SIGNED_IN, "my-invitation", lambda t: {"invitation_id": t},
                                     db=True),
    "AlertsState.on_page_load": Spec(AlertsState, Capability.PROVIDER_VIEW, shown=lambda s, t, r: s.loaded),
    "AlertsState.save_webhook": Spec(AlertsState, Capability.PROVIDER_MANAGE, db=True, kwargs=lambda t: {
        "form_data": form_fields(kind="slack", webhook_url="https://hooks.example.test/services/T0/B0/TOKEN")}),
    "AlertsState.clear_webhook": Spec(AlertsState, Capability.PROVIDER_MANAGE, db=True, prepare=ensure_webhooks),
    "AlertsState.send_test": Spec(AlertsState, Capability.PROVIDER_MANAGE, db=True, prepare=ensure_webhooks),
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
                          prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "has_active", True)),
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
        kwargs=lambda t: {"form_data": form_fields(kind="mobile_app", search=" laptop ")},
        shown=lambda s, t, r: s.items_search == "laptop" and s.items_kind == "mobile_app"),
    "ConnectionDetailState.show_removed": Spec(ConnectionDetailState, Capability.PROVIDER_VIEW,
                                               kwargs=lambda t: {"include": True},
                                               shown=lambda s, t, r: s.items_removed is True),
    "ConnectionDetailState.next_items": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW, "connection",
        prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "_next_cursor", item_cursor())),
        shown=lambda s, t, r: s.items_page == 2 and s.detail_id == t),
    "ConnectionDetailState.previous_items": Spec(
        ConnectionDetailState, Capability.PROVIDER_VIEW, "connection",
        prepare=lambda s, t: (setattr(s, "detail_id", t), setattr(s, "_item_cursors", [item_cursor()]),
                              setattr(s, "items_page", 2)),
        shown=lambda s, t, r: s.items_page == 1 and s.detail_id == t),
    "ConnectionDetailState.save_schedule": Spec(
        ConnectionDetailState, Capability.PROVIDER_MANAGE, "connection", db=True,
        kwargs=lambda t: {"form_data": form_fields(op_type="health_check", kind="every", value="2h", tz="",
                                                   jitter="10m")},
        prepare=lambda s, t: setattr(s, "detail_id", t)),
    "ConnectionDetailState.clear_schedule": Spec(
        ConnectionDetailState, Capability.PROVIDER_MANAGE, "connection", lambda t: {"op_type": "health_check"},
        db=True, prepare=lambda s, t: setattr(s, "detail_id", t)),
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
        prepare=lambda s, t: (setattr(s, "has_older", True), setattr(s, "_older_cursor", future_run_cursor())),
        shown=lambda s, t, r: s.page_number == 2 and len(s.runs) > 0),
    "OperationsState.newest_runs": Spec(OperationsState, Capability.PROVIDER_VIEW,
                                        shown=lambda s, t, r: s.page_number == 1 and len(s.runs) > 0),
    "SecondFactorState.on_page_load": Spec(SecondFactorState, PUBLIC,
                                           shown=lambda s, t, r: redirect_target(r) == "/connections"),
    "AccountSecurityState.on_page_load": Spec(AccountSecurityState, SIGNED_IN, shown=lambda s, t, r: s.loaded),
    "AccountSecurityState.change_mfa_policy": Spec(AccountSecurityState, Capability.TENANT_MANAGE,
                                                  kwargs=lambda t: {"required": True}, db=True),
    "SignInSettingsState.on_page_load": Spec(SignInSettingsState, Capability.TENANT_MANAGE,
                                             shown=lambda s, t, r: s.loaded),
    "SignInSettingsState.save_sign_in_app": Spec(SignInSettingsState, Capability.TENANT_MANAGE, db=True,
                                                 kwargs=lambda t: {"form_data": form_fields(
                                                     cloud="simulator", entra_tenant_id=str(uuid.uuid4()),
                                                     client_id=str(uuid.uuid4()),
                                                     client_secret="sign-in-app-secret-value")}),
    "SignInSettingsState.change_sso_policy": Spec(SignInSettingsState, Capability.TENANT_MANAGE, db=True,
                                                  prepare=lambda s, t: ensure_sso_configs(),
                                                  kwargs=lambda t: {"form_data": form_fields(
                                                      required="off", break_glass_email="")}),
    "SignInSettingsState.remove_sign_in_app": Spec(SignInSettingsState, Capability.TENANT_MANAGE, db=True,
                                                   prepare=lambda s, t: ensure_sso_configs()),
}


def handler_of(name: str) -> Any:
    state_name, handler_name = name.split(".")
    return getattr(SPECS[name].state, handler_name)


def target_for(world: World, kind: str | None, scope: str, actor: Actor | None = None) -> str | None:
    """An id of ``kind`` in the own tenant or the other one ("my-invitation": one to ``actor``, or to another)."""
    owner = world.owner_a if scope == "own" else world.owner_b
    marker = "" if scope == "own" else f"{OTHER}-"
    if kind == "connection":
        return new_connection(owner, marker)
    if kind == "run":
        return new_run(owner, marker)
    if kind == "member":
        return new_member(owner, marker)
    if kind == "tenant":
        return world.tenant_c if scope == "own" else world.tenant_b
    if kind == "invitation":
        return new_invitation(owner, marker)
    if kind == "my-invitation":
        if scope == "other":
            return new_invitation(owner, marker)
        inviter = make_actor("owner", f"tenant-d-{random_suffix()}")  # a fresh tenant: one invitation per call
        return new_invitation(inviter, email=(actor or world.owner_a).email)
    return None


def call_as(spec: Spec, handler: Any, actor: Actor | None, target: str | None) -> tuple[Any, Any, bool]:
    """Call the handler as ``actor``; returns (state, result, whether the database changed)."""
    state = state_for(spec.state, session_digest(actor) if actor else None, spec.path(target))
    spec.prepare(state, target)
    before = database_fingerprint()
    result = run(handler.fn(state, **spec.kwargs(target)))
    return state, result, database_fingerprint() != before
