"""Creating connections: validation, sealing, defaults, and tenant scoping."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_services.connections import create_connection, list_connections
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput
from atlas_services.models import AuditEvent, ProviderConnection, ProviderCredential
from atlas_services.secrets import SecretValue
from tests.support.factories import make_actor

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def _create(actor, **overrides):  # type: ignore[no-untyped-def]
    fields = {"name": "Contoso", "entra_tenant_id": TENANT, "client_id": CLIENT,
              "client_secret": SecretValue("s3cret-value-abcd"), "cloud": "simulator"}
    fields.update(overrides)
    return create_connection(actor, **fields)


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (session.exec(select(func.count()).select_from(ProviderConnection)).one(),
                session.exec(select(func.count()).select_from(ProviderCredential)).one())


def test_create_seals_the_secret_and_keeps_only_a_hint(db: None) -> None:
    actor = make_actor("manager")
    view = _create(actor)
    assert view.is_default and view.secret_hint == "…abcd"
    with session_scope() as session:
        credential = session.exec(select(ProviderCredential)).one()
        audit = session.exec(select(AuditEvent)).one()
    assert b"s3cret-value-abcd" not in credential.ciphertext
    assert credential.key_id and len(credential.nonce) == 12
    assert audit.action == "connection.create" and "s3cret" not in str(audit.details)


def test_first_connection_is_default_and_an_explicit_default_moves_it(db: None) -> None:
    actor = make_actor("owner")
    first = _create(actor)
    second = _create(actor, name="Second")
    third = _create(actor, name="Third", make_default=True)
    defaults = {view.name: view.is_default for view in list_connections(actor)}
    assert defaults == {first.name: False, second.name: False, third.name: True}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"entra_tenant_id": "contoso.onmicrosoft.com"}, "entra_tenant_id"),
    ({"entra_tenant_id": ""}, "entra_tenant_id"),
    ({"client_id": "not-a-guid"}, "client_id"),
    ({"client_secret": SecretValue("")}, "client_secret"),
    ({"client_secret": SecretValue(" \t\n ")}, "client_secret"),
    ({"client_secret": "plain string"}, "client_secret"),
    ({"name": "   "}, "name"),
    ({"cloud": "mars"}, "cloud"),
])
def test_bad_input_is_refused_and_writes_nothing(db: None, overrides: dict[str, object], field: str) -> None:
    actor = make_actor("owner")
    with pytest.raises(InvalidInput) as caught:
        _create(actor, **overrides)
    assert caught.value.field == field
    assert _counts() == (0, 0)


def test_duplicate_name_in_the_same_tenant_is_refused_but_allowed_in_another(db: None) -> None:
    actor = make_actor("owner")
    _create(actor)
    with pytest.raises(InvalidInput, match="already exists"):
        _create(actor, name=" Contoso ")
    assert _counts() == (1, 1)
    _create(make_actor("owner"))
    assert _counts() == (2, 2)


def test_operators_cannot_create_and_lists_are_tenant_scoped(db: None) -> None:
    owner = make_actor("owner")
    _create(owner)
    with pytest.raises(Forbidden):
        _create(make_actor("operator", tenant_name=owner.tenant_name), name="Other")
    assert [view.name for view in list_connections(make_actor("readonly", tenant_name=owner.tenant_name))] == [
        "Contoso"]
    assert list_connections(make_actor("owner")) == []
