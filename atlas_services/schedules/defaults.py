"""A suite tenant's default schedules (what its new connections inherit): read with provider.view, changed with
provider.manage. Changing them changes no existing connection's schedules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, select

from atlas_services import audit
from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput
from atlas_services.models import SchedulePolicy, utcnow
from atlas_services.runs.types import OperationType, label
from atlas_services.schedules.policy import BUILT_IN, SCHEDULABLE, tenant_policy
from atlas_services.schedules.timing import Cadence, make_cadence


@dataclass(frozen=True)
class DefaultView:
    op_type: str
    op_label: str
    source: str  # built-in | tenant
    description: str  # "every 6h, jitter 30m", or "no schedule"


def _op_type(value: object) -> OperationType:
    if not isinstance(value, str) or value not in SCHEDULABLE:
        raise InvalidInput("operation", f"Choose one of: {', '.join(SCHEDULABLE)}")
    return OperationType(value)


@requires(Capability.PROVIDER_VIEW)
def list_defaults(actor: Actor) -> list[DefaultView]:
    """What a new connection of the tenant gets, per operation, and whether the tenant or Atlas chose it."""
    with session_scope() as session:
        policy = tenant_policy(session, actor.tenant_id)
        own = set(session.exec(select(SchedulePolicy.op_type).where(SchedulePolicy.tenant_id == actor.tenant_id)))
    return [DefaultView(op.value, label(op), "tenant" if op.value in own else "built-in",
                        policy[op].describe() if op in policy else "no schedule") for op in SCHEDULABLE]


@requires(Capability.PROVIDER_MANAGE)
def set_default(actor: Actor, op_type: object, *, every: object = None, daily: object = None,
                time_zone: object = None, jitter: object = None, off: bool = False) -> DefaultView:
    """Set the tenant's default for ``op_type`` (``off``: new connections get no schedule for it)."""
    operation = _op_type(op_type)
    if off and (every is not None or daily is not None or jitter is not None or time_zone is not None):
        raise InvalidInput("off", "Give either --off or a schedule, not both")
    cadence = None if off else make_cadence(every=every, daily=daily, time_zone=time_zone, jitter=jitter)
    values = {"enabled": cadence is not None, "updated_by": actor.user_id, "updated_at": utcnow(),
              **_cadence_values(cadence)}
    table = SQLModel.metadata.tables[SchedulePolicy.__tablename__]
    with session_scope() as session:
        session.execute(insert(table).values(tenant_id=actor.tenant_id, op_type=operation.value, **values)
                        .on_conflict_do_update(index_elements=["tenant_id", "op_type"], set_=values))
        description = cadence.describe() if cadence else "no schedule"
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="schedule.default_set",
                     target_type="schedule_policy", target_id=operation.value,
                     details={"op_type": operation.value, "schedule": description})
    return DefaultView(operation.value, label(operation), "tenant", description)


@requires(Capability.PROVIDER_MANAGE)
def reset_default(actor: Actor, op_type: object) -> DefaultView:
    """Back to the built-in default for ``op_type``."""
    operation = _op_type(op_type)
    with session_scope() as session:
        row = session.get(SchedulePolicy, (actor.tenant_id, operation.value))
        if row is not None:
            session.delete(row)
            audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                         action="schedule.default_reset", target_type="schedule_policy", target_id=operation.value,
                         details={"op_type": operation.value})
    built_in = BUILT_IN.get(operation)
    return DefaultView(operation.value, label(operation), "built-in",
                       built_in.describe() if built_in else "no schedule")


def _cadence_values(cadence: Cadence | None) -> dict[str, object]:
    if cadence is None:
        return {"every_seconds": None, "daily_at": None, "time_zone": "UTC", "jitter_seconds": 0}
    return {"every_seconds": cadence.every_seconds, "daily_at": cadence.daily_at, "time_zone": cadence.time_zone,
            "jitter_seconds": cadence.jitter_seconds}
