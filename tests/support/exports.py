"""A world for the export tests: two suite tenants with a member of every role, a connection each, finished runs,
audit events and inventory items; every row names its tenant, so a test can see whose rows an export holds.

A canary secret is planted where a careless export would find it: the connection's client secret (sealed), a
run's raw summary and progress, and an inventory item's raw Graph data. None of those is an exported column.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.models import AuditEvent, InventoryItem, OperationRun, Role, utcnow
from tests.support.factories import create_connection, make_actor

CANARY = f"CANARY~{uuid.uuid4().hex}"
KINDS = ("managed_device", "mobile_app")


@dataclass
class TenantWorld:
    name: str
    actors: dict[str, Actor]
    connection_id: str
    run_ids: list[str] = field(default_factory=list)
    item_names: list[str] = field(default_factory=list)


def seed_tenant(label: str, *, runs: int = 6, items: int = 5, events: int = 4) -> TenantWorld:
    """A tenant whose every run, item and event carries ``label`` (in a message, a name, an action)."""
    owner = make_actor("owner", tenant_name=f"{label}-{uuid.uuid4().hex[:6]}")
    actors = {Role.OWNER.value: owner}
    for role in Role:
        if role != Role.OWNER:
            actors[role.value] = make_actor(role.value, tenant_name=owner.tenant_name)
    connection = create_connection(owner, name=f"{label} connection", secret=CANARY)
    world = TenantWorld(owner.tenant_name, actors, str(connection.id))
    start = utcnow() - timedelta(days=1)
    statuses = ("succeeded", "failed", "partially_succeeded")
    ops = ("health_check", "inventory_sync")
    with session_scope() as session:
        for n in range(runs):
            run = OperationRun(tenant_id=owner.tenant_id, connection_id=connection.id, scope_key=f"{label}:{n}",
                               op_type=ops[n % 2], status=statuses[n % 3], started_by=owner.user_id,
                               message=f"{label} run {n}", summary={"leak": CANARY}, progress={"leak": CANARY},
                               created_at=start + timedelta(minutes=n),
                               finished_at=start + timedelta(minutes=n, seconds=5))
            session.add(run)
            world.run_ids.append(str(run.id))
        for n in range(items):
            name = f"{label} item {n:03d}"
            session.add(InventoryItem(tenant_id=owner.tenant_id, connection_id=connection.id,
                                      kind=KINDS[n % 2], external_id=f"{label}-{n}", display_name=name,
                                      data={"leak": CANARY}))
            world.item_names.append(name)
        for n in range(events):
            session.add(AuditEvent(tenant_id=owner.tenant_id, actor_user_id=owner.user_id,
                                   action=f"{label}.event", target_type="thing", target_id=str(n),
                                   at=start + timedelta(minutes=n), details={"n": n}))
    return world


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def ndjson_rows(body: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line]


def parse(fmt: str, body: str) -> list[dict[str, Any]]:
    return csv_rows(body) if fmt == "csv" else ndjson_rows(body)
