"""Default, disable, delete and credential rotation, each audited without secret material."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlmodel import col, select

from atlas_services.connections import delete_connection, list_connections, set_default, set_enabled
from atlas_services.credential_input import CertificateInput, ClientSecretInput
from atlas_services.credential_rotation import rotate_credential
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound, ProviderError
from atlas_services.models import AuditEvent, ProviderCredential
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import get_run
from atlas_services.runs.start import start_operation
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import load_scenario
from tests.support.certificates import make_certificate
from tests.support.factories import create_connection, make_actor

CONTOSO = next(t for t in load_scenario().tenants if t.display_name == "Contoso")
APP = CONTOSO.apps[0]
GOOD_SECRET = APP.secrets[0].value


def _contoso(actor: Any, name: str = "Contoso", secret: str = GOOD_SECRET) -> Any:
    return create_connection(actor, name=name, entra_tenant_id=CONTOSO.id, client_id=APP.client_id, secret=secret)


def _audit() -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.at))).all())


def _credentials(connection_id: uuid.UUID) -> list[ProviderCredential]:
    with session_scope() as session:
        return list(session.exec(select(ProviderCredential).where(
            ProviderCredential.connection_id == connection_id).order_by(col(ProviderCredential.created_at))).all())


def test_set_default_disable_enable_and_delete_are_audited(db: None) -> None:
    owner = make_actor("owner")
    first, second = _contoso(owner), _contoso(owner, "Second")
    set_default(owner, second.id)
    assert {v.name: v.is_default for v in list_connections(owner)} == {"Contoso": False, "Second": True}
    set_enabled(owner, first.id, False)
    with pytest.raises(ProviderError) as caught:
        start_operation(owner, "health_check", first.id, enqueue=lambda run_id: None)
    assert caught.value.code == "connection.disabled"
    set_enabled(owner, first.id, True)
    delete_connection(owner, second.id)
    assert [v.name for v in list_connections(owner)] == ["Contoso"]
    assert _credentials(second.id) == []  # destroyed, not just hidden
    with pytest.raises(NotFound):
        set_default(owner, second.id)
    _contoso(owner, "Second")  # the name is free again
    actions = [event.action for event in _audit()]
    assert actions == ["connection.create", "connection.create", "connection.set_default", "connection.disable",
                       "connection.enable", "connection.delete", "connection.create"]
    assert GOOD_SECRET not in json.dumps([event.details for event in _audit()])


def test_another_tenants_connection_is_not_found_for_every_action(db: None) -> None:
    foreign = _contoso(make_actor("owner"))
    owner = make_actor("owner")
    for action in (lambda: set_default(owner, foreign.id), lambda: set_enabled(owner, foreign.id, False),
                   lambda: delete_connection(owner, foreign.id),
                   lambda: rotate_credential(owner, foreign.id, ClientSecretInput(SecretValue("x" * 20)),
                                             enqueue=lambda run_id: None)):
        with pytest.raises(NotFound):
            action()
    assert len(_credentials(foreign.id)) == 1


def test_rotation_to_a_working_secret_activates_it_and_retires_the_old_one(db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    connection = _contoso(owner)
    queued: list[uuid.UUID] = []
    started = rotate_credential(owner, connection.id, ClientSecretInput(SecretValue(f" {GOOD_SECRET} ")),
                                enqueue=queued.append)
    assert queued == [started.run_id] and started.notices  # the trimmed-whitespace notice
    old, new = _credentials(connection.id)
    assert (old.active, new.active) == (True, False)  # nothing changes until the check passes

    execute_run(started.run_id)

    assert get_run(owner, started.run_id).status == "succeeded"
    old, new = _credentials(connection.id)
    assert (old.active, old.retired_at is not None, new.active) == (False, True, True)
    assert [e.action for e in _audit()][-3:] == ["credential.rotate", "run.start", "credential.activate"]


def test_rotation_to_a_wrong_secret_keeps_the_old_credential(db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    connection = _contoso(owner)
    queued: list[uuid.UUID] = []
    started = rotate_credential(owner, connection.id, ClientSecretInput(SecretValue("wrong~secret~value-1234")),
                                enqueue=queued.append)
    execute_run(started.run_id)

    run = get_run(owner, started.run_id)
    assert (run.status, run.reason_code) == ("failed", "auth.invalid_client_secret")
    old, new = _credentials(connection.id)
    assert (old.active, new.active, new.retired_at is not None) == (True, False, True)
    assert list_connections(owner)[0].secret_hint == "…" + GOOD_SECRET[-4:]
    assert _audit()[-1].action == "credential.verification_failed"


def test_rotation_is_refused_while_another_operation_holds_the_scope(db: None) -> None:
    owner = make_actor("owner")
    connection = _contoso(owner)
    start_operation(owner, "health_check", connection.id, enqueue=lambda run_id: None)
    with pytest.raises(ProviderError) as caught:
        rotate_credential(owner, connection.id, ClientSecretInput(SecretValue("another~secret~value")),
                          enqueue=lambda run_id: None)
    assert caught.value.code == "run.scope_busy"
    old, new = _credentials(connection.id)
    assert old.active and not new.active and new.retired_at is not None


def test_bad_certificate_input_stores_nothing(db: None) -> None:
    owner = make_actor("owner")
    connection = _contoso(owner)
    with pytest.raises(InvalidInput):
        rotate_credential(owner, connection.id, CertificateInput(pem=SecretValue(make_certificate().certificate_pem)),
                          enqueue=lambda run_id: None)
    assert len(_credentials(connection.id)) == 1
