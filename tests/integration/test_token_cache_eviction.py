"""The worker's MSAL apps hold a credential's secret and its tokens: they are kept per stored credential, and a
credential that is rotated out, fails its verification, or whose connection is deleted leaves nothing behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from atlas_services.connections import delete_connection
from atlas_services.credential_input import ClientSecretInput
from atlas_services.credential_rotation import rotate_credential
from atlas_services.db import session_scope
from atlas_services.graph import tokens
from atlas_services.models import ProviderCredential
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import get_run
from atlas_services.runs.start import start_operation
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import load_scenario
from tests.support.factories import create_connection, make_actor

CONTOSO = next(t for t in load_scenario().tenants if t.display_name == "Contoso")
APP = CONTOSO.apps[0]
GOOD_SECRET = APP.secrets[0].value


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    tokens.clear_token_cache()
    yield
    tokens.clear_token_cache()


def _active(connection_id: uuid.UUID) -> uuid.UUID:
    with session_scope() as session:
        return session.exec(select(ProviderCredential.id).where(
            ProviderCredential.connection_id == connection_id, ProviderCredential.active == True)).one()  # noqa: E712


def _check(actor: Any, connection_id: uuid.UUID) -> str:
    started = start_operation(actor, "health_check", connection_id, enqueue=lambda run_id: None)
    execute_run(started.run_id)
    return get_run(actor, started.run_id).status


def test_a_rotated_out_credential_leaves_no_msal_app_in_the_worker(db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso", entra_tenant_id=CONTOSO.id, client_id=APP.client_id,
                                   secret=GOOD_SECRET)
    old = _active(connection.id)
    assert _check(owner, connection.id) == "succeeded"
    assert tokens.cached_credentials() == {old}

    # The same secret value again: the new credential must earn its own token, not reuse the old one's app.
    started = rotate_credential(owner, connection.id, ClientSecretInput(SecretValue(GOOD_SECRET)),
                                enqueue=lambda run_id: None)
    execute_run(started.run_id)
    assert get_run(owner, started.run_id).status == "succeeded"
    assert tokens.cached_credentials() == {started.credential_id}  # the retired one's app is gone

    failed = rotate_credential(owner, connection.id, ClientSecretInput(SecretValue("wrong~secret~value-1234")),
                               enqueue=lambda run_id: None)
    execute_run(failed.run_id)
    assert failed.credential_id not in tokens.cached_credentials()


def test_a_deleted_connections_credentials_cannot_be_used_from_the_cache(db: None, simulator: Any) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso", entra_tenant_id=CONTOSO.id, client_id=APP.client_id,
                                   secret=GOOD_SECRET)
    assert _check(owner, connection.id) == "succeeded"
    queued = start_operation(owner, "inventory_sync", connection.id, enqueue=lambda run_id: None)
    delete_connection(owner, connection.id)  # in the web tier, while the worker still holds the app

    execute_run(queued.run_id)

    assert get_run(owner, queued.run_id).reason_code == "credential.unavailable"
    assert tokens.cached_credentials() == set()
