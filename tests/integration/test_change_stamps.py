"""A tenant's change stamp moves with every write a live page shows, in the writer's own transaction (database
triggers, migration 0008), and never with another tenant's writes or with a bare heartbeat."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from atlas_services import change_stamps
from atlas_services.authz import Actor
from atlas_services.connections import set_default, set_enabled
from atlas_services.credential_input import ClientSecretInput
from atlas_services.credential_rotation import rotate_credential
from atlas_services.db import session_scope
from atlas_services.gateway import _record_health
from atlas_services.inventory_store import RunObservationStore
from atlas_services.models import HealthStatus, OperationRun, RunStatus
from atlas_services.providers.base import InventoryRecord
from atlas_services.runs import lifecycle, start
from atlas_services.secrets import SecretValue
from tests.support.factories import create_connection, make_actor

pytestmark = pytest.mark.usefixtures("db")


def _stamp(actor: Actor) -> int:
    with session_scope() as session:
        return change_stamps.read_stamp(session, actor.tenant_id)


def _queued_run(owner: Actor, connection_id: uuid.UUID, op_type: str = "inventory_sync") -> uuid.UUID:
    return start.start_operation(owner, op_type, connection_id, enqueue=lambda _run_id: None).run_id


def _running(owner: Actor, connection_id: uuid.UUID) -> lifecycle.Claim:
    claim = lifecycle.claim(_queued_run(owner, connection_id))
    assert claim is not None
    return claim


def _store(owner: Actor, claim: lifecycle.Claim) -> RunObservationStore:
    return RunObservationStore(run_id=claim.run_id, lease=claim.lease, tenant_id=owner.tenant_id,
                               connection_id=claim.connection_id)


def _device(n: int) -> InventoryRecord:
    return InventoryRecord(external_id=f"device-{n}", display_name=f"Device {n}", item_type="Windows",
                           state="compliant", data={})


@pytest.fixture
def two_tenants() -> tuple[Actor, Actor, uuid.UUID]:
    owner, other = make_actor("owner"), make_actor("owner")
    create_connection(other)
    return owner, other, create_connection(owner).id


# Each write, given (owner, connection id), as the product makes it.
WRITES: dict[str, Callable[[Actor, uuid.UUID], Any]] = {
    "connection created": lambda owner, _c: create_connection(owner),
    "connection disabled": lambda owner, c: set_enabled(owner, c, False),
    "default moved": lambda owner, c: set_default(owner, create_connection(owner, make_default=False).id),
    "credential rotated": lambda owner, c: rotate_credential(
        owner, c, ClientSecretInput(SecretValue("a-new~secret-value-5678")), enqueue=lambda _run_id: None),
    "health written": lambda owner, c: _record_health(c, HealthStatus.HEALTHY, None, {"checked": True}),
    "run created": lambda owner, c: _queued_run(owner, c),
    "run claimed": lambda owner, c: lifecycle.claim(_queued_run(owner, c)),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_each_kind_of_write_moves_its_tenants_stamp_and_no_other(
        two_tenants: tuple[Actor, Actor, uuid.UUID], write: str) -> None:
    owner, other, connection_id = two_tenants
    before, other_before = _stamp(owner), _stamp(other)
    WRITES[write](owner, connection_id)
    assert _stamp(owner) > before
    assert _stamp(other) == other_before


def test_a_run_moves_the_stamp_at_each_step_a_page_shows_but_not_by_a_bare_heartbeat(
        two_tenants: tuple[Actor, Actor, uuid.UUID]) -> None:
    owner, other, connection_id = two_tenants
    other_before = _stamp(other)
    claim = _running(owner, connection_id)
    stamps = [_stamp(owner)]
    assert lifecycle.heartbeat(claim.run_id, claim.lease).alive
    assert _stamp(owner) == stamps[-1]  # alive, nothing shown changed
    lifecycle.heartbeat(claim.run_id, claim.lease, {"pages_fetched": 1, "items_stored": 999})
    stamps.append(_stamp(owner))
    lifecycle.heartbeat(claim.run_id, claim.lease, {"pages_fetched": 1, "items_stored": 999})
    assert _stamp(owner) == stamps[-1]  # the same progress again is no change
    _store(owner, claim).store_page("managed_device", [_device(n) for n in range(3)])
    stamps.append(_stamp(owner))
    _store(owner, claim).store_page("managed_device", [_device(0)])
    stamps.append(_stamp(owner))
    assert _store(owner, claim).mark_removed("managed_device") == 0
    stamps.append(_stamp(owner))  # nothing was removed, but the listing completed: the connection's last inventory
    _store(owner, claim).store_snapshot({"compliance": {"compliant": 2}})
    stamps.append(_stamp(owner))
    lifecycle.transition(claim.run_id, RunStatus.SUCCEEDED, lease=claim.lease, summary={"pages_fetched": 1})
    stamps.append(_stamp(owner))
    assert stamps == sorted(set(stamps)), stamps  # every step moved it forward
    assert _stamp(other) == other_before


def test_a_transaction_over_many_rows_moves_the_stamp_once(two_tenants: tuple[Actor, Actor, uuid.UUID]) -> None:
    owner, _other, connection_id = two_tenants
    claim = _running(owner, connection_id)
    before = _stamp(owner)
    _store(owner, claim).store_page("managed_device", [_device(n) for n in range(500)])
    assert _stamp(owner) == before + 1


def test_a_write_rolled_back_leaves_the_stamp_where_it_was(two_tenants: tuple[Actor, Actor, uuid.UUID]) -> None:
    owner, _other, connection_id = two_tenants
    claim = _running(owner, connection_id)
    before = _stamp(owner)
    with pytest.raises(RuntimeError), session_scope() as session:
        session.execute(update(OperationRun).where(col(OperationRun.id) == claim.run_id)
                        .values(progress={"pages_fetched": 7}))
        raise RuntimeError("the writer failed before commit")
    assert _stamp(owner) == before


def test_a_process_remembers_a_stamp_for_a_moment_only(two_tenants: tuple[Actor, Actor, uuid.UUID]) -> None:
    owner, _other, connection_id = two_tenants
    change_stamps.forget_stamps()
    assert change_stamps.recent_stamp(owner.tenant_id) is None
    first = change_stamps.current_stamp(owner.tenant_id)
    assert change_stamps.recent_stamp(owner.tenant_id) == first
    _queued_run(owner, connection_id)
    assert change_stamps.current_stamp(owner.tenant_id) == first  # remembered: not read again within the second
    assert change_stamps.current_stamp(owner.tenant_id, max_age=0) > first
