"""Each suite tenant's default schedules, which its new connections inherit in the transaction that creates them.

Out of the box (no ``schedule_policies`` row): a health check every 6 h, an inventory sync daily and a compliance
snapshot daily, each with a jitter window so a fleet's connections spread out. The daily slots are apart, so one
connection's sync and snapshot do not meet on its scope (the start gate would skip the later one).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, SQLModel, select

from atlas_services.models import Schedule, SchedulePolicy
from atlas_services.runs.types import AVAILABLE, OperationType
from atlas_services.schedules.timing import Cadence, next_slot, with_jitter

# The operations a schedule may start: the ones a worker can run.
SCHEDULABLE: tuple[OperationType, ...] = AVAILABLE

BUILT_IN: Mapping[OperationType, Cadence] = MappingProxyType({
    OperationType.HEALTH_CHECK: Cadence(every_seconds=6 * 3600, jitter_seconds=30 * 60),
    OperationType.INVENTORY_SYNC: Cadence(daily_at="01:00", jitter_seconds=2 * 3600),
    OperationType.COMPLIANCE_SNAPSHOT: Cadence(daily_at="04:00", jitter_seconds=2 * 3600),
})


def cadence_of(row: Schedule | SchedulePolicy) -> Cadence:
    return Cadence(every_seconds=row.every_seconds, daily_at=row.daily_at, time_zone=row.time_zone,
                   jitter_seconds=row.jitter_seconds)


def tenant_policy(session: Session, tenant_id: uuid.UUID) -> dict[OperationType, Cadence]:
    """What a new connection of the tenant inherits: the tenant's own rows over the built-in defaults."""
    policy = dict(BUILT_IN)
    for row in session.exec(select(SchedulePolicy).where(SchedulePolicy.tenant_id == tenant_id)).all():
        if row.op_type not in SCHEDULABLE:
            continue
        if row.enabled:
            policy[OperationType(row.op_type)] = cadence_of(row)
        else:
            policy.pop(OperationType(row.op_type), None)
    return policy


def inherit(session: Session, *, tenant_id: uuid.UUID, connection_id: uuid.UUID, created_by: uuid.UUID | None,
            now: datetime) -> None:
    """Give a new connection the tenant's default schedules, each first due at once (within its jitter)."""
    rows = []
    for op_type, cadence in tenant_policy(session, tenant_id).items():
        slot = next_slot(cadence, None, now)
        rows.append({"id": uuid.uuid4(), "tenant_id": tenant_id, "connection_id": connection_id,
                     "op_type": op_type.value, "every_seconds": cadence.every_seconds, "daily_at": cadence.daily_at,
                     "time_zone": cadence.time_zone, "jitter_seconds": cadence.jitter_seconds, "slot_at": slot,
                     "due_at": with_jitter(slot, cadence), "consecutive_skips": 0, "created_by": created_by,
                     "created_at": now, "updated_at": now})
    if rows:
        table = SQLModel.metadata.tables[Schedule.__tablename__]
        session.execute(insert(table).values(rows).on_conflict_do_nothing(
            index_elements=["connection_id", "op_type"]))
