"""The one tenant-isolation rule, for both of its loaders: the entity (load_for_actor) and the fields of a hot path
(load_fields_for_actor). Another tenant's, a deleted, a missing and a malformed id read alike; a visible row the
actor may not act on is Forbidden."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from atlas_services.authz import Actor, Capability, load_fields_for_actor, load_for_actor
from atlas_services.connections import delete_connection
from atlas_services.db import connection_scope, session_scope
from atlas_services.errors import Forbidden, NotFound
from atlas_services.models import ProviderConnection
from tests.support.factories import create_connection, make_actor

Loader = Callable[[Actor, object, Capability], Any]


def _entity(actor: Actor, object_id: object, capability: Capability) -> Any:
    with session_scope() as session:
        return load_for_actor(session, ProviderConnection, object_id, actor, capability, what="connection")


def _fields(actor: Actor, object_id: object, capability: Capability) -> Any:
    with session_scope() as session:
        return load_fields_for_actor(session, ProviderConnection, ("id", "display_name"), object_id, actor,
                                     capability, what="connection")


def _fields_on_a_core_connection(actor: Actor, object_id: object, capability: Capability) -> Any:
    with connection_scope() as db:
        return load_fields_for_actor(db, ProviderConnection, ("id", "display_name"), object_id, actor, capability,
                                     what="connection")


@pytest.fixture(params=[_entity, _fields, _fields_on_a_core_connection], ids=["entity", "fields", "fields-core"])
def load(request: pytest.FixtureRequest) -> Loader:
    return request.param  # type: ignore[no-any-return]


def test_the_actor_loads_its_own_tenants_row(db: None, load: Loader) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso")
    row = load(owner, str(connection.id), Capability.PROVIDER_RUN)
    assert (row.id, row.display_name) == (connection.id, "Contoso")


def test_foreign_deleted_missing_and_malformed_ids_are_the_same_not_found(db: None, load: Loader) -> None:
    owner = make_actor("owner")
    foreign = create_connection(make_actor("owner"))
    deleted = create_connection(owner)
    delete_connection(owner, deleted.id)
    messages = set()
    for object_id in (foreign.id, deleted.id, uuid.uuid4(), "not-a-uuid", None):
        with pytest.raises(NotFound) as caught:
            load(owner, object_id, Capability.PROVIDER_VIEW)
        messages.add(str(caught.value))
    assert messages == {"connection not found"}


def test_a_visible_row_without_the_capability_is_forbidden(db: None, load: Loader) -> None:
    owner = make_actor("owner")
    readonly = make_actor("readonly", tenant_name=owner.tenant_name)
    connection = create_connection(owner)
    assert load(readonly, connection.id, Capability.PROVIDER_VIEW).id == connection.id
    with pytest.raises(Forbidden):
        load(readonly, connection.id, Capability.PROVIDER_RUN)
