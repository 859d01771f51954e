"""Setting, clearing and reading schedules: provider.manage to change one, provider.view to see one.

Every check runs before anything is written: a bad cadence, an unknown operation, a disabled or deleted (or
another tenant's) connection each fail with a clear message and leave the database as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, SQLModel, col, select

from atlas_services import audit
from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.change_stamps import reading
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import ProviderConnection, Schedule, utcnow
from atlas_services.runs.types import OperationType, label
from atlas_services.schedules.policy import SCHEDULABLE, cadence_of
from atlas_services.schedules.timing import Cadence, make_cadence, next_slot, with_jitter


@dataclass(frozen=True)
class ScheduleView:
    id: uuid.UUID
    connection_id: uuid.UUID
    connection_name: str
    op_type: str
    op_label: str
    every_seconds: int | None
    daily_at: str | None
    time_zone: str
    jitter_seconds: int
    description: str
    next_due_at: datetime
    last_outcome: str | None
    last_run_id: uuid.UUID | None
    last_due_at: datetime | None
    consecutive_skips: int


def _view(schedule: Schedule, connection_name: str) -> ScheduleView:
    return ScheduleView(
        id=schedule.id, connection_id=schedule.connection_id, connection_name=connection_name,
        op_type=schedule.op_type, op_label=label(schedule.op_type), every_seconds=schedule.every_seconds,
        daily_at=schedule.daily_at, time_zone=schedule.time_zone, jitter_seconds=schedule.jitter_seconds,
        description=cadence_of(schedule).describe(), next_due_at=schedule.due_at,
        last_outcome=schedule.last_outcome, last_run_id=schedule.last_run_id, last_due_at=schedule.last_due_at,
        consecutive_skips=schedule.consecutive_skips)


def _op_type(value: object) -> OperationType:
    if not isinstance(value, str) or value not in set(OperationType):
        raise InvalidInput("operation", f"Unknown operation; choose one of: {', '.join(SCHEDULABLE)}")
    if value not in SCHEDULABLE:
        raise InvalidInput("operation", f"'{value}' cannot be scheduled; choose one of: {', '.join(SCHEDULABLE)}")
    return OperationType(value)


def _connection(session: Session, actor: Actor, connection_id: object, capability: Capability
                ) -> ProviderConnection:
    return load_for_actor(session, ProviderConnection, connection_id, actor, capability, what="connection")


@requires(Capability.PROVIDER_MANAGE)
def set_schedule(actor: Actor, connection_id: object, op_type: object, *, every: object = None,
                 daily: object = None, time_zone: object = None, jitter: object = None) -> ScheduleView:
    """Schedule ``op_type`` on a connection (replacing its schedule for that operation, if any).

    ``every`` ("6h") or ``daily`` ("02:00", in ``time_zone``), with a ``jitter`` window ("10m"). The schedule
    is first due at once, at a random moment within its jitter window (with no jitter: at once).
    """
    operation = _op_type(op_type)
    cadence = make_cadence(every=every, daily=daily, time_zone=time_zone, jitter=jitter)
    with session_scope() as session:
        connection = _connection(session, actor, connection_id, Capability.PROVIDER_MANAGE)
        if not connection.enabled:
            raise InvalidInput("connection_id", "The connection is disabled: enable it before scheduling its "
                                                "operations")
        schedule = _upsert(session, actor, connection, operation, cadence)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="schedule.set",
                     target_type="schedule", target_id=schedule.id,
                     details={"connection": connection.display_name, "connection_id": str(connection.id),
                              "op_type": operation.value, "schedule": cadence.describe(),
                              "every_seconds": cadence.every_seconds, "daily_at": cadence.daily_at,
                              "time_zone": cadence.time_zone, "jitter_seconds": cadence.jitter_seconds})
        return _view(schedule, connection.display_name)


def _upsert(session: Session, actor: Actor, connection: ProviderConnection, operation: OperationType,
            cadence: Cadence) -> Schedule:
    now = utcnow()
    slot = next_slot(cadence, None, now)
    values = {"every_seconds": cadence.every_seconds, "daily_at": cadence.daily_at, "time_zone": cadence.time_zone,
              "jitter_seconds": cadence.jitter_seconds, "slot_at": slot, "due_at": with_jitter(slot, cadence),
              "consecutive_skips": 0, "updated_at": now}
    table = SQLModel.metadata.tables[Schedule.__tablename__]
    statement = (insert(table)
                 .values(id=uuid.uuid4(), tenant_id=actor.tenant_id, connection_id=connection.id,
                         op_type=operation.value, created_by=actor.user_id, created_at=now, **values)
                 .on_conflict_do_update(index_elements=["connection_id", "op_type"], set_=values)
                 .returning(table.c.id))
    schedule_id = session.execute(statement).scalar_one()
    schedule = session.get(Schedule, schedule_id, populate_existing=True)
    assert schedule is not None
    return schedule


@requires(Capability.PROVIDER_MANAGE)
def clear_schedule(actor: Actor, connection_id: object, op_type: object) -> None:
    """Remove a connection's schedule for ``op_type``; NotFound when it has none."""
    operation = _op_type(op_type)
    with session_scope() as session:
        connection = _connection(session, actor, connection_id, Capability.PROVIDER_MANAGE)
        schedule = session.exec(select(Schedule).where(Schedule.connection_id == connection.id,
                                                       Schedule.op_type == operation.value)).first()
        if schedule is None:
            raise NotFound("schedule")
        session.delete(schedule)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="schedule.clear",
                     target_type="schedule", target_id=schedule.id,
                     details={"connection": connection.display_name, "connection_id": str(connection.id),
                              "op_type": operation.value})


@requires(Capability.PROVIDER_VIEW)
def list_schedules(actor: Actor, *, connection_id: object | None = None, session: Session | None = None
                   ) -> list[ScheduleView]:
    """The tenant's schedules (one connection's, when given), by connection name then operation."""
    query = (select(Schedule, ProviderConnection.display_name)
             .join(ProviderConnection, col(ProviderConnection.id) == col(Schedule.connection_id))
             .where(Schedule.tenant_id == actor.tenant_id, col(ProviderConnection.deleted_at).is_(None)))
    if connection_id is not None:
        try:
            key = connection_id if isinstance(connection_id, uuid.UUID) else uuid.UUID(str(connection_id))
        except ValueError:
            raise InvalidInput("connection_id", "Not a connection id") from None
        query = query.where(Schedule.connection_id == key)  # another tenant's: none, like a random id
    with reading(session) as reader:
        rows = reader.exec(query.order_by(col(ProviderConnection.display_name), col(Schedule.op_type))).all()
        return [_view(schedule, name) for schedule, name in rows]


@requires(Capability.PROVIDER_VIEW)
def connection_schedules(actor: Actor, connection_id: object, *, session: Session | None = None
                         ) -> list[ScheduleView]:
    """One connection's schedules (NotFound for a connection the actor cannot see)."""
    with reading(session) as reader:
        _connection(reader, actor, connection_id, Capability.PROVIDER_VIEW)
    return list_schedules(actor, connection_id=connection_id, session=session)
