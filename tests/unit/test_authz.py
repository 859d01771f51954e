"""The role table and capability checks."""

from __future__ import annotations

import uuid

import pytest

from atlas_services.authz import ROLE_CAPABILITIES, Actor, Capability, can, requires
from atlas_services.errors import Forbidden
from atlas_services.models import Role


def _actor(role: str) -> Actor:
    return Actor(user_id=uuid.uuid4(), email="a@b.test", tenant_id=uuid.uuid4(), tenant_name="t", role=role)


def test_role_table_matches_the_design() -> None:
    table = {role.value: sorted(c.value for c in caps) for role, caps in ROLE_CAPABILITIES.items()}
    assert table == {
        "owner": ["audit.view", "provider.manage", "provider.run", "provider.view", "tenant.manage"],
        "manager": ["audit.view", "provider.manage", "provider.run", "provider.view"],
        "operator": ["provider.run", "provider.view"],
        "readonly": ["audit.view", "provider.view"],
    }


def test_every_role_has_an_entry_and_unknown_roles_can_do_nothing() -> None:
    assert set(ROLE_CAPABILITIES) == set(Role)
    assert not any(can(_actor("superuser"), capability) for capability in Capability)


def test_requires_enforces_and_declares_the_capability() -> None:
    @requires(Capability.PROVIDER_RUN)
    def start(actor: Actor) -> str:
        return "started"

    assert start(_actor("operator")) == "started"
    with pytest.raises(Forbidden):
        start(_actor("readonly"))
    with pytest.raises(TypeError):
        start("not an actor")  # type: ignore[arg-type]
    assert start.__atlas_capability__ == Capability.PROVIDER_RUN  # type: ignore[attr-defined]
