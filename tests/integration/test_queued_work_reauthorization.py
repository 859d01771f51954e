"""Queued work re-authorizes when the worker picks it up: activating a credential is a provider.manage act, and a
disabled user's runs never go ahead."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from atlas_services.credential_input import ClientSecretInput
from atlas_services.credential_rotation import rotate_credential
from atlas_services.db import session_scope
from atlas_services.models import Membership, ProviderCredential, User
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import get_run
from atlas_services.runs.start import start_operation
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import load_scenario
from tests.support.factories import create_connection, make_actor

CONTOSO = next(t for t in load_scenario().tenants if t.display_name == "Contoso")
APP = CONTOSO.apps[0]
GOOD_SECRET = APP.secrets[0].value


def _contoso(actor: Any) -> Any:
    return create_connection(actor, name="Contoso", entra_tenant_id=CONTOSO.id, client_id=APP.client_id,
                             secret=GOOD_SECRET)


def _credentials(connection_id: uuid.UUID) -> list[ProviderCredential]:
    with session_scope() as session:
        return list(session.exec(select(ProviderCredential).where(
            ProviderCredential.connection_id == connection_id).order_by(col(ProviderCredential.created_at))).all())


def test_a_demoted_manager_cannot_activate_a_credential_through_a_queued_verification(
        db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    manager = make_actor("manager", tenant_name=owner.tenant_name)
    connection = _contoso(owner)
    started = rotate_credential(manager, connection.id, ClientSecretInput(SecretValue(GOOD_SECRET)),
                                enqueue=lambda run_id: None)
    with session_scope() as session:  # demoted while the verification waits in the queue
        session.execute(update(Membership).where(
            col(Membership.user_id) == manager.user_id, col(Membership.tenant_id) == manager.tenant_id).values(
            role="operator"))

    execute_run(started.run_id)

    run = get_run(owner, started.run_id)
    assert (run.status, run.reason_code) == ("failed", "run.not_authorized")
    old, new = _credentials(connection.id)
    assert (old.active, old.retired_at, new.active) == (True, None, False)
    assert new.retired_at is not None  # never verified: retired unused, like a failed verification


def test_a_disabled_users_queued_health_check_does_not_run(db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    operator = make_actor("operator", tenant_name=owner.tenant_name)
    connection = _contoso(owner)
    started = start_operation(operator, "health_check", connection.id, enqueue=lambda run_id: None)
    with session_scope() as session:
        session.execute(update(User).where(col(User.id) == operator.user_id).values(disabled=True))

    execute_run(started.run_id)

    run = get_run(owner, started.run_id)
    assert (run.status, run.reason_code) == ("failed", "run.not_authorized")
    assert _credentials(connection.id)[0].active

